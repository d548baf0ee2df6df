import { createHash } from 'node:crypto';
import type { Kysely } from 'kysely';
import { serializeHashList, type HashListExportFormat } from '../../classifiers/hashlist-format.ts';
import { parseVpdqFrames, serializeVpdqFile, serializeVpdqFrames, VPDQ_SIGNAL_TYPE, type VpdqFrame } from '../../classifiers/vpdq/frames.ts';
import { newId } from '../security/secrets.ts';
import type { Database, NewBankEntry } from '../store/schema.ts';
import { exportEntries, getBank, recordAdded } from './manage.ts';

/**
 * Videos in banks (vPDQ): one entry per video, signal type `vpdq`, its frames in `frames` (migration
 * 0033), matched live by a stream's recent frames (classifiers/vpdq). The entry's `hash` is its identity,
 * `vpdq:` and the sha256 of its frame lines, so importing the same video twice is a no-op as for pictures.
 */

export interface VideoImport {
  /** The file the frames came from (the `# FILE: vPDQ` comment `modgate hash` prints), when known. */
  name: string | null;
  /** 1-based line of its first frame. */
  line: number;
  /** Frames kept (quality at or above the import's minimum). */
  frames: VpdqFrame[];
}

export function videoIdentity(frames: readonly VpdqFrame[]): string {
  return `vpdq:${createHash('sha256').update(serializeVpdqFrames(frames)).digest('hex')}`;
}

/** Adds videos in one transaction; a video already in the bank (same frames) is left as it is. Audited, one change-feed record. */
export async function addVideos(
  db: Kysely<Database>,
  actor: string,
  bankName: string,
  videos: readonly VideoImport[],
  opts: { source?: string } = {},
): Promise<{ added: number; duplicates: number; ids: string[] }> {
  return db.transaction().execute(async (trx) => {
    const bank = await getBank(trx, bankName);
    const now = Date.now();
    const ids: string[] = [];
    for (const v of videos) {
      const row: NewBankEntry = {
        id: newId('bke', now),
        bank: bankName,
        hash: videoIdentity(v.frames),
        category: bank.default_category,
        severity: bank.default_severity,
        source: opts.source ?? null,
        note: v.name,
        added_by: actor,
        added_at: now,
        enabled: 1,
        derived_from: null,
        region: null,
        signal_type: VPDQ_SIGNAL_TYPE,
        frames: serializeVpdqFrames(v.frames),
      };
      const fresh = await trx
        .insertInto('bank_entries')
        .values(row)
        .onConflict((oc) => oc.columns(['bank', 'hash']).doNothing())
        .returning('id')
        .execute();
      for (const r of fresh) ids.push(r.id);
    }
    await recordAdded(trx, {
      actor,
      bank: bankName,
      ids,
      offered: videos.length,
      source: opts.source ?? null,
      at: now,
      detail: { signalType: VPDQ_SIGNAL_TYPE },
    });
    return { added: ids.length, duplicates: videos.length - ids.length, ids };
  });
}

export type BankListFormat = HashListExportFormat | 'vpdq';

/**
 * A bank as a list file: `vpdq` writes its videos (as `modgate hash` prints them, so `bank import` reads
 * them back as the same entries), the other formats its pictures' PDQ hashes. Each format leaves the other
 * kind out: a video is no single hash. Returns the text and how many entries of the other kind were left out.
 */
export async function bankListText(
  db: Kysely<Database>,
  bank: string,
  format: BankListFormat,
  includeDisabled = false,
): Promise<{ text: string; leftOut: number }> {
  const records = [];
  const videos: Array<{ name: string; frames: VpdqFrame[] }> = [];
  let leftOut = 0;
  for await (const e of exportEntries(db, bank, includeDisabled)) {
    const video = e.signal_type === VPDQ_SIGNAL_TYPE;
    if (video !== (format === 'vpdq')) leftOut++;
    else if (video) videos.push({ name: e.note ?? e.id, frames: parseVpdqFrames(e.frames ?? '') ?? [] });
    else records.push({ hash: e.hash, category: e.category, severity: e.severity, note: e.note ?? undefined, source: e.source ?? undefined });
  }
  return { text: format === 'vpdq' ? serializeVpdqFile(videos) : serializeHashList(records, format), leftOut };
}
