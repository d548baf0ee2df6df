import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { ConfigSchema } from '../../gateway/config.ts';
import { suspendAccount } from '../../gateway/enforcement/suspensions.ts';
import { addAccount } from '../../gateway/identity/accounts.ts';
import { createLogger } from '../../gateway/log.ts';
import { startGateway } from '../../gateway/server.ts';
import { openStore } from '../../gateway/store/db.ts';
import { writeUnit, type WriteUnit } from '../../gateway/store/journal/unit.ts';
import type { Database } from '../../gateway/store/schema.ts';
import type { BenchResult } from './types.ts';

/**
 * Outage catch-up (issue 11): a gateway (in-process, on its own PostgreSQL database) loses its database
 * (`ALLOW_CONNECTIONS false` and its backends terminated); during the outage it journals K units of work
 * (each an enforced decision: decision, strike, suspension, audit, gate change) while another node, on a
 * connection opened before the outage, suspends M accounts. The figure is the time from the database
 * accepting connections again to the node being fully caught up: the journal drained into the database
 * and every one of the M suspensions applied to its in-memory gate (the gap-free change feed read). The
 * baseline is the same catch-up with an empty journal, in the same run; trials alternate between sizes so
 * load drift hits them alike. Detection of the return is part of the figure (the health probe runs every
 * second). Needs PostgreSQL at MODGATE_BENCH_PG_URL / MODGATE_TEST_PG_URL (default 127.0.0.1:5432/test).
 */

const ADMIN_URL = process.env.MODGATE_BENCH_PG_URL ?? process.env.MODGATE_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const APP = 'modgate_bench_outage_node';

async function admin<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: ADMIN_URL, connectionTimeoutMillis: 3_000 });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until(what: string, fn: () => boolean | Promise<boolean>, ms = 120_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await fn())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

function decisionUnit(i: number, accountId: string, at: number): WriteUnit {
  const id = `dec_bench_${randomBytes(6).toString('hex')}_${i}`;
  const stream = `str_bench_${i}`;
  return writeUnit({
    id: `decision:${id}`,
    at,
    decisions: [
      {
        id,
        stream_id: stream,
        account_id: accountId,
        identity_subject: null,
        rule_id: 'tve-known-content',
        policy_version: 'default@1',
        shadow: 0,
        actions: '{"cut":true,"suspend":{"untilMs":null}}',
        reason: 'bench',
        evidence: '{"refs":[]}',
        decided_at: at,
        decided_by: 'policy:tve-known-content',
        review_status: 'pending',
        review_priority: 'high',
        reviewed_by: null,
        reviewed_at: null,
        review_reason: null,
      },
    ],
    strikes: [
      {
        id: `stk_${id}`,
        account_id: accountId,
        identity_subject: null,
        stream_id: stream,
        decision_id: id,
        category: 'terrorist-violent-extremism',
        severity: 'critical',
        rule_id: 'tve-known-content',
        at,
        expires_at: at + 86_400_000,
        voided_at: null,
        voided_by: null,
        void_reason: null,
      },
    ],
    suspensions: [
      {
        id: `sus_${id}`,
        account_id: accountId,
        identity_subject: null,
        reason: 'bench',
        starts_at: at,
        ends_at: null,
        created_by: 'policy:tve-known-content',
        decision_id: id,
        lifted_at: null,
        lifted_by: null,
        lift_reason: null,
      },
    ],
    audits: [{ actor: 'policy:tve-known-content', action: 'decision.enforce', targetType: 'stream', targetId: stream, detail: { decisionId: id }, at }],
    gateTouches: [{ accountId, at }],
  });
}

