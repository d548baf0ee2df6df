import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HashBankIndex } from '../../classifiers/bank-index.ts';
import { COPY_SIGNAL_TYPE } from '../../classifiers/bank-store.ts';
import { CopyBankIndex } from '../../classifiers/copy/bank-index.ts';
import { openLocalDescriber } from '../../classifiers/copy/embedder.ts';
import { parseDescriptorText, Whitening } from '../../classifiers/copy/whitening.ts';
import type { Frame } from '../../classifiers/frame.ts';
import { hamming, PdqHasher, toHex } from '../../classifiers/pdq.ts';
import { RegionHasher } from '../../classifiers/region-hashes.ts';
import { cropImage, resizeImage, type RgbImage } from '../../classifiers/regions.ts';
import { SqlBankStore } from '../../gateway/banks/store.ts';
import { CONFIRMED_BANK, confirmDecision } from '../../gateway/enforcement/review.ts';
import { EvidenceStore } from '../../gateway/evidence/store.ts';
import { decodeImage } from '../../gateway/media/image/decode.ts';
import { thumbnailFromFrame } from '../../gateway/media/thumbnail.ts';
import { BUILTIN_WHITENING } from '../../gateway/pipeline/copy-descriptor.ts';
import { openStore, type Store } from '../../gateway/store/db.ts';
import { packagePath } from '../../package/root.ts';
import { bankedPictures } from '../fixtures/evasion/transforms.ts';
import { cutDecisionRow } from '../helpers/decision-row.ts';

/**
 * A moderator confirms a decision with "add to the confirmed bank" (issue 12, 2a: confirmed decisions store
 * the derived crops too): the evidence frame is banked with the crop set a banked picture gets, built from
 * the evidence JPEG the moderator saw, and with its copy descriptor views — so a cropped re-stream of that
 * footage by another account matches the confirmed entry, not only an exact re-stream.
 */

const MODEL_MANIFEST = packagePath('models', 'nsfw', 'manifest.json');
const haveModel = existsSync(packagePath('models', 'nsfw', 'nsfw-mobilenet-v2.onnx')) && existsSync(BUILTIN_WHITENING);
if (!haveModel) console.warn('confirmed-bank copy views skipped: the nsfw model (npm install) or models/copy/whitening.json is missing');

