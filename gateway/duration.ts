/** Parses `30d`, `12h`, `15m`, `90s` or a bare number of seconds into seconds; null for `permanent`. */
export function parseDurationSeconds(text: string): number | null {
  const t = text.trim().toLowerCase();
  if (t === 'permanent' || t === 'forever') return null;
  const m = /^(\d+(?:\.\d+)?)\s*([smhdw]?)$/.exec(t);
  if (!m) throw new Error(`'${text}' is not a duration (e.g. 30d, 12h, 15m, 90s, or permanent)`);
  const unit = { '': 1, s: 1, m: 60, h: 3600, d: 86400, w: 604800 }[m[2] as '' | 's' | 'm' | 'h' | 'd' | 'w'];
  const seconds = Math.round(Number(m[1]) * unit);
  if (seconds <= 0) throw new Error(`'${text}' is not a positive duration`);
  return seconds;
}
