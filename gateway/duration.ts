import { DURATION_HINT, parseDuration, PERMANENT } from '../policy/duration.ts';
import { DomainError } from './errors.ts';

/**
 * A duration typed by an operator (e.g. `modgate account suspend --duration 30d`) in whole seconds, or
 * null for `permanent`. The syntax is policy/duration.ts's, the same as in policy files.
 */
export function parseDurationSeconds(text: string): number | null {
  const d = parseDuration(text);
  if (d === null) throw new DomainError('invalid', `'${text}' is not ${DURATION_HINT}, or permanent`);
  if (d === PERMANENT) return null;
  const seconds = Math.round(d / 1000);
  if (seconds === 0) throw new DomainError('invalid', `'${text}' is shorter than a second`);
  return seconds;
}
