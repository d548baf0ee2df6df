import { HttpClient } from '../api/client.ts';
import type { Role } from '../api/types.ts';

/**
 * The signed-in admin: the bearer token lives in sessionStorage (gone when the tab closes; never in a URL,
 * never in localStorage where every later visitor of the machine would find it).
 */
export interface Session {
  token: string;
  role: Role;
  /** The token's name (GET /api/v1/whoami). */
  name?: string;
  signedInAt: string;
}

const KEY = 'modgate.console.session';

export function loadSession(): Session | null {
  try {
    const raw = sessionStorage.getItem(KEY);
    if (!raw) return null;
    const s = JSON.parse(raw) as Partial<Session>;
    if (typeof s.token !== 'string' || (s.role !== 'moderator' && s.role !== 'operator')) return null;
    return { token: s.token, role: s.role, ...(typeof s.name === 'string' ? { name: s.name } : {}), signedInAt: String(s.signedInAt ?? '') };
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

/** Checks a token and finds its name and role (GET /api/v1/whoami answers 401 for a bad or revoked token). */
export async function signIn(token: string): Promise<Session> {
  const http = new HttpClient(() => token);
  const me = await http.get<{ name: string; role: Role }>('/api/v1/whoami');
  return { token, role: me.role, name: me.name, signedInAt: new Date().toISOString() };
}
