/**
 * The one duration syntax of modgate, for policy files, the API and the CLI: `500ms`, `45s`, `90m`, `12h`,
 * `30d`, `2w` (decimals allowed: `1.5h`; a space before the unit too), or a bare number of seconds. Units
 * are lowercase on purpose: in other tools `M` means months (systemd), so `1M` is refused rather than read
 * as a minute. `permanent` (or `forever`, any case) is a separate answer, for suspensions.
 */

const UNITS_MS: Readonly<Record<string, number>> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};
const TEXT = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?$/;

export const PERMANENT = 'permanent';
export const DURATION_HINT = 'a duration such as 30d, 12h, 90m, 45s, 500ms, or a number of seconds';

/**
 * Milliseconds (a positive whole number), PERMANENT for `permanent`/`forever`, or null for anything else:
 * garbage, zero, negatives, less than a millisecond, or more than Number can count exactly.
 */
export function parseDuration(value: string | number): number | typeof PERMANENT | null {
  if (typeof value === 'number') return positiveMs(value * 1000);
  const text = value.trim();
  if (/^(permanent|forever)$/i.test(text)) return PERMANENT;
  const m = TEXT.exec(text);
  if (m === null) return null;
  return positiveMs(Number(m[1]) * (UNITS_MS[m[2] ?? 's'] ?? NaN));
}

/** A positive duration in milliseconds, or null (`permanent` included: it has no length). */
export function parseDurationMs(value: string | number): number | null {
  const d = parseDuration(value);
  return d === PERMANENT ? null : d;
}

function positiveMs(ms: number): number | null {
  const rounded = Math.round(ms);
  return Number.isSafeInteger(rounded) && rounded > 0 ? rounded : null;
}

/** Renders milliseconds back in the largest whole unit, for reasons and docs (`2592000000` → `30d`). */
export function formatDurationMs(ms: number): string {
  for (const unit of ['w', 'd', 'h', 'm', 's'] as const) {
    const size = UNITS_MS[unit] ?? 1;
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  }
  return ms >= 1000 ? `${(ms / 1000).toFixed(1)}s` : `${ms}ms`;
}
