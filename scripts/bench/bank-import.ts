/**
 * Hash-list import: lines parsed (classifiers/hashlist-format.ts) and written to a SQLite bank in one
 * transaction, as `modgate bank import` does. The figure is the prepared-statement bulk path
 * (importEntries); the baseline is the kysely batch path (addEntries) on the same lines, same run.
 *
 *   node --import tsx scripts/bench/bank-import.ts [--quick]
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { importEntries } from '../../gateway/banks/bulk-import.ts';
import { addEntries, createBank } from '../../gateway/banks/manage.ts';
import { readHashList } from '../../gateway/cli/bank-commands.ts';
import { openStore } from '../../gateway/store/db.ts';
import type { BenchResult } from './types.ts';

function cpuMs(start: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(start);
  return (d.user + d.system) / 1000;
}

async function importOnce(file: string, bulk: boolean): Promise<{ parseMs: number; writeMs: number; wallMs: number; added: number }> {
  const dir = mkdtempSync(path.join(tmpdir(), 'modgate-bench-import-'));
  try {
    const store = await openStore(`sqlite:${path.join(dir, 'db.sqlite')}`);
    await createBank(store.db, 'bench', { name: 'bench', category: 'terrorist-violent-extremism' });
    const wall = Date.now();
    let t = process.cpuUsage();
    const { entries, errors } = await readHashList(file, undefined);
    if (errors.length) throw new Error(`unexpected invalid lines: ${errors.length}`);
    const parseMs = cpuMs(t);
    t = process.cpuUsage();
    const res = bulk ? await importEntries(store, 'bench', 'bench', entries) : await addEntries(store.db, 'bench', 'bench', entries);
    const writeMs = cpuMs(t);
    const wallMs = Date.now() - wall;
    await store.close();
    return { parseMs, writeMs, wallMs, added: res.added };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function run(opts: { quick: boolean }): Promise<BenchResult[]> {
  const n = opts.quick ? 200_000 : 1_000_000;
  const nBase = 200_000;
  mkdirSync('.bench', { recursive: true });
  const file = path.join('.bench', `hashes-${n}.txt`);
  const baseFile = path.join('.bench', `hashes-${nBase}.txt`);
  const lines = Array.from({ length: n }, () => randomBytes(32).toString('hex'));
  writeFileSync(file, `${lines.join('\n')}\n`);
  writeFileSync(baseFile, `${lines.slice(0, nBase).join('\n')}\n`);

  const bulk = await importOnce(file, true);
  const bulkSmall = await importOnce(baseFile, true);
  const kysely = await importOnce(baseFile, false);
  const perM = (ms: number, count: number) => ((ms / count) * 1_000_000) / 1000;
  return [
    {
      name: `import ${n.toLocaleString('en')} lines (parse + bulk write, one transaction)`,
      unit: 's CPU',
      value: (bulk.parseMs + bulk.writeMs) / 1000,
      note: `parse ${(bulk.parseMs / 1000).toFixed(1)} s + write ${(bulk.writeMs / 1000).toFixed(1)} s CPU; wall ${(bulk.wallMs / 1000).toFixed(1)} s; ${bulk.added} added`,
    },
    {
      name: `import cost per 1M lines, bulk path (measured at ${nBase.toLocaleString('en')})`,
      unit: 's CPU',
      value: perM(bulkSmall.parseMs + bulkSmall.writeMs, nBase),
      baseline: { name: 'kysely batches of 500 (addEntries), same lines', value: perM(kysely.parseMs + kysely.writeMs, nBase) },
      note: `write only: ${perM(bulkSmall.writeMs, nBase).toFixed(1)} s vs ${perM(kysely.writeMs, nBase).toFixed(1)} s per 1M`,
    },
  ];
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const results = await run({ quick: process.argv.includes('--quick') });
  for (const r of results)
    console.log(
      `${r.name}: ${r.value.toFixed(2)} ${r.unit}${r.baseline ? ` (baseline ${r.baseline.name}: ${r.baseline.value.toFixed(2)})` : ''}${r.note ? ` — ${r.note}` : ''}`,
    );
}
