/** Times and durations as people read them in a queue: "4 min", "2 h 10 min", "3 d". */

export function durationText(ms: number): string {
  if (!Number.isFinite(ms)) return '—';
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min`;
  const h = Math.floor(m / 60);
  if (h < 48) return m % 60 ? `${h} h ${m % 60} min` : `${h} h`;
  return `${Math.floor(h / 24)} d`;
}

/** A measured latency: "180 ms", "2.4 s", then as a duration ("4 min"); "—" when there is none. */
export function latencyText(ms: number | null): string {
  if (ms === null || !Number.isFinite(ms)) return '—';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 10_000) return `${(ms / 1000).toFixed(1)} s`;
  return durationText(ms);
}

/** Uptime as a clock: 1:04:09. */
export function clockText(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  return `${h}:${String(m).padStart(2, '0')}:${String(sec).padStart(2, '0')}`;
}

export function ago(iso: string | number, now = Date.now()): string {
  const t = typeof iso === 'number' ? iso : Date.parse(iso);
  const d = now - t;
  if (d < 0) return `in ${durationText(-d)}`;
  if (d < 10_000) return 'just now';
  return `${durationText(d)} ago`;
}

const dateTime = new Intl.DateTimeFormat(undefined, { year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
const timeOnly = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' });

export function dateTimeText(iso: string | number | null): string {
  if (iso === null) return '—';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? '—' : dateTime.format(d);
}

export function timeText(iso: string | number): string {
  return timeOnly.format(new Date(iso));
}

/** A value for <input type="datetime-local"> in local time. */
export function toLocalInput(ms: number): string {
  const d = new Date(ms - new Date(ms).getTimezoneOffset() * 60_000);
  return d.toISOString().slice(0, 16);
}

export function fromLocalInput(v: string): number | null {
  const ms = new Date(v).getTime();
  return Number.isNaN(ms) ? null : ms;
}

/** "policy:tve-known-content" → "rule tve-known-content"; "token:alice" → "alice". */
export function actorText(actor: string | null): string {
  if (!actor) return '—';
  if (actor.startsWith('policy:')) return `rule ${actor.slice(7)}`;
  if (actor.startsWith('token:')) return actor.slice(6);
  return actor;
}

export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}