/** One outage and return; the catch-up time in ms. */
async function trial(journalUnits: number, missedChanges: number): Promise<number> {
  const name = `modgate_bench_${randomBytes(5).toString('hex')}`;
  await admin((c) => c.query(`CREATE DATABASE ${name}`));
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  const dbUrl = url.toString();
  const dir = mkdtempSync(join(os.tmpdir(), 'modgate-bench-outage-'));
  const setup = await openStore(dbUrl);
  const accounts: string[] = [];
  for (let i = 0; i < Math.max(journalUnits, missedChanges); i++)
    accounts.push((await addAccount(setup.db, { id: 'bench' }, { handle: `b${i}`, verified: true })).id);
  await setup.close();
  // The other node: one connection held open through the outage (ALLOW_CONNECTIONS false refuses only new ones).
  const other = new Kysely<Database>({ dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: dbUrl, max: 1, idleTimeoutMillis: 0 }) }) });
  await other.selectFrom('accounts').select('id').limit(1).execute();
  const gwUrl = new URL(dbUrl);
  gwUrl.searchParams.set('application_name', APP);
  const config = ConfigSchema.parse({
    dataDir: join(dir, 'gw'),
    db: gwUrl.toString(),
    rtmp: { host: '127.0.0.1', port: 0 },
    http: { host: '127.0.0.1', port: 0 },
    log: { level: 'silent' },
    demo: false,
    sampling: { enabled: false },
    classifiers: { models: [] },
  });
  const gw = await startGateway(config, { log: createLogger('silent') });
  try {
    await admin((c) => c.query(`ALTER DATABASE ${name} WITH ALLOW_CONNECTIONS false`));
    await admin((c) => c.query('select pg_terminate_backend(pid) from pg_stat_activity where datname = $1 and application_name = $2', [name, APP]));
    await until('the node to see the outage', () => !gw.health.ok);
    const at = Date.now();
    for (let i = 0; i < journalUnits; i++) {
      const outcome = await gw.journal.write(decisionUnit(i, accounts[i]!, at));
      if (outcome !== 'journaled') throw new Error(`unit ${i} was ${outcome}, not journaled`);
    }
    for (let i = 0; i < missedChanges; i++)
      await suspendAccount(other, { id: 'other-node' }, `b${i}`, { reason: 'suspended on another node during the outage' });
    const suspended = accounts.slice(0, missedChanges);

    await admin((c) => c.query(`ALTER DATABASE ${name} WITH ALLOW_CONNECTIONS true`));
    const t0 = performance.now();
    await until(
      'the node to catch up',
      () => gw.journal.view().depth === 0 && suspended.every((id) => (gw.gate.suspensionsByAccount.get(id)?.length ?? 0) > 0),
    );
    const ms = performance.now() - t0;
    if (gw.journal.view().replayed !== journalUnits) throw new Error(`replayed ${gw.journal.view().replayed} of ${journalUnits}`);
    return ms;
  } finally {
    await gw.stop();
    await other.destroy();
    rmSync(dir, { recursive: true, force: true });
    await admin((c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).catch(() => {});
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

export async function run(o: { quick: boolean }): Promise<BenchResult[]> {
  const trials = o.quick ? 3 : 5;
  const missed = o.quick ? 50 : 200;
  const big = o.quick ? 200 : 1000;
  const small = o.quick ? 20 : 100;
  const times: Record<string, number[]> = { empty: [], small: [], big: [] };
  for (let t = 0; t < trials; t++) {
    times.empty!.push(await trial(0, missed));
    times.small!.push(await trial(small, missed));
    times.big!.push(await trial(big, missed));
  }
  const load = os.loadavg()[0]!.toFixed(1);
  const baseline = { name: `empty journal, ${missed} missed gate changes`, value: median(times.empty!) };
  return [
    {
      name: `catch-up after the database returns: ${small} journaled decisions + ${missed} missed gate changes (median of ${trials})`,
      unit: 'ms',
      value: median(times.small!),
      baseline,
      note: `all: ${times.small!.map((x) => x.toFixed(0)).join(', ')}; load ${load}`,
    },
    {
      name: `catch-up after the database returns: ${big} journaled decisions + ${missed} missed gate changes (median of ${trials})`,
      unit: 'ms',
      value: median(times.big!),
      baseline,
      note: `all: ${times.big!.map((x) => x.toFixed(0)).join(', ')}; baseline all: ${times.empty!.map((x) => x.toFixed(0)).join(', ')}; load ${load}`,
    },
  ];
}
