import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_POLICY_FILE } from '../../gateway/enforcement/policy-store.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';

describe('policy rollback to the shipped default (version 0)', () => {
  let t: TestGateway;
  beforeAll(async () => {
    t = await startTestGateway();
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('stores the shipped text as a new version, activates it and audits it as the shipped default; moderators may not', async () => {
    const shipped = readFileSync(DEFAULT_POLICY_FILE, 'utf8');
    const changed = shipped.replace('suspend: 30d', 'suspend: 7d');
    expect(changed).not.toBe(shipped);
    const put = await t.api.request<{ versionId: number }>('PUT', '/api/v1/policy', { text: changed, format: 'yaml', comment: 'shorter' });
    expect(put.status).toBe(200);
    expect((await t.mod.post('/api/v1/policy/rollback', { versionId: 0, reason: 'back' })).status).toBe(403);

    const res = await t.api.post<{ versionId: number; shippedDefault: boolean }>('/api/v1/policy/rollback', {
      versionId: 0,
      reason: 'back to the shipped default',
    });
    expect(res.status).toBe(200);
    expect(res.body.shippedDefault).toBe(true);
    expect(res.body.versionId).toBeGreaterThan(put.body.versionId);
    const active = (await t.api.get<{ text: string }>('/api/v1/policy')).body;
    expect(active.text).toBe(shipped);
    const audit = (
      await t.api.get<{ records: Array<{ action: string; detail: Record<string, unknown> | null }> }>('/api/v1/audit?action=policy.submit&limit=1')
    ).body.records[0]!;
    expect(audit.detail).toMatchObject({ shippedDefault: true });
    // An ordinary rollback still works, and says it is not the shipped default.
    const back = await t.api.post<{ versionId: number; shippedDefault: boolean }>('/api/v1/policy/rollback', {
      versionId: put.body.versionId,
      reason: 'again',
    });
    expect(back.body).toMatchObject({ versionId: put.body.versionId, shippedDefault: false });
  });
});

describe('one stored policy version with its text', () => {
  let t: TestGateway;
  beforeAll(async () => {
    t = await startTestGateway();
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('answers operators with the text, author and comment as stored; an unknown version is not_found; moderators may not read it', async () => {
    const shipped = readFileSync(DEFAULT_POLICY_FILE, 'utf8');
    const changed = shipped.replace('suspend: 30d', 'suspend: 7d');
    const first = await t.api.request<{ versionId: number }>('PUT', '/api/v1/policy', { text: changed, format: 'yaml', comment: 'a week, not a month' });
    const second = await t.api.request<{ versionId: number }>('PUT', '/api/v1/policy', { text: shipped, format: 'yaml' });
    const v = await t.api.get<{ id: number; text: string; format: string; comment: string | null; author: string; active: boolean }>(
      `/api/v1/policy/versions/${first.body.versionId}`,
    );
    expect(v.status).toBe(200);
    expect(v.body).toMatchObject({ id: first.body.versionId, text: changed, format: 'yaml', comment: 'a week, not a month', active: false });
    expect(v.body.author).toMatch(/^token:/);
    expect((await t.api.get<{ active: boolean }>(`/api/v1/policy/versions/${second.body.versionId}`)).body.active).toBe(true);
    const missing = await t.api.get<{ error: string }>('/api/v1/policy/versions/9999');
    expect(missing.status).toBe(404);
    expect(missing.body.error).toBe('not_found');
    expect((await t.mod.get(`/api/v1/policy/versions/${first.body.versionId}`)).status).toBe(403);
  });
});
