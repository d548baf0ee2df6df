/**
 * `npm run bench`: runs every benchmark suite under scripts/bench/ and writes their figures to
 * BENCHMARKS.results.md (and prints them). Each figure carries its baseline, measured in the same run.
 *
 *   npm run bench                      # all suites, full size
 *   npm run bench -- --quick           # smaller sizes (a few minutes)
 *   npm run bench -- pdq hash-index    # only these suites
 */
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import type { BenchResult } from './bench/types.ts';

const SUITES = [
  'pdq',
  'cli',
  'hash',
  'hash-index',
  'bank-import',
  'policy',
  'onnx',
  'sampler',
  'gateway',
  'nginx-rtmp',
  'pipeline',
  'hooks',
  'cross-node',
  'cross-node-bank',
  'outage',
  'evasion',
  'copy',
  'evasion-copy',
  'console',
  'retro-scan',
  'video-match',
  'exchange-push',
  'hma-lookup',
  // Only when named (`npm run bench -- soak`): it runs for MODGATE_SOAK_MINUTES (default 30).
  'soak',
  // Only when named: rounds of stream lifecycles with a heap snapshot of each node after each round.
  'memory',
] as const;

const ON_DEMAND: readonly string[] = ['soak', 'memory'];

function machine(): string {
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  return `${os.cpus().length} × ${cpu}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}, ${os.platform()} ${os.release()}`;
}

function fmt(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  return a >= 1000 ? v.toFixed(0) : a >= 10 ? v.toFixed(1) : a >= 0.1 ? v.toFixed(2) : v.toPrecision(3);
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const quick = args.includes('--quick');
  const wanted = args.filter((a) => !a.startsWith('--'));
  const suites = wanted.length ? SUITES.filter((s) => wanted.includes(s)) : SUITES.filter((s) => !ON_DEMAND.includes(s));
  const lines = [
    `# Benchmark results`,
    '',
    `- command: \`npm run bench --${quick ? ' --quick' : ''}${wanted.length ? ` ${wanted.join(' ')}` : ''}\``,
    `- machine: ${machine()}`,
    `- date: ${new Date().toISOString()}`,
    '',
  ];
  let failed = 0;
  for (const suite of suites) {
    let mod: { run: (o: { quick: boolean }) => Promise<BenchResult[]> };
    try {
      mod = (await import(`./bench/${suite}.ts`)) as typeof mod;
    } catch (err) {
      lines.push(`## ${suite}`, '', `(not available: ${(err as Error).message.split('\n')[0]})`, '');
      continue;
    }
    process.stderr.write(`== ${suite}\n`);
    const started = Date.now();
    try {
      const results = await mod.run({ quick });
      lines.push(
        `## ${suite} (${((Date.now() - started) / 1000).toFixed(0)} s)`,
        '',
        '| figure | value | unit | baseline (same run) | ratio | note |',
        '|---|---:|---|---|---:|---|',
      );
      for (const r of results) {
        const ratio = r.baseline && r.baseline.value !== 0 ? `${fmt(r.value / r.baseline.value)}×` : '';
        lines.push(
          `| ${r.name} | ${fmt(r.value)} | ${r.unit} | ${r.baseline ? `${r.baseline.name}: ${fmt(r.baseline.value)}` : ''} | ${ratio} | ${r.note ?? ''} |`,
        );
      }
      lines.push('');
    } catch (err) {
      failed++;
      lines.push(`## ${suite}`, '', `FAILED: ${(err as Error).stack ?? String(err)}`, '');
    }
  }
  const text = lines.join('\n');
  writeFileSync('BENCHMARKS.results.md', `${text}\n`);
  process.stdout.write(`${text}\n`);
  if (failed) process.exitCode = 1;
}

await main();
