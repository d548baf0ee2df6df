import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { HashBankIndex } from '../../classifiers/bank-index.ts';
import { RegionHasher } from '../../classifiers/region-hashes.ts';
import { cropImage, resizeImage, type RgbImage } from '../../classifiers/regions.ts';
import { bankPictureFile } from '../../gateway/banks/derive.ts';
import { createBank, exportEntries, listBanks, setEntryEnabled } from '../../gateway/banks/manage.ts';
import { SqlBankStore } from '../../gateway/banks/store.ts';
import { decodeImage } from '../../gateway/media/image/decode.ts';
import { openStore, type Store } from '../../gateway/store/db.ts';
import { bankedPictures } from '../fixtures/evasion/transforms.ts';
import { testDatabases } from '../helpers/databases.ts';
import { readFileSync } from 'node:fs';

/**
 * Banked pictures with derived regions, on both backends: the entry and its crops are stored together, the
 * crops point at the entry, follow it when it is disabled, stay out of exports and counts, and a live frame
 * showing only a crop of the picture matches the entry itself.
 */

const { backends } = await testDatabases('bankregions');
const picture = bankedPictures()[0]!;

function rgbOf(file: string): RgbImage {
  const r = decodeImage('jpeg', new Uint8Array(readFileSync(file)));
  if (r.channels !== 3) throw new Error('expected an RGB test picture');
  return { rgb: r.data, width: r.width, height: r.height };
}

for (const backend of backends) {
  describe.skipIf(backend.skip)(`derived bank entries on ${backend.name}`, () => {
    let store: Store;
    beforeEach(async () => {
      store = await openStore(await backend.url());
      await createBank(store.db, 'test', { name: 'tve', category: 'terrorist-violent-extremism' });
    });
    afterEach(async () => {
      await store?.close();
    });

    it('a banked picture stores its entry and its centre crops and tiles, marked as derived from it; banking it again adds nothing', async () => {
      const r = await bankPictureFile(store.db, 'test', 'tve', picture);
      expect(r.added).toBe(true);
      expect(r.derived).toBeGreaterThanOrEqual(8);
      const rows = await store.db.selectFrom('bank_entries').selectAll().orderBy('id').execute();
      const derived = rows.filter((x) => x.derived_from !== null);
      expect(rows.filter((x) => x.derived_from === null).map((x) => x.id)).toEqual([r.entryId]);
      expect(derived.every((x) => x.derived_from === r.entryId && x.region !== null)).toBe(true);
      expect(derived.map((x) => x.region)).toEqual(expect.arrayContaining(['centre-80', 'tile-tl', 'band-bottom']));
      const again = await bankPictureFile(store.db, 'test', 'tve', picture);
      expect(again).toMatchObject({ added: false, derived: 0 });
      // Counts and exports are of the content itself.
      expect((await listBanks(store.db)).find((b) => b.name === 'tve')).toMatchObject({ entries: 1, enabledEntries: 1 });
      const exported = [];
      for await (const e of exportEntries(store.db, 'tve')) exported.push(e.id);
      expect(exported).toEqual([r.entryId]);
    });

    it('a live frame of a 10 % crop matches the banked entry through its centre crop; disabling the entry disables its crops', async () => {
      const r = await bankPictureFile(store.db, 'test', 'tve', picture);
      const index = new HashBankIndex(new SqlBankStore(store.db, store.dialect));
      await index.loadAll();
      const img = rgbOf(picture);
      const crop = resizeImage(cropImage(img, { x: img.width * 0.1, y: img.height * 0.1, w: img.width * 0.8, h: img.height * 0.8 }), 512, 288);
      const live = new RegionHasher().live(crop, { tiles: false, inner: false, dihedral: false })[0]!;
      const [m] = index.match([{ variant: 'original', hash: live.result.hash }]);
      expect(m).toMatchObject({ entryId: r.entryId, entryRegion: 'centre-80' });
      expect(m!.derivedEntryId).toBeDefined();

      await setEntryEnabled(store.db, 'test', 'tve', r.entryId!, false, 'test');
      await index.refresh();
      expect(index.match([{ variant: 'original', hash: live.result.hash }])).toEqual([]);
      const enabled = await store.db.selectFrom('bank_entries').select('id').where('enabled', '=', 1).execute();
      expect(enabled).toEqual([]);
      await setEntryEnabled(store.db, 'test', 'tve', r.entryId!, true, 'test');
      await index.refresh();
      expect(index.match([{ variant: 'original', hash: live.result.hash }])[0]).toMatchObject({ entryId: r.entryId });
    });
  });
}
