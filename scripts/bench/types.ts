/** One measured figure of a benchmark, as every scripts/bench/*.ts `run` returns them. */
export interface BenchResult {
  name: string;
  unit: string;
  value: number;
  /** The same figure for the thing this improves on, measured in the same run where possible. */
  baseline?: { name: string; value: number };
  note?: string;
}
