/**
 * Policy engine throughput on the live path: 1000 concurrent streams' signals, interleaved as they would
 * arrive, through the incremental `step` (pure engine, default policy). Baseline, measured in the same
 * run: the naive approach, re-running the batch `evaluate` over each stream's growing signal list on every
 * signal. The baseline is quadratic in stream length, so it runs over a subset of the same streams (the
 * same signal lists); per-signal cost does not depend on how many other streams exist.
 *
 *   node --import tsx scripts/bench/policy.ts [--quick]
 */
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Signal } from '../../classifiers/signal.ts';
import { createStreamState, evaluate, step, tick, type Decision, type EngineContext, type StreamState } from '../../policy/engine.ts';
import { loadPolicyFile } from '../../gateway/enforcement/policy-file.ts';
import { formatPolicyError } from '../../policy/load.ts';
import type { Policy } from '../../policy/schema.ts';
import type { BenchResult } from './types.ts';

const STREAMS = 1000;
const BASELINE_STREAMS = 50;
const FRAME_MS = 250;
const T0 = 1_700_000_000_000;

/**
 * Process CPU time in ms. The bench host is shared, so wall time mostly measures the neighbours; CPU time
 * measures the work (it includes GC helper threads, which is fair: allocation is part of the cost).
 */
function cpuMs(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
}

/** Small deterministic PRNG (mulberry32), so every run measures the same workload. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Workload {
  contexts: EngineContext[];
  /** Per stream, its signals in order. */
  perStream: Signal[][];
  /** All signals as they arrive: frames of all streams interleaved. */
  interleaved: { stream: number; signal: Signal }[];
}

/**
 * Mostly benign streams (low violence and nsfw scores with rare one-frame spikes, an occasional far hash
 * match); 2% turn violent half-way (and get cut), 5% show sustained nsfw (reviewed), 10% carry a prior strike.
 */
function makeWorkload(framesPerStream: number): Workload {
  const rand = rng(42);
  const contexts: EngineContext[] = [];
  const perStream: Signal[][] = [];
  for (let s = 0; s < STREAMS; s++) {
    const streamId = `stream-${s}`;
    const startedAt = T0 + s * 37;
    const strikes =
      rand() < 0.1
        ? [
            {
              id: `k-${s}`,
              category: 'graphic-violence',
              severity: 'high' as const,
              ruleId: 'graphic-violence-high',
              at: T0 - 20 * 86_400_000,
              expiresAt: T0 + 70 * 86_400_000,
              voided: false,
            },
          ]
        : [];
    contexts.push({ streamId, accountId: `acct-${s}`, personId: `person-${s}`, startedAt, history: { strikes, suspensions: [] } });
    const violent = rand() < 0.02;
    const nsfw = rand() < 0.05;
    const signals: Signal[] = [];
    for (let f = 0; f < framesPerStream; f++) {
      const frameTimeMs = f * FRAME_MS;
      const observedAt = startedAt + frameTimeMs + 40;
      const base = { streamId, frameTimeMs, version: 'bench@1', evidenceRef: `ev/${s}/${f}` };
      const v = violent && f > framesPerStream / 2 ? 0.9 + rand() * 0.1 : benignScore(rand);
      signals.push({ ...base, observedAt, source: 'violence', label: 'violence', score: v });
      const n = nsfw ? 0.8 + rand() * 0.2 : benignScore(rand);
      signals.push({ ...base, observedAt: observedAt + 3, source: 'nsfw', label: 'unsafe', score: n });
      if (f % 10 === 0) signals.push(farHashMatch(base, observedAt + 5, rand));
    }
    perStream.push(signals);
  }
  return { contexts, perStream, interleaved: interleave(perStream) };
}

/** A classifier on benign content: low scores, with a 1% chance of a noisy single-frame spike. */
function benignScore(rand: () => number): number {
  return rand() < 0.01 ? 0.6 + rand() * 0.39 : rand() ** 3 * 0.5;
}

