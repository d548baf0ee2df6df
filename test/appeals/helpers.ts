import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Kysely } from 'kysely';
import type { EnforcedDecision, ShadowDecision } from '../../policy/engine.ts';
import { issueToken } from '../../gateway/admin/tokens.ts';
import { ConfigSchema } from '../../gateway/config.ts';
import { recordDecision, type RecordedDecision } from '../../gateway/enforcement/decisions.ts';
import { issueAccountToken } from '../../gateway/identity/account-tokens.ts';
import { addAccount, getAccount } from '../../gateway/identity/accounts.ts';
import { issueKey } from '../../gateway/identity/keys.ts';
import { createLogger } from '../../gateway/log.ts';
import { startGateway, type Gateway } from '../../gateway/server.ts';
import type { Database } from '../../gateway/store/schema.ts';
import { ApiClient, FFMPEG } from '../helpers/gateway.ts';

export const DAY = 86_400_000;
export const ffmpegPath = existsSync(FFMPEG) ? FFMPEG : null;

export interface Streamer {
  handle: string;
  streamKey: string;
  /** API client with the account's own token (at_…). */
  me: ApiClient;
  token: string;
}

export interface AppealsGateway {
  gw: Gateway;
  db: Kysely<Database>;
  dataDir: string;
  api: ApiClient;
  mod: ApiClient;
  anon: ApiClient;
  streamer(handle: string, subject?: string): Promise<Streamer>;
  /** Records an enforced decision against the account (as the policy runner would), without video. */
  enforce(handle: string, opts?: { suspendDays?: number | null; review?: boolean; reason?: string }): Promise<RecordedDecision>;
  shadow(handle: string): Promise<RecordedDecision>;
  publishUrl(key: string): string;
  stop(): Promise<void>;
}

/** A real gateway with no classifiers and no sampling: decisions are recorded by hand, publishing is real RTMP. */
export async function startAppealsGateway(): Promise<AppealsGateway> {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'modgate-appeals-'));
  const config = ConfigSchema.parse({
    dataDir,
    rtmp: { host: '127.0.0.1', port: 0 },
    http: { host: '127.0.0.1', port: 0, checkResponses: true },
    log: { level: 'silent' },
    demo: false,
    syncIntervalMs: 200,
    classifiers: { models: [] },
    sampling: { enabled: false },
  });
  const gw = await startGateway(config, { log: createLogger('silent') });
  const db = gw.store.db;
  const base = `http://127.0.0.1:${gw.httpPort}`;
  const api = new ApiClient(base, (await issueToken(db, 'test', 'appeals-op', 'operator')).token);
  const mod = new ApiClient(base, (await issueToken(db, 'test', 'appeals-mod', 'moderator')).token);
  const actor = { id: 'test' };
  let n = 0;

  const decisionBase = async (handle: string) => {
    const a = await getAccount(db, handle);
    const now = Date.now() + n++; // distinct decision times keep "oldest first" well defined
    const streamId = `str_test_${handle}_${now}`;
    return {
      ruleId: 'tve-known-content',
      kind: 'rule' as const,
      policy: { name: 'one-strike', version: '1' },
      streamId,
      accountId: a.id,
      personId: a.identity_subject,
      severity: 'critical' as const,
      reason: 'matched known terrorist or violent extremist content (bank tve, distance 12)',
      evidenceRefs: [`decisions/${streamId}/1`, `decisions/${streamId}/2`],
      signalRefs: [],
      decidedAt: now,
      escalation: null,
    };
  };

  return {
    gw,
    db,
    dataDir,
    api,
    mod,
    anon: new ApiClient(base, null),
    async streamer(handle, subject) {
      await addAccount(db, actor, { handle, verified: true, subject: subject ?? `person:${handle}` });
      const { key } = await issueKey(db, actor, handle);
      const { token } = await issueAccountToken(db, actor, handle);
      await gw.gate.refresh();
      return { handle, streamKey: key, token, me: new ApiClient(base, token) };
    },
    async enforce(handle, opts = {}) {
      const b = await decisionBase(handle);
      const days = opts.suspendDays === undefined ? 30 : opts.suspendDays;
      const decision: EnforcedDecision = {
        ...b,
        ...(opts.reason ? { reason: opts.reason } : {}),
        shadow: false,
        actions: {
          cut: true,
          suspend: days === null ? { untilMs: null, durationMs: null } : { untilMs: b.decidedAt + days * DAY, durationMs: days * DAY },
          strike: { category: 'terrorist-violent-extremism', severity: 'critical', expiresAt: b.decidedAt + 365 * DAY },
          ...(opts.review === false ? {} : { review: { priority: 'high' as const } }),
        },
      };
      const rec = await recordDecision(db, decision, { evidence: {} });
      await gw.gate.refresh();
      return rec;
    },
    async shadow(handle) {
      const b = await decisionBase(handle);
      const decision: ShadowDecision = { ...b, ruleId: 'nsfw-trial', shadow: true, wouldHave: { cut: true, review: { priority: 'low' } } };
      return recordDecision(db, decision, { evidence: {} });
    },
    publishUrl: (key) => `rtmp://127.0.0.1:${gw.rtmpPort}/live/${key}`,
    async stop() {
      await gw.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
