import { createReadStream } from 'node:fs';
import type { Command } from 'commander';
import { readHashListStream } from '../banks/read-list.ts';
import type { HashListFormat } from '../../classifiers/hashlist-format.ts';
import type { BankListFormat } from '../banks/videos.ts';
import { PDQ_MIN_QUALITY } from '../../classifiers/pdq.ts';
import type { CliKit } from './kit.ts';

const manage = () => import('../banks/manage.ts');

/**
 * Reads a hash-list file line by line: a million lines never sit in memory as text. Entries whose line
 * carries a PDQ quality below `minQuality` (vPDQ frames, `modgate hash` output) are counted, not kept:
 * they hold too little structure to match on (vPDQ and the live matcher skip them too).
 */
export async function readHashList(file: string, format: HashListFormat | undefined, onLine?: (n: number) => void, minQuality = 0, framesAsPhotos = false) {
  const { entries, videos, errors, lowQuality } = await readHashListStream(file === '-' ? process.stdin : createReadStream(file), {
    ...(format ? { format } : {}),
    minQuality,
    framesAsPhotos,
    ...(onLine ? { onLine } : {}),
  });
  return { entries, videos, errors, lowQuality };
}

export function registerBankCommands(program: Command, kit: CliKit): void {
  const bank = program.command('bank').description('banks of known violating content (PDQ hashes)');
  kit
    .withGlobals(bank.command('create <name>').description('create a bank'))
    .requiredOption('--category <c>', 'category of its entries, e.g. terrorist-violent-extremism')
    .option('--severity <s>', 'low | medium | high | critical', 'critical')
    .option('--radius <n>', 'Hamming radius for matches (default 31)', (v) => Number(v))
    .option('--description <text>')
    .action(async (name: string, opts: { category: string; severity: 'critical'; radius?: number; description?: string }) =>
      kit.withStore(opts, async ({ db }) => {
        const { createBank } = await manage();
        const b = await createBank(db, kit.actor(), {
          name,
          category: opts.category,
          severity: opts.severity,
          radius: opts.radius,
          description: opts.description,
        });
        kit.out(opts, b, `bank ${b.name} created (category ${b.default_category}, radius ${b.radius})`);
      }),
    );
  kit
    .withGlobals(
      bank
        .command('import <name> <file>')
        .description(
          'import a hash list (plain hex, HMA "pdq <hex>", CSV with a header, `modgate hash` "hex,quality,file" lines, or vPDQ "hex,quality,timestamp" lines: each video one entry); - reads stdin',
        ),
    )
    .option('--format <f>', 'plain | hma | csv | vpdq (default: detected from the first line)')
    .option('--source <text>', 'where the list came from (kept on each entry)')
    .option('--min-quality <n>', `skip lines whose PDQ quality is below this (lines that carry one)`, (v) => Number(v), PDQ_MIN_QUALITY)
    .option('--frames-as-photos', 'bank each frame of a vPDQ video as its own picture entry (the older reading: any one frame then matches by itself)')
    .action(async (name: string, file: string, opts: { format?: HashListFormat; source?: string; minQuality: number; framesAsPhotos?: boolean }) =>
      kit.withStore(opts, async (store) => {
        const tty = process.stderr.isTTY;
        const { entries, videos, errors, lowQuality } = await readHashList(
          file,
          opts.format,
          (n) => tty && process.stderr.write(`\rread ${n} lines`),
          opts.minQuality,
          opts.framesAsPhotos === true,
        );
        const [{ importEntries }, { addVideos }] = await Promise.all([import('../banks/bulk-import.ts'), import('../banks/videos.ts')]);
        const source = opts.source ?? file;
        const result =
          entries.length > 0 || videos.length === 0
            ? await importEntries(store, kit.actor(), name, entries, {
                source,
                onProgress: (done) => tty && process.stderr.write(`\rimported ${done}/${entries.length}   `),
              })
            : { added: 0, duplicates: 0 };
        const video = videos.length > 0 ? await addVideos(store.db, kit.actor(), name, videos, { source }) : { added: 0, duplicates: 0, ids: [] };
        if (tty) process.stderr.write('\n');
        kit.out(
          opts,
          {
            bank: name,
            valid: entries.length,
            added: result.added,
            duplicates: result.duplicates,
            videos: { valid: videos.length, added: video.added, duplicates: video.duplicates, ids: video.ids, frames: videos.map((v) => v.frames.length) },
            lowQuality,
            invalid: errors,
          },
          [
            `${name}: ${result.added} added, ${result.duplicates} already present, ${errors.length} invalid line(s)${lowQuality ? `, ${lowQuality} skipped (quality below ${opts.minQuality})` : ''}`,
            ...(videos.length > 0
              ? [`${name}: ${video.added} video(s) added, ${video.duplicates} already present (${videos.map((v) => v.frames.length).join(', ')} frame(s))`]
              : []),
            ...errors.slice(0, 50).map((e) => `  ${e.reason}`),
            ...(errors.length > 50 ? [`  … and ${errors.length - 50} more (use --json for all)`] : []),
          ].join('\n'),
        );
        if (errors.length > 0) process.exitCode = 3;
      }),
    );
  kit
    .withGlobals(
      bank
        .command('add-picture <name> <files...>')
        .description('bank pictures with their derived regions (trimmed, centre crops, tiles), so cropped, captioned or framed re-streams still match'),
    )
    .option('--source <text>', 'where the pictures came from (kept on each entry)')
    .option('--no-copy', 'PDQ only: skip the learned copy descriptor entries (classifiers/copy)')
    .action(async (name: string, files: string[], opts: { source?: string; copy: boolean }) =>
      kit.withStore(opts, async ({ db }) => {
        const [{ bankPictureFile }, { openCliDescriber }] = await Promise.all([import('../banks/derive.ts'), import('../pipeline/copy-descriptor.ts')]);
        // The copy descriptor needs the model it was fit on; without it the pictures are banked by PDQ alone.
        const local = opts.copy ? await openCliDescriber(await kit.config(opts)) : null;
        const results = [];
        try {
          for (const file of files)
            results.push({
              file,
              ...(await bankPictureFile(db, kit.actor(), name, file, { source: opts.source ?? file, ...(local ? { copy: local.describer } : {}) })),
            });
        } finally {
          await local?.close();
        }
        kit.out(
          opts,
          { bank: name, pictures: results },
          results
            .map(
              (r) =>
                `${r.file}: ${r.added ? `added ${r.entryId} with ${r.derived} derived region(s) and ${r.copy} copy descriptor(s)` : 'already in the bank'} (pdq ${r.hash}, quality ${r.quality})`,
            )
            .join('\n'),
        );
      }),
    );
  kit
    .withGlobals(bank.command('export <name>').description('write the enabled entries to stdout (vpdq: the videos, the other formats: the pictures)'))
    .option('--format <f>', 'plain | hma | csv | vpdq', 'csv')
    .option('--include-disabled')
    .action(async (name: string, opts: { format: BankListFormat; includeDisabled?: boolean }) =>
      kit.withStore(opts, async ({ db }) => {
        const { bankListText } = await import('../banks/videos.ts');
        const { text, leftOut } = await bankListText(db, name, opts.format, opts.includeDisabled);
        process.stdout.write(text);
        if (leftOut > 0)
          process.stderr.write(
            `${leftOut} ${opts.format === 'vpdq' ? 'picture' : 'video'} entr${leftOut === 1 ? 'y' : 'ies'} not written (${opts.format === 'vpdq' ? 'use --format csv, plain or hma' : 'use --format vpdq'})\n`,
          );
      }),
    );
  kit.withGlobals(bank.command('list').description('list banks')).action(async (opts: object) =>
    kit.withStore(opts, async ({ db }) => {
      const { listBanks } = await manage();
      const banks = await listBanks(db);
      kit.out(
        opts,
        banks,
        banks
          .map(
            (b) =>
              `${b.name.padEnd(32)} ${b.enabled ? 'enabled ' : 'disabled'} ${String(b.enabledEntries).padStart(9)} entries  ${b.default_category} r=${b.radius}`,
          )
          .join('\n') || '(no banks)',
      );
    }),
  );
  for (const [verb, on] of [
    ['disable', false],
    ['enable', true],
  ] as const) {
    kit
      .withGlobals(bank.command(`${verb} <name>`).description(`${verb} a bank (applies to live matching at once)`))
      .option('--reason <text>')
      .action(async (name: string, opts: { reason?: string }) =>
        kit.withStore(opts, async ({ db }) => {
          const { setBankEnabled } = await manage();
          await setBankEnabled(db, kit.actor(), name, on, opts.reason ?? null);
          kit.out(opts, { bank: name, enabled: on }, `bank ${name} ${verb}d`);
        }),
      );
  }
}
