import { readFileSync } from 'node:fs';
import os from 'node:os';

/** Small measuring tools every benchmark uses: one copy, so a percentile means the same in every row. */

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export const round = (x: number, digits = 0): number => Math.round(x * 10 ** digits) / 10 ** digits;

/** A seeded 32-bit xorshift generator: the same pseudo-random hashes in every run. */
export function xorshift(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return s >>> 0;
  };
}

/** CPU time of this process (user + system), in ms: wall time means little on a shared machine. */
export function cpuMs(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
}

export const median = (xs: readonly number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** The 1/5/15-minute load averages, printed beside every figure: this machine is shared. */
export const load = (): string =>
  os
    .loadavg()
    .map((l) => l.toFixed(1))
    .join(' / ');

/** Nearest-rank percentile (the value at rank ⌈p·n⌉); NaN for no values. */
export function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

/** utime + stime of a process in clock ticks (USER_HZ = 100 on Linux), or null once it has gone. */
export function cpuTicks(pid: number | null | undefined): number | null {
  if (!pid) return null;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the ")" of the comm field; utime and stime are fields 14 and 15 overall.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(rest[11]) + Number(rest[12]);
  } catch {
    return null;
  }
}

export const CLK_TCK = 100;

export function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m?.[1] ? Number(m[1]) / 1024 : NaN;
}

/** Polls `fn` every 50 ms; false once `timeoutMs` passed without it holding (a bench records the miss). */
export async function waitUntil(fn: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!fn()) {
    if (Date.now() > deadline) return false;
    await sleep(50);
  }
  return true;
}

/** A progress line on stderr, tagged with the bench's name (stdout carries the results). */
export const progressFor =
  (name: string) =>
  (msg: string): void =>
    void process.stderr.write(`[${name} bench] ${msg}\n`);
