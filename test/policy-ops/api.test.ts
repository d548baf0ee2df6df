import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Signal } from '../../classifiers/signal.ts';
import { issueToken } from '../../gateway/admin/tokens.ts';
import { recordDecision } from '../../gateway/enforcement/decisions.ts';
import { addAccount } from '../../gateway/identity/accounts.ts';
import { createLogger } from '../../gateway/log.ts';
import { startGateway, type Gateway } from '../../gateway/server.ts';
import { evaluate } from '../../policy/engine.ts';
import { loadPolicy } from '../../policy/load.ts';
import { ApiClient, REPO_ROOT, runCli, sleep, testConfig } from '../helpers/gateway.ts';

/**
 * The operator's policy workflow on a real gateway (no models, no sampling; signals written straight into
 * the `signals` table): POST /api/v1/policy/backtest end to end with its 400s, and the `modgate policy`
 * commands against the running gateway's database (submit → live without a restart, versions, rollback,
 * backtest).
 */

const DAY = 86_400_000;
const T = Date.UTC(2025, 0, 10);
const SINCE = new Date(T - 3600_000).toISOString();
const UNTIL = new Date(T + DAY).toISOString();

const DEFAULT_TEXT = readFileSync(path.join(REPO_ROOT, 'policy/default.yaml'), 'utf8');
// The candidate: graphic-violence-high needs 0.95 instead of 0.9.
const CANDIDATE_TEXT = DEFAULT_TEXT.replace('minScore: 0.9\n', 'minScore: 0.95\n').replace('version: "2019-05-one-strike.4"', 'version: "candidate-0.95"');

let gw: Gateway;
let dataDir: string;
let api: ApiClient;
let mod: ApiClient;
const files = mkdtempSync(path.join(tmpdir(), 'modgate-policy-files-'));

function violence(streamId: string, startedAt: number, scores: number[]): Signal[] {
  return scores.map((score, i) => ({
    streamId,
    frameTimeMs: i * 1000,
    observedAt: startedAt + i * 1000,
    source: 'violence',
    label: 'violence',
    score,
    version: 'violence@1',
    evidenceRef: `live/${streamId}/${i}`,
  }));
}

async function insertSignals(accountId: string, signals: Signal[]): Promise<void> {
  for (let i = 0; i < signals.length; i += 500) {
    await gw.store.db
      .insertInto('signals')
      .values(signals.slice(i, i + 500).map((s) => ({ stream_id: s.streamId, account_id: accountId, observed_at: s.observedAt, body: JSON.stringify(s) })))
      .execute();
  }
}

async function insertStream(id: string, accountId: string, startedAt: number): Promise<void> {
  await gw.store.db
    .insertInto('streams')
    .values({
      id,
      account_id: accountId,
      key_id: null,
      protocol: 'rtmp',
      remote_addr: null,
      started_at: startedAt,
      ended_at: startedAt + 60_000,
      end_reason: 'cut',
      end_detail: null,
      node_id: 'test',
    })
    .execute();
}

