import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { differingBits } from '../../console/src/ui/bits.ts';
import { timelinePoints } from '../../console/src/ui/timeline-points.ts';
import { loadPolicy } from '../../policy/load.ts';
import { parseHashList } from '../../console/src/banks/import.ts';
import { FirstMessageCoalescer, pickRecorderType } from '../../console/src/broadcast/container.ts';
import { explainEnd, endedFields } from '../../console/src/broadcast/words.ts';
import { lineOfPath, locateErrors, parsePath } from '../../console/src/policy/lines.ts';
import { lineDiff } from '../../console/src/policy/diff.ts';
import { nextAfter, queueOrder } from '../../console/src/screens/queue.ts';
import type { Decision } from '../../console/src/api/types.ts';
import { REPO_ROOT } from '../helpers/gateway.ts';

const DEFAULT_POLICY = readFileSync(path.join(REPO_ROOT, 'policy/default.yaml'), 'utf8');
const lineOf = (text: string, needle: string, from = 0) => text.slice(0, text.indexOf(needle, from)).split('\n').length;

describe('policy errors point at the line they concern', () => {
  it('an out-of-range value in the second rule is reported on its own line', () => {
    const bad = DEFAULT_POLICY.replace('minScore: 0.9', 'minScore: 9');
    const r = loadPolicy(bad);
    expect(r.ok).toBe(false);
    const [e] = locateErrors(bad, r.ok ? [] : r.errors);
    expect(e!.path).toBe('rules[1].match.minScore');
    expect(e!.line).toBe(lineOf(bad, 'minScore: 9'));
  });

  it('an unknown key points at that key; a missing one at the mapping that lacks it', () => {
    const typo = DEFAULT_POLICY.replace('    smoothing: { k: 3, n: 4 }', '    smoothng: { k: 3, n: 4 }');
    const r = loadPolicy(typo);
    const errors = locateErrors(typo, r.ok ? [] : r.errors);
    expect(errors.find((e) => e.path === 'rules[1].smoothng')?.line).toBe(lineOf(typo, 'smoothng'));
    expect(lineOfPath(DEFAULT_POLICY, 'rules[0].match.nope')).toBe(lineOf(DEFAULT_POLICY, 'match:'));
  });

  it('a YAML syntax error uses the line the parser names; paths parse with indices', () => {
    const broken = `${DEFAULT_POLICY}\nrules: [\n`;
    const r = loadPolicy(broken);
    const [e] = locateErrors(broken, r.ok ? [] : r.errors);
    expect(e!.line).toBeGreaterThan(DEFAULT_POLICY.split('\n').length - 1);
    expect(parsePath('rules[2].actions.suspend')).toEqual(['rules', 2, 'actions', 'suspend']);
    expect(parsePath('(root)')).toEqual([]);
  });
});

describe('the policy diff', () => {
  it('counts added and removed lines and folds long unchanged runs', () => {
    const after = DEFAULT_POLICY.replace('suspend: 30d', 'suspend: 7d');
    const d = lineDiff(DEFAULT_POLICY, after);
    expect([d.added, d.removed]).toEqual([1, 1]);
    expect(d.rows.filter((r) => r.kind === 'fold').length).toBeGreaterThan(0);
    expect(d.rows.find((r) => r.kind === 'add')?.text.trim()).toBe('suspend: 7d');
  });
});

describe('what the streamer reads when a browser stream ends', () => {
  it('a suspension shows its end and appeal from the structured ended fields, not from text', () => {
    const ended = endedFields({
      type: 'ended',
      reason: 'suspended',
      message: 'automated moderation found graphic violence in your stream',
      suspension: { endsAt: '2027-01-02T03:04:05.000Z', permanent: false },
      decisionId: 'dec_1',
      appeal: { page: '/broadcast', endpoint: '/api/v1/me/appeals', decisionId: 'dec_1' },
    });
    const e = explainEnd({ code: 4009, closeReason: 'live streaming is suspended until 1999-01-01T00:00:00.000Z', ended });
    expect(e.suspended).toBe(true);
    expect(e.suspendedUntil).toBe('2027-01-02T03:04:05.000Z');
    expect(e.appealable).toBe(true);
    expect(e.decisionId).toBe('dec_1');
    expect(e.words).toBe('automated moderation found graphic violence in your stream');
    expect(explainEnd({ code: 4009, closeReason: '', ended: { ...ended, suspension: { endsAt: null, permanent: true } } }).suspendedUntil).toBe('permanent');
    // A refused publish (suspended before going live) reads as a refusal, with the same fields.
    expect(explainEnd({ code: 4009, closeReason: '', ended: { ...ended, type: 'refused' } }).title).toMatch(/cannot go live/);
  });

  it('maps refusals to plain words without echoing the close text; malformed fields count as absent', () => {
    expect(explainEnd({ code: 4001, closeReason: 'unknown stream key', ended: null }).title).toMatch(/stream key/);
    expect(explainEnd({ code: 4003, closeReason: 'x', ended: null }).body).toMatch(/verified identity/);
    const cut = explainEnd({ code: 4008, closeReason: 'closest distance 3', ended: null });
    expect(`${cut.title} ${cut.body} ${cut.words ?? ''}`).not.toMatch(/distance/);
    const bad = endedFields({ type: 'ended', reason: 7, suspension: { endsAt: 3 }, appeal: 'x' });
    expect(bad).toEqual({ type: 'ended', reason: null, message: null, suspension: null, decisionId: null, appeal: null });
    expect(explainEnd({ code: 4009, closeReason: 'suspended until 2027-01-02T03:04:05.000Z', ended: null }).suspendedUntil).toBeNull();
  });
});