function farHashMatch(base: { streamId: string; frameTimeMs: number; version: string; evidenceRef: string }, observedAt: number, rand: () => number): Signal {
  return {
    ...base,
    observedAt,
    source: 'hash_match',
    label: 'spam',
    match: {
      bank: 'bank-a',
      entryId: 'e-1',
      distance: 40 + Math.floor(rand() * 30),
      variant: 'original',
      category: 'spam',
      severity: 'low',
      frameHash: '0'.repeat(64),
      quality: 90,
    },
  };
}

/** Round-robin over streams, one frame's signals at a time, as a gateway would see them. */
function interleave(perStream: Signal[][]): { stream: number; signal: Signal }[] {
  const out: { stream: number; signal: Signal }[] = [];
  const cursor = perStream.map(() => 0);
  for (let progressed = true; progressed;) {
    progressed = false;
    perStream.forEach((signals, s) => {
      let i = cursor[s] ?? 0;
      const frame = signals[i]?.frameTimeMs;
      while (i < signals.length && signals[i]?.frameTimeMs === frame) out.push({ stream: s, signal: signals[i++] as Signal });
      if (i !== cursor[s]) progressed = true;
      cursor[s] = i;
    });
  }
  return out;
}

interface RunOutcome {
  ms: number;
  signals: number;
  decisions: Decision[][];
}

/** The live path: one state per stream, step per signal. */
function runIncremental(policy: Policy, w: Workload, streams: number): RunOutcome {
  const states: StreamState[] = w.contexts.slice(0, streams).map(() => createStreamState());
  const decisions: Decision[][] = states.map(() => []);
  let signals = 0;
  const start = cpuMs();
  for (const { stream, signal } of w.interleaved) {
    if (stream >= streams) continue;
    const r = step(policy, states[stream] as StreamState, signal, w.contexts[stream] as EngineContext);
    states[stream] = r.state;
    if (r.decisions.length > 0) (decisions[stream] as Decision[]).push(...r.decisions);
    signals++;
  }
  return { ms: cpuMs() - start, signals, decisions };
}

/** The naive path: keep each stream's signal list and re-evaluate all of it on every new signal. */
function runNaive(policy: Policy, w: Workload, streams: number): RunOutcome {
  const lists: Signal[][] = w.contexts.slice(0, streams).map(() => []);
  const decided: Set<string>[] = lists.map(() => new Set());
  const cut: boolean[] = lists.map(() => false);
  const decisions: Decision[][] = lists.map(() => []);
  let signals = 0;
  const start = cpuMs();
  for (const { stream, signal } of w.interleaved) {
    if (stream >= streams || cut[stream]) continue;
    const list = lists[stream] as Signal[];
    list.push(signal);
    const fresh = evaluate(policy, w.contexts[stream] as EngineContext, list, signal.observedAt, decided[stream]);
    for (const d of fresh) {
      decided[stream]?.add(d.ruleId);
      if (!d.shadow && d.actions.cut) cut[stream] = true;
    }
    (decisions[stream] as Decision[]).push(...fresh);
    signals++;
  }
  return { ms: cpuMs() - start, signals, decisions };
}

/** Every live stream ticked once (stall checks), as the gateway does every second. */
function runTicks(policy: Policy, w: Workload, rounds: number): { ms: number; ticks: number } {
  let states = w.contexts.map(() => createStreamState());
  states = states.map((s, i) => step(policy, s, w.perStream[i]?.[0] as Signal, w.contexts[i] as EngineContext).state);
  let ticks = 0;
  const start = cpuMs();
  for (let r = 0; r < rounds; r++) {
    const now = T0 + 1000 + r * 10;
    for (let i = 0; i < states.length; i++) {
      tick(policy, states[i] as StreamState, w.contexts[i] as EngineContext, now);
      ticks++;
    }
  }
  return { ms: cpuMs() - start, ticks };
}

