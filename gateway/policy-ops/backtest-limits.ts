/**
 * The backtest's request limits and time parsing, apart from the backtest itself: the CLI declares its
 * options (help text, argument parsers) with these without loading the policy engine or the database.
 */

export interface BacktestLimits {
  /** Longest range (until − since). */
  maxRangeMs: number;
  /** Most streams (with a stored signal in the range). */
  maxStreams: number;
  /** Most stored signals replayed (all signals of those streams up to `until`). */
  maxSignals: number;
}

export const DEFAULT_BACKTEST_LIMITS: BacktestLimits = { maxRangeMs: 31 * 86_400_000, maxStreams: 2_000, maxSignals: 200_000 };

/** ISO 8601 text or epoch milliseconds (number, or digits as text) → epoch ms. */
export function parseTime(value: string | number): number | null {
  if (typeof value === 'number') return Number.isFinite(value) && Number.isInteger(value) && value >= 0 ? value : null;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text);
  // Only date-like text: Date.parse accepts odd forms ("1", "March 7") that would surprise an operator.
  if (!/^\d{4}-\d{2}-\d{2}/.test(text)) return null;
  const ms = Date.parse(text);
  return Number.isFinite(ms) && ms >= 0 ? ms : null;
}
