import { readFileSync } from 'node:fs';

/**
 * Summarises V8 CPU profiles (`node --cpu-prof`, e.g. from MODGATE_BENCH_CPU_PROF with the nginx-rtmp
 * benchmark): the share of busy time (all samples but idle) spent in the garbage collector, in native
 * code and per script, and the top functions by self time.
 *
 *   node --import tsx scripts/bench/cpuprofile-summary.ts PROFILE.cpuprofile [...] [--top 25]
 */

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface ProfileSummary {
  totalMs: number;
  busyMs: number;
  /** Self time per category: (garbage collector), (program), (idle), or the script's path. */
  byCategory: Array<{ name: string; ms: number; shareOfBusy: number }>;
  top: Array<{ name: string; ms: number; shareOfBusy: number }>;
}

function shortUrl(url: string): string {
  if (!url) return '(native)';
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) return url.slice(nm + 'node_modules/'.length);
  const i = url.search(/\/(gateway|classifiers|policy|scripts|test)\//);
  return i >= 0 ? url.slice(i + 1) : url.replace(/^file:\/\//, '');
}

export function summarise(profiles: CpuProfile[], topN = 25): ProfileSummary {
  const self = new Map<string, number>();
  const cat = new Map<string, number>();
  let total = 0;
  for (const p of profiles) {
    const byId = new Map(p.nodes.map((n) => [n.id, n]));
    for (let i = 0; i < p.samples.length; i++) {
      const dt = (p.timeDeltas[i] ?? 0) / 1000;
      const node = byId.get(p.samples[i]!);
      if (!node) continue;
      total += dt;
      const f = node.callFrame;
      const special = f.functionName.startsWith('(') ? f.functionName : null;
      const category = special ?? shortUrl(f.url).split(':')[0]!;
      cat.set(category, (cat.get(category) ?? 0) + dt);
      const name = special ?? `${f.functionName || '(anonymous)'} ${shortUrl(f.url)}:${f.lineNumber + 1}`;
      self.set(name, (self.get(name) ?? 0) + dt);
    }
  }
  const idle = cat.get('(idle)') ?? 0;
  const busy = total - idle;
  const rows = (m: Map<string, number>, n: number) =>
    [...m.entries()]
      .filter(([k]) => k !== '(idle)')
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([name, ms]) => ({ name, ms: Math.round(ms), shareOfBusy: busy > 0 ? ms / busy : 0 }));
  return { totalMs: Math.round(total), busyMs: Math.round(busy), byCategory: rows(cat, 15), top: rows(self, topN) };
}

function main(argv: string[]): void {
  const topAt = argv.indexOf('--top');
  const topN = topAt >= 0 ? Number(argv[topAt + 1]) : 25;
  const files = argv.filter((a, i) => a !== '--top' && (topAt < 0 || i !== topAt + 1));
  if (files.length === 0) {
    process.stderr.write('usage: cpuprofile-summary.ts PROFILE.cpuprofile [...] [--top N]\n');
    process.exitCode = 2;
    return;
  }
  const s = summarise(
    files.map((f) => JSON.parse(readFileSync(f, 'utf8')) as CpuProfile),
    topN,
  );
  const pct = (x: number) => `${(x * 100).toFixed(1)} %`;
  const out = [
    `profiled ${s.totalMs} ms, busy ${s.busyMs} ms (${pct(s.totalMs ? s.busyMs / s.totalMs : 0)} of the time)`,
    '',
    'self time by category (share of busy time):',
  ];
  for (const r of s.byCategory) out.push(`  ${pct(r.shareOfBusy).padStart(7)}  ${String(r.ms).padStart(7)} ms  ${r.name}`);
  out.push('', `top ${topN} functions by self time:`);
  for (const r of s.top) out.push(`  ${pct(r.shareOfBusy).padStart(7)}  ${String(r.ms).padStart(7)} ms  ${r.name}`);
  process.stdout.write(`${out.join('\n')}\n`);
}

if (import.meta.url === `file://${process.argv[1]}`) main(process.argv.slice(2));
