import type { FastifyRequest } from 'fastify';
import type { Kysely } from 'kysely';
import { authenticateToken, roleAllows } from '../admin/tokens.ts';
import { accountActor } from '../enforcement/appeals.ts';
import { authenticateAccountToken } from '../identity/account-tokens.ts';
import type { Database } from '../store/schema.ts';
import { HttpError } from './errors.ts';
import type { ApiApp, Auth, Principal } from './route.ts';

/**
 * Authentication as each route declares it (`config.auth`, see route.ts). It runs as a preValidation
 * hook: after the body is parsed (malformed JSON is a 400 whoever sends it) and before it is validated
 * (without a valid token the answer is 401 whatever the body holds).
 */

const PUBLIC: Principal = { actor: 'anonymous', role: 'public', tokenId: null };
const WEBHOOK: Principal = { actor: 'webhook', role: 'webhook', tokenId: null };

function bearer(req: FastifyRequest): string | null {
  const header = req.headers.authorization;
  const match = typeof header === 'string' ? /^Bearer ([^\s]+)$/.exec(header) : null;
  return match ? match[1]! : null;
}

export function installAuth(app: ApiApp, db: Kysely<Database>): void {
  app.decorateRequest('principal', null as unknown as Principal);
  app.decorateRequest('account', null);

  app.addHook('onRoute', (route) => {
    const auth = route.config?.auth;
    if (auth === undefined)
      throw new Error(`${String(route.method)} ${route.url}: declare who may call it (config.auth: moderator, operator, streamer, webhook or public)`);
    if (auth === 'webhook' && !route.preValidation)
      throw new Error(`${String(route.method)} ${route.url}: a webhook route checks its signature in its own preValidation hook`);
  });

  app.addHook('preValidation', async (req) => {
    req.principal = await authenticate(req, req.routeOptions.config.auth ?? 'public');
  });

  // Moderators must still see and cut live streams while the database is unreachable: a token the
  // database confirmed within the last 15 minutes is accepted from memory, but only when the lookup itself
  // fails (a revoked or unknown token is refused as soon as the database answers).
  const confirmed = new Map<string, { admin: NonNullable<Awaited<ReturnType<typeof authenticateToken>>>; at: number }>();
  const CONFIRMED_FOR_MS = 15 * 60_000;
  async function authenticateAdmin(token: string) {
    try {
      const admin = await authenticateToken(db, token);
      if (admin) {
        if (confirmed.size > 1000) confirmed.clear();
        confirmed.set(token, { admin, at: Date.now() });
      } else confirmed.delete(token);
      return admin;
    } catch (err) {
      const known = confirmed.get(token);
      if (known && Date.now() - known.at < CONFIRMED_FOR_MS) return known.admin;
      throw err;
    }
  }

  async function authenticate(req: FastifyRequest, auth: Auth): Promise<Principal> {
    if (auth === 'public') return PUBLIC;
    if (auth === 'webhook') return WEBHOOK;
    const token = bearer(req);
    if (auth === 'streamer') {
      if (!token) throw new HttpError(401, 'unauthorized', 'missing bearer token (the account token, at_…)');
      const found = await authenticateAccountToken(db, token);
      if (!found) throw new HttpError(401, 'unauthorized', 'invalid or revoked account token');
      req.account = found.account;
      return { actor: accountActor(found.account), role: 'streamer', tokenId: found.token.id };
    }
    if (!token) throw new HttpError(401, 'unauthorized', 'missing bearer token');
    const admin = await authenticateAdmin(token);
    if (!admin) throw new HttpError(401, 'unauthorized', 'invalid or revoked token');
    if (!roleAllows(admin.role, auth)) throw new HttpError(403, 'forbidden', `this action needs the ${auth} role`);
    return { actor: `token:${admin.name}`, role: admin.role, tokenId: admin.id };
  }
}

/** The streamer's own account on a `streamer` route. */
export function ownAccount(req: FastifyRequest) {
  if (!req.account) throw new HttpError(500, 'internal', 'route is not declared auth: streamer');
  return req.account;
}