const dir = mkdtempSync(path.join(tmpdir(), 'modgate-confirm-regions-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function frameOf(file: string, streamId: string, seq: number): Frame & RgbImage {
  const r = decodeImage('jpeg', new Uint8Array(readFileSync(file)));
  if (r.channels !== 3) throw new Error('expected an RGB test picture');
  // As the sampler delivers it: fitted into the 512×288 analysis frame.
  const img = resizeImage({ rgb: r.data, width: r.width, height: r.height }, 512, 288);
  return { streamId, seq, mediaTimeMs: seq * 100, receivedAt: Date.now(), width: img.width, height: img.height, rgb: Buffer.from(img.rgb) };
}

let seq = 0;
async function decisionCiting(store: Store, refs: string[]): Promise<string> {
  const id = `dec_confirm${seq++}`;
  await store.db
    .insertInto('decisions')
    .values(cutDecisionRow({ id, streamId: 'str_violator', accountId: 'acc_violator', refs }))
    .execute();
  return id;
}

describe('confirming a decision into the confirmed bank', () => {
  let store: Store;
  let evidence: EvidenceStore;
  beforeAll(async () => {
    store = await openStore(`sqlite:${path.join(dir, 'modgate.sqlite')}`);
    // The gateway's own evidence encoder (gateway/server.ts): a 256-px JPEG of the frame.
    evidence = new EvidenceStore(
      { dir: path.join(dir, 'evidence'), liveRetentionMs: 3600_000, decisionRetentionMs: 86400_000 },
      (f) => thumbnailFromFrame(f).jpeg,
    );
  });
  afterAll(async () => store?.close());

  it('banks the evidence frame with its centre crops and tiles, and a cropped re-stream of it matches the confirmed entry', async () => {
    const frame = frameOf(bankedPictures()[1]!, 'str_violator', 1);
    const whole = new PdqHasher().fromRgb(frame.rgb, frame.width, frame.height);
    const ref = await evidence.save(frame, { pdq: { hash: toHex(whole.hash), quality: whole.quality }, matches: [] });
    const id = await decisionCiting(store, [ref]);

    const res = await confirmDecision(store.db, 'moderator:alice', id, { reason: 'confirmed TVE', addToBank: true, evidence: [(await evidence.read(ref))!] });
    expect(res.bankAdded).toBe(1);
    const rows = await store.db.selectFrom('bank_entries').selectAll().where('bank', '=', CONFIRMED_BANK).execute();
    const parent = rows.filter((r) => r.derived_from === null);
    expect(parent.map((r) => r.hash)).toEqual([toHex(whole.hash)]);
    const derived = rows.filter((r) => r.derived_from === parent[0]!.id);
    expect(derived.length).toBe(rows.length - 1);
    expect(derived.map((r) => r.region)).toEqual(expect.arrayContaining(['centre-90', 'centre-80', 'centre-70', 'tile-tl', 'band-bottom']));
    expect(derived.every((r) => r.signal_type === 'pdq' && r.source === `decision:${id}`)).toBe(true);
    const audit = await store.db.selectFrom('audit_log').select(['action', 'detail']).where('action', '=', 'bank.entries.derive').execute();
    expect(audit.length).toBe(1);

    // Another account re-streams the same footage cropped by 10 % per side: the whole frame's hash is far
    // from the confirmed one (PDQ's nature), the banked centre crop is near.
    const crop = resizeImage(cropImage(frame, { x: 51, y: 29, w: 410, h: 230 }), 512, 288);
    const live = new RegionHasher().live(crop, { tiles: false, inner: false, dihedral: false })[0]!;
    expect(hamming(live.result.hash, whole.hash)).toBeGreaterThan(31);
    const index = new HashBankIndex(new SqlBankStore(store.db, store.dialect));
    await index.loadAll();
    const [m] = index.match([{ variant: 'original', hash: live.result.hash }]);
    expect(m).toMatchObject({ bank: CONFIRMED_BANK, entryId: parent[0]!.id });
    expect(m!.entryRegion).toMatch(/^centre-/);
  });

  it('an evidence file that does not decode still banks the frame hash, with nothing derived', async () => {
    const hash = 'a5'.repeat(32);
    const id = await decisionCiting(store, []);
    const res = await confirmDecision(store.db, 'moderator:alice', id, {
      reason: 'confirmed',
      addToBank: true,
      evidence: [{ facts: { pdq: { hash, quality: 90 } }, jpeg: Buffer.from('not a jpeg') }],
    });
    expect(res.bankAdded).toBe(1);
    const rows = await store.db.selectFrom('bank_entries').select(['id', 'derived_from']).where('source', '=', `decision:${id}`).execute();
    expect(rows.map((r) => r.derived_from)).toEqual([null]);
  });

  it.skipIf(!haveModel)(
    'with the copy descriptor running, banks its views: the live descriptor for the whole frame, the thumbnail for the others',
    async () => {
      const local = await openLocalDescriber(MODEL_MANIFEST, BUILTIN_WHITENING);
      try {
        const frame = frameOf(bankedPictures()[2]!, 'str_violator', 2);
        const whole = new PdqHasher().fromRgb(frame.rgb, frame.width, frame.height);
        // What the live matcher puts in the evidence facts: the frame's own descriptor (classifiers/copy/matcher.ts).
        const liveViews = await local.describer.describe(frame);
        const liveText = liveViews.find((v) => v.region === COPY_SIGNAL_TYPE)!.text;
        const ref = await evidence.save(frame, { pdq: { hash: toHex(whole.hash), quality: whole.quality }, copy: { descriptor: liveText } });
        const id = await decisionCiting(store, [ref]);
        await confirmDecision(store.db, 'moderator:alice', id, {
          reason: 'confirmed TVE',
          addToBank: true,
          evidence: [(await evidence.read(ref))!],
          describer: local.describer,
        });
        const copies = await store.db
          .selectFrom('bank_entries')
          .select(['region', 'hash', 'derived_from'])
          .where('source', '=', `decision:${id}`)
          .where('signal_type', '=', COPY_SIGNAL_TYPE)
          .execute();
        expect(copies.map((c) => c.region).sort()).toEqual(liveViews.map((v) => v.region).sort());
        expect(copies.find((c) => c.region === COPY_SIGNAL_TYPE)!.hash).toBe(liveText);
        expect(copies.every((c) => c.derived_from !== null)).toBe(true);

        // The copy index finds the confirmed content from a descriptor of the frame.
        const w = await Whitening.load(BUILTIN_WHITENING);
        const index = new CopyBankIndex(new SqlBankStore(store.db, store.dialect), w.id, w.outputDim);
        await index.loadAll();
        const [best] = index.match(parseDescriptorText(liveText, w.id, w.outputDim)!, 0.5);
        expect(best).toMatchObject({ bank: CONFIRMED_BANK, category: 'confirmed' });
        expect(best!.similarity).toBeGreaterThan(0.99);
      } finally {
        await local.close();
      }
    },
    120_000,
  );
});
