import type { Kysely } from 'kysely';
import { COPY_SIGNAL_TYPE } from '../../classifiers/bank-store.ts';
import type { CopyDescriber, CopyView } from '../../classifiers/copy/describer.ts';
import { PDQ_MIN_QUALITY, PdqHasher } from '../../classifiers/pdq.ts';
import { hashMedia, hashRaster, type RegionHashText } from '../media/hash-file.ts';
import { decodeImage } from '../media/image/decode.ts';
import { MediaError, NotInProcess } from '../media/image/raster.ts';
import { DomainError } from '../errors.ts';
import { newId } from '../security/secrets.ts';
import { appendAudit } from '../store/audit.ts';
import type { Database } from '../store/schema.ts';
import { addEntries, getBank } from './manage.ts';
import { PICTURE_MAX_WIDTH, saveEntryPicture } from './pictures.ts';
import type { NewEntry } from './schema.ts';
import { recordBankChange } from './store.ts';

/**
 * Banking content with its derived entries: besides the picture's own hash (the entry, as Meta's tools make
 * it), the hashes of a fixed set of its crops (classifiers/regions.ts: the picture inside uniform borders,
 * centre crops at 90/80/70 %, overlapping tiles), each stored as an entry of its own marked `derived_from`
 * the entry and with its `region`. The live index reports a derived entry's match against the entry, so a
 * decision names the banked content and says which crop of it matched.
 */

export interface DerivedResult {
  entryId: string | null;
  added: boolean;
  derived: number;
  /** Copy descriptor entries stored beside the PDQ ones (classifiers/copy), 0 when no describer was given. */
  copy: number;
}

/**
 * Adds one entry and its derived regions in one transaction. Regions below `minQuality` (a flat sky tile)
 * are left out: they would match anything flat. Re-banking the same picture adds nothing.
 */
export async function addEntryWithRegions(
  db: Kysely<Database>,
  actor: string,
  bankName: string,
  entry: NewEntry,
  regions: readonly RegionHashText[],
  opts: { source?: string; minQuality?: number; copy?: readonly CopyView[] } = {},
): Promise<DerivedResult> {
  const res = await addEntries(db, actor, bankName, [entry], opts.source ? { source: opts.source } : {});
  const parent = res.ids[0];
  if (!parent) return { entryId: null, added: false, derived: 0, copy: 0 };
  const minQ = opts.minQuality ?? PDQ_MIN_QUALITY;
  const usable = regions.filter((r) => r.quality >= minQ && r.hash !== entry.hash.toLowerCase());
  const copy = opts.copy ?? [];
  if (usable.length === 0 && copy.length === 0) return { entryId: parent, added: true, derived: 0, copy: 0 };
  return db.transaction().execute(async (trx) => {
    const bank = await getBank(trx, bankName);
    const now = Date.now();
    const base = await trx.selectFrom('bank_entries').select(['category', 'severity', 'source']).where('id', '=', parent).executeTakeFirstOrThrow();
    const rows = [
      ...usable.map((r) => ({ region: r.region, hash: r.hash, signal_type: 'pdq' })),
      ...copy.map((c) => ({ region: c.region, hash: c.text, signal_type: COPY_SIGNAL_TYPE })),
    ].map((r) => ({
      id: newId('bkd', now),
      signal_type: r.signal_type,
      bank: bank.name,
      hash: r.hash,
      category: base.category,
      severity: base.severity,
      source: base.source,
      note: `${r.region} of ${parent}`,
      added_by: actor,
      added_at: now,
      enabled: 1,
      derived_from: parent,
      region: r.region,
    }));
    const inserted = await trx
      .insertInto('bank_entries')
      .values(rows)
      .onConflict((oc) => oc.columns(['bank', 'hash']).doNothing())
      .returning(['id', 'signal_type'])
      .execute();
    const copies = inserted.filter((r) => r.signal_type === COPY_SIGNAL_TYPE).length;
    await appendAudit(trx, {
      actor,
      action: 'bank.entries.derive',
      targetType: 'bank',
      targetId: bank.name,
      detail: { entryId: parent, derived: inserted.length - copies, copy: copies, regions: [...usable.map((r) => r.region), ...copy.map((c) => c.region)] },
      at: now,
    });
    // One bank-level change: the indexes reload the bank once for the entry, its regions and descriptors.
    await recordBankChange(trx, bank.name, null, now);
    return { entryId: parent, added: true, derived: inserted.length - copies, copy: copies };
  });
}

/** Banks a picture file: its hash as the entry, its regions as derived entries. Videos: use the vPDQ import. */
export async function bankPictureFile(
  db: Kysely<Database>,
  actor: string,
  bankName: string,
  file: string,
  opts: { source?: string; note?: string; copy?: CopyDescriber } = {},
): Promise<DerivedResult & { hash: string; quality: number }> {
  const h = await hashMedia(file, { regions: true, thumbnail: { maxWidth: PICTURE_MAX_WIDTH }, pixels: opts.copy !== undefined });
  if (h.kind !== 'image') throw new DomainError('invalid', 'a video: bank its frames with `modgate hash` and `bank import --format vpdq`');
  const copy = opts.copy && h.pixels ? await opts.copy.describe(h.pixels) : [];
  const r = await addEntryWithRegions(db, actor, bankName, { hash: h.hash, ...(opts.note ? { note: opts.note } : {}) }, h.regions ?? [], {
    ...(opts.source ? { source: opts.source } : {}),
    copy,
  });
  if (r.added && r.entryId && h.thumbnail) await saveEntryPicture(db, r.entryId, { ...h.thumbnail, origin: 'picture' });
  return { ...r, hash: h.hash, quality: h.quality };
}

/**
 * What a confirmed decision's evidence frame adds to the bank beside its PDQ hash (issue 12, 2a: "imports
 * and confirmed decisions store the derived crops"): the crop set of the frame kept as evidence (the JPEG
 * thumbnail the moderator confirmed; brought back to the analysis size, as a banked picture is) and, with a
 * describer, its copy descriptor views. An evidence file that does not decode yields nothing derived: the
 * confirmation still banks the frame's hash.
 */
export async function evidenceFrameDerived(jpeg: Buffer, describer?: CopyDescriber): Promise<{ regions: RegionHashText[]; copy: CopyView[] }> {
  let h;
  try {
    h = hashRaster(decodeImage('jpeg', new Uint8Array(jpeg.buffer, jpeg.byteOffset, jpeg.byteLength)), new PdqHasher(), {
      regions: true,
      pixels: describer !== undefined,
    });
  } catch (err) {
    if (err instanceof MediaError || err instanceof NotInProcess) return { regions: [], copy: [] };
    throw err;
  }
  // The model pool refusing (queue full under load) costs the thumbnail's views, not the confirmation: the
  // frame's hash, its crops and the live descriptor from its facts are banked regardless.
  const copy = describer && h.pixels ? await describer.describe(h.pixels).catch(() => []) : [];
  return { regions: h.regions ?? [], copy };
}
