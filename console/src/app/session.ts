import { ApiError, HttpClient } from '../api/client.ts';
import type { Role } from '../api/types.ts';

/**
 * The signed-in admin: the bearer token lives in sessionStorage (gone when the tab closes; never in a URL,
 * never in localStorage where every later visitor of the machine would find it).
 */
export interface Session {
  token: string;
  role: Role;
  signedInAt: string;
}

const KEY = 'modgate.console.session';

export function loadSession(): Session | null {
  try {
    const raw = sessionStorage.getItem(KEY);
    if (!raw) return null;
    const s = JSON.parse(raw) as Partial<Session>;
    if (typeof s.token !== 'string' || (s.role !== 'moderator' && s.role !== 'operator')) return null;
    return { token: s.token, role: s.role, signedInAt: String(s.signedInAt ?? '') };
  } catch {
    return null;
  }
}

export function saveSession(s: Session): void {
  sessionStorage.setItem(KEY, JSON.stringify(s));
}

export function clearSession(): void {
  sessionStorage.removeItem(KEY);
}

/**
 * Checks a token and finds its role. Today's API has no "who am I" endpoint (docs/console-api.md), so the
 * role is probed: any moderator route answers 401 for a bad token, and an operator-only read
 * (GET /api/v1/policy/versions, no side effects) answers 403 for a moderator.
 */
export async function signIn(token: string): Promise<Session> {
  const http = new HttpClient(() => token);
  await http.get('/api/v1/streams');
  let role: Role = 'operator';
  try {
    await http.get('/api/v1/policy/versions');
  } catch (err) {
    if (err instanceof ApiError && err.status === 403) role = 'moderator';
    else throw err;
  }
  return { token, role, signedInAt: new Date().toISOString() };
}