/** Both forms must decide the same things, or the comparison means nothing. */
function assertSameDecisions(a: Decision[][], b: Decision[][], streams: number): void {
  for (let s = 0; s < streams; s++) {
    const left = JSON.stringify(a[s]);
    const right = JSON.stringify(b[s]);
    if (left !== right) throw new Error(`bench: incremental and naive decisions differ for stream-${s}:\n${left}\n${right}`);
  }
}

async function loadDefaultPolicy(): Promise<Policy> {
  const r = await loadPolicyFile(fileURLToPath(new URL('../../policy/default.yaml', import.meta.url)));
  if (!r.ok) throw new Error(`default policy does not load: ${r.errors.map(formatPolicyError).join('; ')}`);
  return r.policy;
}

/** Best of `repeats` runs: on a shared machine the fastest run is the least disturbed one. */
function best(repeats: number, once: () => RunOutcome): RunOutcome {
  let result = once();
  for (let i = 1; i < repeats; i++) {
    const next = once();
    if (next.ms < result.ms) result = next;
  }
  return result;
}

export async function run(opts: { quick: boolean }): Promise<BenchResult[]> {
  const policy = await loadDefaultPolicy();
  const frames = opts.quick ? 40 : 120;
  const repeats = opts.quick ? 2 : 3;
  const w = makeWorkload(frames);
  // Warm up the JIT on a slice of the same work.
  const warm = makeWorkload(8);
  runIncremental(policy, warm, STREAMS);
  runNaive(policy, warm, BASELINE_STREAMS);

  const inc = best(repeats, () => runIncremental(policy, w, STREAMS));
  const naive = best(repeats, () => runNaive(policy, w, BASELINE_STREAMS));
  const incSubset = runIncremental(policy, w, BASELINE_STREAMS);
  assertSameDecisions(incSubset.decisions, naive.decisions, BASELINE_STREAMS);

  const incRate = (inc.signals / inc.ms) * 1000;
  const naiveRate = (naive.signals / naive.ms) * 1000;
  const decisions = inc.decisions.reduce((n, d) => n + d.length, 0);
  const cuts = inc.decisions.filter((ds) => ds.some((d) => !d.shadow && d.actions.cut)).length;
  const ticks = runTicks(policy, w, opts.quick ? 20 : 100);
  const streamSeconds = (frames * FRAME_MS) / 1000;

  return [
    {
      name: `policy step: ${STREAMS} concurrent streams, default policy`,
      unit: 'signals/s',
      value: incRate,
      baseline: { name: `batch evaluate re-run over the growing list per signal (${BASELINE_STREAMS} of the streams)`, value: naiveRate },
      note:
        `${inc.signals} signals (${frames} frames = ${streamSeconds} s per stream, violence+nsfw per frame, a hash match every 10th) ` +
        `in ${inc.ms.toFixed(0)} ms, ${((inc.ms * 1000) / inc.signals).toFixed(2)} µs/signal; ${decisions} decisions, ${cuts} streams cut; ` +
        `baseline ${naive.signals} signals in ${naive.ms.toFixed(0)} ms; both decide identically; CPU time, best of ${repeats}, one thread`,
    },
    {
      name: `policy tick (stall checks): ${STREAMS} streams`,
      unit: 'ticks/s',
      value: (ticks.ticks / ticks.ms) * 1000,
      note: `${ticks.ticks} ticks in ${ticks.ms.toFixed(0)} ms`,
    },
  ];
}

function printTable(results: BenchResult[]): void {
  console.table(
    results.map((r) => ({
      name: r.name,
      value: `${r.value.toFixed(0)} ${r.unit}`,
      baseline: r.baseline ? `${r.baseline.value.toFixed(0)} (${r.baseline.name})` : '',
      speedup: r.baseline ? `${(r.value / r.baseline.value).toFixed(1)}x` : '',
      note: r.note ?? '',
    })),
  );
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  printTable(await run({ quick: process.argv.includes('--quick') }));
}