describe('the browser publisher', () => {
  it("holds Chromium's 1-byte first chunk until the header is complete, then passes chunks through", () => {
    const c = new FirstMessageCoalescer<{ size: number; parts?: number }>((parts) => ({ size: parts.reduce((a, p) => a + p.size, 0), parts: parts.length }));
    expect(c.push({ size: 1 })).toEqual([]);
    expect(c.push({ size: 5000 })).toEqual([{ size: 5001, parts: 2 }]);
    expect(c.push({ size: 7 })).toEqual([{ size: 7 }]);
  });

  it('prefers WebM, falls back to fragmented MP4, and says when neither records', () => {
    expect(pickRecorderType((t) => t === 'video/webm')).toEqual({ mimeType: 'video/webm', container: 'webm' });
    expect(pickRecorderType((t) => t === 'video/mp4')).toEqual({ mimeType: 'video/mp4', container: 'mp4' });
    expect(pickRecorderType(() => false)).toBeNull();
  });
});

const decision = (
  id: string,
  priority: Decision['review']['priority'],
  decidedAt: string,
  actions: Decision['actions'] = { cut: true },
  shadow = false,
): Decision => ({
  id,
  streamId: `str_${id}`,
  accountId: 'acc_1',
  account: { id: 'acc_1', handle: 'alice' },
  ruleId: 'r',
  policyVersion: 'p@1',
  shadow,
  actions,
  reason: '',
  decidedAt,
  decidedBy: 'policy:r',
  review: { status: 'pending', priority, by: null, at: null, reason: null },
  evidence: [],
  detail: '',
});

describe('the review queue order', () => {
  it('is most urgent first, then oldest first; after a review the next item takes its place', () => {
    const q = queueOrder([
      decision('a', 'normal', '2026-01-01T00:00:00Z'),
      decision('b', 'urgent', '2026-01-01T00:05:00Z'),
      decision('c', 'urgent', '2026-01-01T00:01:00Z'),
      decision('d', 'high', '2026-01-01T00:00:00Z'),
    ]);
    expect(q.map((d) => d.id)).toEqual(['c', 'b', 'd', 'a']);
    expect(nextAfter(q, 'b')).toBe('d');
    expect(nextAfter(q, 'a')).toBe('d');
  });
});

describe('a hash list checked in the browser', () => {
  it('reports each bad line with its number, as the CLI does', () => {
    const h = 'a'.repeat(64);
    const p = parseHashList(`hash,note\n${h},ok\nnot-a-hash,bad\n${'b'.repeat(64)},fine\n`);
    expect(p.format).toBe('csv');
    expect(p.entries.map((e) => e.line)).toEqual([2, 4]);
    expect(p.errors.map((e) => e.line)).toEqual([3]);
    expect(p.lines).toBe(4);
  });
});

describe("a stream's timeline and a match's bit grid", () => {
  it('samples and stored signals of the same moment merge into one point; a match keeps the smallest distance', () => {
    const at = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s)).toISOString();
    const samples: Array<{ at: string; scores: Record<string, Record<string, number>>; nearestBankDistance: number | null }> = [
      { at: at(1), scores: { nsfw: { unsafe: 0.2 } }, nearestBankDistance: null },
      { at: at(2), scores: {}, nearestBankDistance: 20 },
    ];
    const signals = [
      {
        id: 1,
        observedAt: at(2),
        frameTimeMs: 2000,
        source: 'hash_match',
        label: 'tve',
        score: null,
        match: { bank: 'tve', entryId: 'bke_1', distance: 6, variant: 'flipX', region: null },
        version: 'pdq',
        evidence: null,
      },
      { id: 2, observedAt: at(3), frameTimeMs: 3000, source: 'violence', label: 'violence', score: 0.9, match: null, version: 'v', evidence: null },
    ];
    const points = timelinePoints(samples, signals);
    expect(points).toEqual([
      { t: Date.parse(at(1)), scores: { 'nsfw/unsafe': 0.2 }, distance: null },
      { t: Date.parse(at(2)), scores: {}, distance: 6 },
      { t: Date.parse(at(3)), scores: { 'violence/violence': 0.9 }, distance: null },
    ]);
  });

  it('the differing bits of two PDQ hashes are counted bit by bit, and anything but two hashes gives none', () => {
    const a = '0'.repeat(64);
    const b = `f${'0'.repeat(62)}1`;
    const bits = differingBits(a, b)!;
    expect(bits).toHaveLength(256);
    expect(bits.filter(Boolean)).toHaveLength(5);
    expect(bits.slice(0, 4)).toEqual([true, true, true, true]);
    expect(bits[255]).toBe(true);
    expect(differingBits(a, 'xyz')).toBeNull();
  });
});