beforeAll(async () => {
  dataDir = mkdtempSync(path.join(tmpdir(), 'modgate-policy-ops-'));
  const base = testConfig(dataDir, { syncIntervalMs: 200 });
  const config = { ...base, classifiers: { ...base.classifiers, models: [] }, sampling: { ...base.sampling, enabled: false } };
  gw = await startGateway(config, { log: createLogger('silent') });
  const db = gw.store.db;
  const url = `http://127.0.0.1:${gw.httpPort}`;
  api = new ApiClient(url, (await issueToken(db, 'test', 'op', 'operator')).token);
  mod = new ApiClient(url, (await issueToken(db, 'test', 'mod', 'moderator')).token);

  const alice = await addAccount(db, { id: 'test' }, { handle: 'alice', verified: true, subject: 'idp:alice' });
  const bob = await addAccount(db, { id: 'test' }, { handle: 'bob', verified: true });

  // st-a (alice): 0.97 ×3 → graphic-violence-high cuts; recorded as it happened (strike and all).
  await insertStream('st-a', alice.id, T);
  const a = violence('st-a', T, [0.97, 0.97, 0.97]);
  await insertSignals(alice.id, a);
  const defaults = loadPolicy(DEFAULT_TEXT, 'yaml');
  if (!defaults.ok) throw new Error('default policy does not load');
  const history = { strikes: [], suspensions: [] };
  for (const d of evaluate(defaults.policy, { streamId: 'st-a', accountId: alice.id, personId: 'idp:alice', startedAt: T, history }, a, T + DAY)) {
    await recordDecision(db, d, { evidence: {} });
  }
  // st-b (bob): 0.92 ×3 → cut under the default, not under the candidate (which reviews it instead).
  await insertStream('st-b', bob.id, T + 3600_000);
  await insertSignals(bob.id, violence('st-b', T + 3600_000, [0.92, 0.92, 0.92]));
  // st-c (alice, later): 0.98 ×3 → cut under both, escalated to permanent by st-a's strike.
  await insertStream('st-c', alice.id, T + 7200_000);
  await insertSignals(alice.id, violence('st-c', T + 7200_000, [0.98, 0.98, 0.98]));
  // st-raw: no streams row (start taken from its first signal); nothing decides.
  await insertSignals(bob.id, violence('st-raw', T + 9000_000, [0.5, 0.5]));
  // st-old: outside the range.
  await insertStream('st-old', bob.id, T - 40 * DAY);
  await insertSignals(bob.id, violence('st-old', T - 40 * DAY, [0.99, 0.99, 0.99]));
  // 2001 one-signal streams five days later: over the API's stream cap.
  await insertSignals(
    bob.id,
    Array.from({ length: 2001 }, (_, i) => violence(`st-many-${i}`, T + 5 * DAY + i * 10, [0.4])[0]!),
  );
  writeFileSync(path.join(files, 'candidate.yaml'), CANDIDATE_TEXT);
  writeFileSync(path.join(files, 'default.yaml'), DEFAULT_TEXT);
  writeFileSync(path.join(files, 'broken.yaml'), CANDIDATE_TEXT.replace('minScore: 0.95', 'minScore: 9.5'));
});

afterAll(async () => {
  await gw?.stop();
  rmSync(dataDir, { recursive: true, force: true });
  rmSync(files, { recursive: true, force: true });
});

interface RuleDiffBody {
  ruleId: string;
  baseline: { enforced: number; shadow: number };
  candidate: { enforced: number; shadow: number };
  added: { enforced: number; shadow: number };
  removed: { enforced: number; shadow: number };
  changed: number;
  unchanged: number;
  recorded: { enforced: number; shadow: number } | null;
  examples: Array<{
    change: string;
    streamId: string;
    at: string;
    baseline: { summary: string; escalationStep: number | null; evidenceRefs: string[] } | null;
    candidate: { summary: string } | null;
  }>;
}
interface BacktestBody {
  baseline: { versionId: number; name: string; version: string };
  candidate: { name: string; version: string };
  since: string;
  until: string;
  streams: number;
  signals: number;
  totals: {
    added: number;
    removed: number;
    changed: number;
    streamsAffected: number;
    streamsNoLongerCut: number;
    baseline: { cuts: number };
    candidate: { cuts: number };
  };
  rules: RuleDiffBody[];
  recorded: { decisions: number; reproducedByBaseline: number; keptByCandidate: number; droppedByCandidate: number };
  notes: string[];
}

const rule = (b: BacktestBody, id: string) => b.rules.find((r) => r.ruleId === id)!;
const cli = (...args: string[]) => runCli([...args, '--data-dir', dataDir], { timeoutMs: 120_000 });

