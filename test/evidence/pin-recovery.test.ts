import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { EvidenceStore } from '../../gateway/evidence/store.ts';
import { openStore } from '../../gateway/store/db.ts';
import { cutDecisionRow } from '../helpers/decision-row.ts';
import { startTestGateway } from '../helpers/gateway.ts';

/**
 * No decision points at evidence the sweep can delete. A decision is committed before its evidence is
 * copied out of the live area; here a previous run "died" (kill -9) in between: the decision row cites
 * `live/…` evidence and has no pinned copy. The next start pins it, and a sweep long after the live
 * retention deletes the live frames but not the decision's copy.
 */

const dataDir = mkdtempSync(path.join(tmpdir(), 'modgate-pin-'));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

describe('evidence cited by a decision committed just before a crash', () => {
  it('is pinned at the next start and survives the sweep of live evidence', async () => {
    const evidenceDir = path.join(dataDir, 'evidence');
    const live = new EvidenceStore({ dir: evidenceDir, liveRetentionMs: 3600_000, decisionRetentionMs: 86400_000 }, () => Buffer.from('jpeg-bytes'));
    const frame = { streamId: 'str_crashed', seq: 7, mediaTimeMs: 7000, receivedAt: Date.now(), width: 2, height: 2, rgb: Buffer.alloc(12) };
    const ref = await live.save(frame, { signals: [{ source: 'hash', label: 'tve', score: 1 }] });

    // What the previous run committed: the decision, citing the live frame, never pinned.
    const first = await openStore(`sqlite:${path.join(dataDir, 'modgate.sqlite')}`);
    await first.db
      .insertInto('decisions')
      .values(cutDecisionRow({ id: 'dec_crashed', streamId: 'str_crashed', accountId: 'acc_x', refs: [ref] }))
      .execute();
    await first.close();

    const t = await startTestGateway({ dataDir });
    try {
      const row = await t.gw.store.db.selectFrom('decisions').select('evidence').where('id', '=', 'dec_crashed').executeTakeFirstOrThrow();
      const evidence = JSON.parse(row.evidence) as { refs: string[]; pinned?: string[] };
      expect(evidence.refs).toEqual([ref]);
      expect(evidence.pinned).toEqual(['decisions/dec_crashed/7']);

      // Two days on: the live frame is past its retention, the decision's copy is not.
      const later = new EvidenceStore({ dir: evidenceDir, liveRetentionMs: 24 * 3600_000, decisionRetentionMs: 365 * 86400_000 }, () => Buffer.alloc(0));
      expect(await later.sweep(Date.now() + 2 * 86400_000)).toBeGreaterThanOrEqual(1);
      expect(existsSync(path.join(evidenceDir, 'live', 'str_crashed'))).toBe(false);
      const kept = await later.read('decisions/dec_crashed/7');
      expect(kept?.jpeg.toString()).toBe('jpeg-bytes');
    } finally {
      await t.stop({ keepData: true });
    }
  });
});
