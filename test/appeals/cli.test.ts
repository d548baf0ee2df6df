import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authorizeAccount } from '../../gateway/identity/gate.ts';
import { ApiClient, runCli, waitFor } from '../helpers/gateway.ts';
import { startAppealsGateway, type AppealsGateway } from './helpers.ts';

/** `modgate account token` and `modgate appeal …` as separate processes against a running gateway's data directory. */

let t: AppealsGateway;
beforeAll(async () => {
  t = await startAppealsGateway();
});
afterAll(async () => {
  await t?.stop();
});

const cli = (...args: string[]) => runCli([...args, '--data-dir', t.dataDir]);

describe('modgate account token / appeal', { timeout: 240_000 }, () => {
  it('account token prints a streamer token once that opens /api/v1/me; issuing again revokes the old one; --revoke revokes it', async () => {
    await t.streamer('cli-sam');

    const first = await cli('account', 'token', 'cli-sam');
    expect(first.code, first.stderr).toBe(0);
    const token = first.stdout.trim();
    expect(token).toMatch(/^at_[A-Za-z0-9_-]{43}$/);
    const me = new ApiClient(t.anon.baseUrl, token);
    const status = await me.get<{ handle: string; canGoLive: boolean }>('/api/v1/me');
    expect(status.status).toBe(200);
    expect(status.body).toMatchObject({ handle: 'cli-sam', canGoLive: true });

    const second = await cli('account', 'token', 'cli-sam', '--json');
    expect(second.code, second.stderr).toBe(0);
    const parsed = JSON.parse(second.stdout) as { handle: string; accountToken: string; revoked: string[] };
    expect(parsed).toMatchObject({ handle: 'cli-sam', revoked: [expect.stringMatching(/^atk_/)] });
    expect((await me.get('/api/v1/me')).status).toBe(401);
    expect((await new ApiClient(t.anon.baseUrl, parsed.accountToken).get('/api/v1/me')).status).toBe(200);

    const revoked = await cli('account', 'token', 'cli-sam', '--revoke');
    expect(revoked.code, revoked.stderr).toBe(0);
    expect((await new ApiClient(t.anon.baseUrl, parsed.accountToken).get('/api/v1/me')).status).toBe(401);
  });

  it('appeal list shows the open queue and appeal decide --outcome overturn restores the right to go live in the running gateway', async () => {
    const s = await t.streamer('cli-tia');
    const rec = await t.enforce('cli-tia');
    expect((await s.me.get<{ canGoLive: boolean }>('/api/v1/me')).body.canGoLive).toBe(false);
    const filed = await s.me.post<{ appeal: { id: string } }>('/api/v1/me/appeals', { decisionId: rec.row.id, statement: 'It was a video game.' });
    expect(filed.status).toBe(201);
    const id = filed.body.appeal.id;

    const list = await cli('appeal', 'list', '--json');
    expect(list.code, list.stderr).toBe(0);
    expect(JSON.parse(list.stdout)).toEqual([expect.objectContaining({ id, status: 'open', account: 'cli-tia', decisionId: rec.row.id })]);

    const decided = await cli('appeal', 'decide', id, '--outcome', 'overturn', '--reason', 'game footage, not real violence');
    expect(decided.code, decided.stderr).toBe(0);
    expect(decided.stdout.trim()).toBe(`appeal ${id} overturned: 1 strike(s) voided, 1 suspension(s) lifted`);

    // The gateway learns of the overturn through its gate-change feed, without a restart.
    await waitFor(() => authorizeAccount(t.gw.gate, rec.row.account_id, null, Date.now()).ok, 5_000, 'the gate to let cli-tia publish');
    const status = await s.me.get<{ canGoLive: boolean; decisions: Array<{ appeal: { status: string; outcome: { reason: string } } }> }>('/api/v1/me');
    expect(status.body.canGoLive).toBe(true);
    expect(status.body.decisions[0]!.appeal).toMatchObject({ status: 'overturned', outcome: { reason: 'game footage, not real violence' } });
    const audit = await t.mod.get<{ records: Array<{ action: string; actor: string }> }>(`/api/v1/audit?targetId=${id}`);
    expect(audit.body.records.map((r) => r.action).sort()).toEqual(['appeal.create', 'appeal.overturn']);
    expect(audit.body.records.find((r) => r.action === 'appeal.overturn')!.actor).toMatch(/^cli:/);
  });
});