describe('POST /api/v1/policy/backtest', { timeout: 120_000 }, () => {
  it('replays the stored signals of the range against the active policy and a candidate, and reports the difference', async () => {
    const res = await api.post<BacktestBody>('/api/v1/policy/backtest', { text: CANDIDATE_TEXT, since: SINCE, until: T + DAY });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    const b = res.body;
    expect(b.baseline).toEqual({ versionId: 0, name: 'one-strike-live', version: '2019-05-one-strike.4' });
    expect(b.candidate).toEqual({ name: 'one-strike-live', version: 'candidate-0.95' });
    expect([b.since, b.until]).toEqual([SINCE, UNTIL]);
    expect(b.streams).toBe(4); // st-a, st-b, st-c, st-raw
    expect(b.signals).toBe(11);

    const high = rule(b, 'graphic-violence-high');
    expect(high.baseline).toEqual({ enforced: 3, shadow: 0 });
    expect(high.candidate).toEqual({ enforced: 2, shadow: 0 });
    expect(high.removed).toEqual({ enforced: 1, shadow: 0 });
    expect(high.unchanged).toBe(2);
    expect(high.recorded).toEqual({ enforced: 1, shadow: 0 });
    expect(high.examples).toHaveLength(1);
    expect(high.examples[0]).toMatchObject({ change: 'removed', streamId: 'st-b', at: new Date(T + 3600_000 + 2000).toISOString(), candidate: null });
    expect(high.examples[0]!.baseline!.summary).toBe('cut, suspend 30d, strike graphic-violence/high (90d), review high');
    expect(high.examples[0]!.baseline!.evidenceRefs).toEqual(['live/st-b/0', 'live/st-b/1', 'live/st-b/2']);

    // The medium rule (2 of 4 ≥ 0.6) reviews every stream one frame before the cut, under both policies.
    const medium = rule(b, 'graphic-violence-medium');
    expect(medium).toMatchObject({ baseline: { enforced: 3, shadow: 0 }, unchanged: 3, added: { enforced: 0, shadow: 0 }, examples: [] });

    expect(b.totals).toMatchObject({
      added: 0,
      removed: 1,
      changed: 0,
      streamsAffected: 1,
      streamsNoLongerCut: 1,
      baseline: { cuts: 3 },
      candidate: { cuts: 2 },
    });
    // st-a's review and cut were recorded as they happened; both policies make them again.
    expect(b.recorded).toMatchObject({ decisions: 2, reproducedByBaseline: 2, keptByCandidate: 2, droppedByCandidate: 0 });
    expect(b.notes.join('\n')).toContain('stall entries are not replayed (sampler-stall)');
  });

  it("uses each account's history as of the stream's start (st-c escalates on st-a's strike)", async () => {
    // Under the same policy nothing differs; the escalation shows in a rule whose actions the candidate changes.
    const noLadder = DEFAULT_TEXT.replace(
      /escalation:\n {6}- \{ priorStrikes: 1, within: 90d, minSeverity: high, suspend: permanent \}\n\n  - id: graphic-violence-medium/,
      'escalation: []\n\n  - id: graphic-violence-medium',
    );
    expect(noLadder).not.toBe(DEFAULT_TEXT);
    const res = await api.post<BacktestBody>('/api/v1/policy/backtest', { text: noLadder, format: 'yaml', since: T - 3600_000, until: UNTIL });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    const high = rule(res.body, 'graphic-violence-high');
    expect(high.changed).toBe(1);
    expect(high.examples).toEqual([
      expect.objectContaining({
        change: 'changed',
        streamId: 'st-c',
        differences: ['suspend permanent → 30d'],
        baseline: expect.objectContaining({ escalationStep: 0 }),
      }),
    ]);
  });

  it('400: an invalid candidate, with every error and its key path', async () => {
    const text = CANDIDATE_TEXT.replace('minScore: 0.95', 'minScore: 9.5').replace('mode: fail_open', 'mode: fail_maybe');
    const res = await api.post<{ error: string; errors: Array<{ path: string; message: string }>; message: string }>('/api/v1/policy/backtest', {
      text,
      since: SINCE,
      until: UNTIL,
    });
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('invalid_policy');
    expect(res.body.errors).toEqual([
      { path: 'rules[1].match.minScore', message: 'expected a number between 0 and 1' },
      { path: 'stall[0].mode', message: 'expected fail_open or fail_closed' },
    ]);
    expect(res.body.message).toContain('rules[1].match.minScore: expected a number between 0 and 1');
    const json = await api.post<{ errors: Array<{ path: string }> }>('/api/v1/policy/backtest', {
      text: '{"version": 1}',
      format: 'json',
      since: SINCE,
      until: UNTIL,
    });
    expect(json.status).toBe(400);
    expect(json.body.errors.map((e) => e.path)).toEqual(['name', 'rules']);
  });

  it('400: bad ranges and times, too many streams; 403 for a moderator; 404 for an unknown baseline', async () => {
    const post = (body: Record<string, unknown>, client = api) =>
      client.post<{ error: string; message: string; field?: string }>('/api/v1/policy/backtest', { text: CANDIDATE_TEXT, ...body });
    const tooLong = await post({ since: T - 40 * DAY, until: T });
    expect(tooLong.status).toBe(400);
    expect(tooLong.body).toMatchObject({ error: 'invalid_range', field: 'body.until' });
    expect(tooLong.body.message).toMatch(/at most 31 days/);
    const backwards = await post({ since: UNTIL, until: SINCE });
    expect(backwards.status).toBe(400);
    expect(backwards.body.message).toMatch(/until must be after since/);
    const badTime = await post({ since: 'last tuesday', until: UNTIL });
    expect(badTime.status).toBe(400);
    expect(badTime.body).toMatchObject({ error: 'invalid_request', field: 'body.since' });
    const missing = await post({ since: SINCE });
    expect(missing.status).toBe(400);
    expect(missing.body.field).toBe('body.until');
    const unknown = await post({ since: SINCE, until: UNTIL, dryRun: true });
    expect(unknown.status).toBe(400);

    const many = await post({ since: T + 5 * DAY - 1000, until: T + 6 * DAY });
    expect(many.status).toBe(400);
    expect(many.body.error).toBe('too_large');
    expect(many.body.message).toMatch(/more than 2000 streams/);

    expect((await post({ since: SINCE, until: UNTIL }, mod)).status).toBe(403);
    expect((await post({ since: SINCE, until: UNTIL, baselineVersionId: 999 })).status).toBe(404);

    // An empty range is fine: nothing to replay.
    const empty = await api.post<BacktestBody>('/api/v1/policy/backtest', { text: CANDIDATE_TEXT, since: T + 20 * DAY, until: T + 21 * DAY });
    expect(empty.status).toBe(200);
    expect(empty.body.streams).toBe(0);
  });
});

