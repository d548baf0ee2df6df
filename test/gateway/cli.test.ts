import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient, runCli, startTestGateway, waitFor, type TestGateway } from '../helpers/gateway.ts';
import { rawPublish } from '../helpers/rtmp-client.ts';

/**
 * `modgate` CLI commands as separate processes (node bin/modgate.js) against the data directory of a
 * running gateway: what they write takes effect in the gateway without a restart.
 */

let t: TestGateway;
beforeAll(async () => {
  t = await startTestGateway({ syncIntervalMs: 200 });
});
afterAll(async () => {
  await t?.stop();
});

const cli = (...args: string[]) => runCli([...args, '--data-dir', t.dataDir]);
const json = <T>(stdout: string): T => JSON.parse(stdout) as T;

function expectOneLineError(r: { code: number | null; stderr: string; stdout: string }, pattern: RegExp): void {
  expect(r.code).not.toBe(0);
  expect(r.stdout).toBe('');
  const lines = r.stderr.trimEnd().split('\n');
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^modgate: /);
  expect(lines[0]).toMatch(pattern);
}

describe('modgate CLI', { timeout: 180_000 }, () => {
  it('account add / verify / list with --json, and a human-readable form without it', async () => {
    const [added, human] = await Promise.all([
      cli('account', 'add', 'cli-ann', '--json'),
      cli('account', 'add', 'cli-ben', '--verified', '--subject', 'idp:ben'),
    ]);
    expect(added.code, added.stderr).toBe(0);
    expect(json(added.stdout)).toEqual({ handle: 'cli-ann', identityStatus: 'unverified' });
    expect(human.code, human.stderr).toBe(0);
    expect(human.stdout.trim()).toBe('account cli-ben created (verified)');

    const verified = await cli('account', 'verify', 'cli-ann', '--subject', 'idp:ann', '--reason', 'passport checked', '--json');
    expect(verified.code, verified.stderr).toBe(0);
    expect(json(verified.stdout)).toEqual({ handle: 'cli-ann', identityStatus: 'verified', subject: 'idp:ann' });

    const list = await cli('account', 'list', '--json');
    expect(list.code).toBe(0);
    const rows = json<Array<{ handle: string; identityStatus: string; subject: string | null }>>(list.stdout);
    expect(rows).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ handle: 'cli-ann', identityStatus: 'verified', subject: 'idp:ann' }),
        expect.objectContaining({ handle: 'cli-ben', identityStatus: 'verified', subject: 'idp:ben' }),
      ]),
    );
    // Recorded with the CLI as the actor.
    const audit = await t.mod.get<{ records: Array<{ actor: string; action: string }> }>('/api/v1/audit?targetId=cli-ann');
    expect(audit.body.records.map((r) => r.action)).toEqual(expect.arrayContaining(['account.create', 'account.identity.verified']));
    expect(audit.body.records.every((r) => r.actor.startsWith('cli:'))).toBe(true);
  });

  it('key issue prints the key once; the running gateway accepts it; key revoke by the CLI ends its live stream without a restart', async () => {
    await cli('account', 'add', 'cli-key', '--verified');
    const issued = await cli('key', 'issue', 'cli-key', '--json');
    expect(issued.code, issued.stderr).toBe(0);
    const { streamKey, keyId } = json<{ streamKey: string; keyId: string; handle: string }>(issued.stdout);
    expect(streamKey).toMatch(/^sk_[A-Za-z0-9_-]{32}$/);
    const stored = await t.gw.store.db.selectFrom('stream_keys').selectAll().where('id', '=', keyId).executeTakeFirstOrThrow();
    expect(JSON.stringify(stored)).not.toContain(streamKey);

    await waitFor(() => t.gw.gate.keysById.has(keyId), 5_000, 'the gateway to see the new key');
    const { client } = await rawPublish(t.rtmpPort, streamKey);
    await t.waitForStream('cli-key');

    const revoked = await cli('key', 'revoke', 'cli-key', '--json');
    expect(revoked.code, revoked.stderr).toBe(0);
    expect(json(revoked.stdout)).toEqual({ handle: 'cli-key', revoked: [keyId] });
    await client.closedAt;
    await t.waitForNoStream('cli-key', 5_000);

    // Identity revocation by the CLI ending a live stream is covered in rtmp-gate and ws-gate.
  });

  it('token issue --role issues a working API token of that role', async () => {
    const [op, mod] = await Promise.all([
      cli('token', 'issue', 'cli-op', '--role', 'operator', '--json'),
      cli('token', 'issue', 'cli-mod', '--role', 'moderator', '--json'),
    ]);
    expect(op.code, op.stderr).toBe(0);
    const opTok = json<{ token: string; role: string; name: string }>(op.stdout);
    expect(opTok).toMatchObject({ role: 'operator', name: 'cli-op' });
    const modTok = json<{ token: string; role: string }>(mod.stdout);
    expect(modTok.role).toBe('moderator');
    const asOp = new ApiClient(t.httpUrl, opTok.token);
    const asMod = new ApiClient(t.httpUrl, modTok.token);
    expect((await asOp.post('/api/v1/accounts', { handle: 'made-by-cli-op' })).status).toBe(201);
    expect((await asMod.get('/api/v1/streams')).status).toBe(200);
    expect((await asMod.post('/api/v1/accounts', { handle: 'made-by-cli-mod' })).status).toBe(403);
  });

  it('errors exit non-zero with a one-line reason', async () => {
    const [dup, unknown, badHandle, noRole, badRole, badKey] = await Promise.all([
      cli('account', 'add', 'cli-ann'),
      cli('account', 'verify', 'nobody-here'),
      cli('account', 'add', 'Not A Handle'),
      cli('token', 'issue', 'x'),
      cli('token', 'issue', 'x', '--role', 'admin'),
      cli('key', 'revoke', 'cli-ben', '--key-id', 'key_nope'),
    ]);
    expectOneLineError(dup, /account 'cli-ann' already exists/);
    expectOneLineError(unknown, /account 'nobody-here' not found/);
    expectOneLineError(badHandle, /handle/);
    expect(noRole.code).not.toBe(0);
    expect(noRole.stderr).toMatch(/--role/);
    expect(badRole.code).not.toBe(0);
    expect(badRole.stderr).toMatch(/admin/);
    expectOneLineError(badKey, /key_nope/);
  });

  it('a bad config file names the offending key path', async () => {
    const bad = path.join(t.dataDir, 'bad.yaml');
    writeFileSync(bad, 'rtmp:\n  port: "not-a-port"\nhttp:\n  prot: 8080\n');
    const broken = path.join(t.dataDir, 'broken.json');
    writeFileSync(broken, '{"rtmp": ');
    const [r, r2, missing] = await Promise.all([
      runCli(['account', 'list', '--config', bad]),
      runCli(['account', 'list', '--config', broken]),
      runCli(['account', 'list', '--config', path.join(t.dataDir, 'missing.yaml')]),
    ]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(bad);
    expect(r.stderr).toMatch(/rtmp\.port/);
    expect(r.stderr).toMatch(/http.*prot|prot.*http/s);
    expect(r2.code).not.toBe(0);
    expect(r2.stderr).toMatch(/broken\.json is not valid JSON/);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toMatch(/cannot read config file/);
  });
});
