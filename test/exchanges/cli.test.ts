import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { seededHash } from '../helpers/hashes.ts';
import { runCli } from '../helpers/gateway.ts';

/**
 * `modgate exchange …` as separate processes on a data directory: add a hash-list exchange (a file in HMA's
 * `pdq <hex>` format), list it, fetch it now, and manage partners (token printed once, list, revoke).
 */

const dir = mkdtempSync(path.join(tmpdir(), 'modgate-excli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const cli = (...args: string[]) => runCli([...args, '--data-dir', dir]);
const json = <T>(stdout: string): T => JSON.parse(stdout) as T;

describe('modgate exchange', { timeout: 240_000 }, () => {
  it('add / list / fetch a hash-list exchange, then partner add / list / revoke', async () => {
    const list = path.join(dir, 'shared.txt');
    const hashes = [seededHash(1), seededHash(2), seededHash(3)];
    writeFileSync(list, `${hashes.map((h) => `pdq ${h}`).join('\n')}\nnot a line\n`);

    const added = await cli('exchange', 'add', 'gifct-file', '--kind', 'hashlist', '--url', list, '--category', 'terrorist-violent-extremism', '--json');
    expect(added.code, added.stderr).toBe(0);
    expect(json(added.stdout)).toMatchObject({ name: 'gifct-file', kind: 'hashlist', bank: 'exchange-gifct-file', enabled: true, checkpoint: null });

    const fetched = await cli('exchange', 'fetch', 'gifct-file', '--json');
    expect(fetched.code, fetched.stderr).toBe(0);
    const run = json<{
      pages: number;
      upserts: number;
      quarantined: number;
      error: string | null;
      exchange: { upserts: number; lastSuccessAt: number | null };
    }>(fetched.stdout);
    expect(run).toMatchObject({ upserts: 3, error: null, exchange: { upserts: 3 } });
    expect(run.quarantined).toBeGreaterThanOrEqual(1); // the malformed line is set aside, not applied
    expect(run.exchange.lastSuccessAt).not.toBeNull();

    const listed = await cli('exchange', 'list', '--json');
    expect(listed.code, listed.stderr).toBe(0);
    expect(json<{ exchanges: Array<{ name: string; upserts: number }> }>(listed.stdout).exchanges).toEqual([
      expect.objectContaining({ name: 'gifct-file', upserts: 3 }),
    ]);
    const human = await cli('exchange', 'list');
    expect(human.stdout).toMatch(/^gifct-file\thashlist\t→ exchange-gifct-file\tenabled/m);

    const exported = await cli('bank', 'export', 'exchange-gifct-file', '--format', 'plain');
    expect(exported.code, exported.stderr).toBe(0);
    expect(
      exported.stdout
        .split('\n')
        .filter((l) => /^[0-9a-f]{64}$/.test(l))
        .sort(),
    ).toEqual([...hashes].sort());

    // Fetching an exchange that does not exist fails with one line and a non-zero code.
    const missing = await cli('exchange', 'fetch', 'nope');
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toMatch(/modgate: .*nope/);

    const partner = await cli('exchange', 'partner', 'add', 'platform-b', '--banks', 'exchange-gifct-file', '--json');
    expect(partner.code, partner.stderr).toBe(0);
    const p = json<{ token: string; partner: { name: string; banks: string[] } }>(partner.stdout);
    expect(p.token).toMatch(/^px_/);
    expect(p.partner).toMatchObject({ name: 'platform-b', banks: ['exchange-gifct-file'] });
    const partners = await cli('exchange', 'partner', 'list', '--json');
    expect(partners.stdout).not.toContain(p.token);
    expect(json<{ partners: Array<{ name: string; revokedAt: number | null }> }>(partners.stdout).partners).toEqual([
      expect.objectContaining({ name: 'platform-b', revokedAt: null }),
    ]);
    const revoked = await cli('exchange', 'partner', 'revoke', 'platform-b', '--json');
    expect(revoked.code, revoked.stderr).toBe(0);
    const after = json<{ partners: Array<{ revokedAt: number | null }> }>((await cli('exchange', 'partner', 'list', '--json')).stdout).partners;
    expect(after[0]!.revokedAt).not.toBeNull();
    expect((await cli('exchange', 'partner', 'revoke', 'platform-b')).code).not.toBe(0);
  });
});