describe('modgate policy (CLI) against a running gateway', { timeout: 300_000 }, () => {
  it('submit → the running gateway serves it within two seconds; versions; rollback; show; backtest', async () => {
    const submitted = await cli('policy', 'submit', path.join(files, 'candidate.yaml'), '--comment', 'raise graphic-violence-high to 0.95', '--json');
    expect(submitted.code, submitted.stderr).toBe(0);
    const s1 = JSON.parse(submitted.stdout) as { versionId: number; active: boolean; author: string; version: string };
    expect(s1).toMatchObject({ active: true, version: 'candidate-0.95' });
    expect(s1.author).toMatch(/^cli:/);
    const seenWithin = async (versionId: number) => {
      const start = Date.now();
      for (;;) {
        const cur = await mod.get<{ versionId: number; text: string }>('/api/v1/policy');
        if (cur.body.versionId === versionId) return { ms: Date.now() - start, text: cur.body.text };
        if (Date.now() - start > 2000) throw new Error(`the gateway still serves version ${cur.body.versionId}, not ${versionId}`);
        await sleep(50);
      }
    };
    expect((await seenWithin(s1.versionId)).text).toBe(CANDIDATE_TEXT);

    // An invalid file is refused with every error, and nothing is stored.
    // (Commands that do not depend on each other run side by side: each CLI start costs seconds.)
    const [broken, stored] = await Promise.all([
      cli('policy', 'submit', path.join(files, 'broken.yaml'), '--comment', 'oops'),
      cli('policy', 'submit', path.join(files, 'default.yaml'), '--comment', 'the default, kept for later', '--no-activate', '--json'),
    ]);
    expect(broken.code).toBe(1);
    expect(broken.stderr).toContain('rules[1].match.minScore: expected a number between 0 and 1');

    expect(stored.code, stored.stderr).toBe(0);
    const s2 = JSON.parse(stored.stdout) as { versionId: number; active: boolean };
    expect(s2.active).toBe(false);

    const [versions, bt, human, tooLong] = await Promise.all([
      cli('policy', 'versions', '--json'),
      cli('policy', 'backtest', path.join(files, 'default.yaml'), '--since', SINCE, '--until', String(T + DAY), '--json'),
      cli('policy', 'backtest', path.join(files, 'default.yaml'), '--since', SINCE, '--until', UNTIL),
      cli('policy', 'backtest', path.join(files, 'default.yaml'), '--since', new Date(T - 40 * DAY).toISOString(), '--until', UNTIL),
    ]);
    expect(versions.code, versions.stderr).toBe(0);
    const v = JSON.parse(versions.stdout) as { activeVersionId: number; versions: Array<{ id: number; author: string; comment: string; active: boolean }> };
    expect(v.activeVersionId).toBe(s1.versionId);
    expect(v.versions.map((x) => [x.id, x.comment, x.active])).toEqual([
      [s2.versionId, 'the default, kept for later', false],
      [s1.versionId, 'raise graphic-violence-high to 0.95', true],
    ]);
    const api1 = await api.get<{ versions: Array<{ id: number; active: boolean }> }>('/api/v1/policy/versions');
    expect(api1.body.versions.find((x) => x.active)?.id).toBe(s1.versionId);

    // Backtest from the CLI: the active policy (the candidate) against the default file: the mirror of the API's report.
    expect(bt.code, bt.stderr).toBe(0);
    const report = JSON.parse(bt.stdout) as BacktestBody;
    expect(report.baseline).toMatchObject({ versionId: s1.versionId, version: 'candidate-0.95' });
    expect(rule(report, 'graphic-violence-high').added).toEqual({ enforced: 1, shadow: 0 });
    expect(report.totals).toMatchObject({ added: 1, removed: 0, changed: 0 });
    // And against a stored baseline version through the API: identical policies, no difference.
    const same = await api.post<BacktestBody>('/api/v1/policy/backtest', { text: DEFAULT_TEXT, since: SINCE, until: UNTIL, baselineVersionId: s2.versionId });
    expect(same.status).toBe(200);
    expect(same.body.totals).toMatchObject({ added: 0, removed: 0, changed: 0 });

    expect(human.code, human.stderr).toBe(0);
    expect(human.stdout).toMatch(/differences: \+1 added, -0 removed, 0 changed/);
    expect(human.stdout).toMatch(/added\s+graphic-violence-high stream st-b/);
    expect(tooLong.code).toBe(1);
    expect(tooLong.stderr).toMatch(/^modgate: .*at most 31 days/);

    const rolled = await cli('policy', 'rollback', String(s2.versionId), '--reason', 'back to the default', '--json');
    expect(rolled.code, rolled.stderr).toBe(0);
    expect(JSON.parse(rolled.stdout)).toMatchObject({ versionId: s2.versionId, version: '2019-05-one-strike.4' });
    expect((await seenWithin(s2.versionId)).text).toBe(DEFAULT_TEXT);
    const [noSuch, shown] = await Promise.all([
      cli('policy', 'rollback', '999', '--reason', 'x'),
      cli('policy', 'show', '--version', String(s1.versionId), '--json'),
    ]);
    expect(noSuch.code).toBe(1);
    expect(noSuch.stderr).toMatch(/policy version 999 not found/);

    expect(shown.code, shown.stderr).toBe(0);
    expect(JSON.parse(shown.stdout)).toMatchObject({ versionId: s1.versionId, active: false, format: 'yaml', text: CANDIDATE_TEXT });
    const audit = await mod.get<{ records: Array<{ action: string; actor: string }> }>(`/api/v1/audit?targetId=${s2.versionId}`);
    expect(audit.body.records.map((r) => r.action)).toEqual(expect.arrayContaining(['policy.submit', 'policy.activate']));
  });
});
