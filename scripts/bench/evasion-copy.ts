/**
 * Evasion benchmark with the learned copy descriptor (issue 12 item 3): the evasion set re-streamed through
 * a real gateway running the nsfw MobileNetV2 with the copy descriptor on its embedding, so each stream
 * tells what PDQ alone and PDQ + copy would cut, in the same run:
 *
 *   npm run bench -- evasion-copy            # 8 pictures × 13 transforms, 8 benign photos + 1 clip
 *   npm run bench -- --quick evasion-copy    # 2 pictures per transform
 *
 * The policy is the shipped default with its two bank rules (`tve-known-content`: PDQ,
 * `copy-known-content`: copy) in shadow mode: decisions are recorded but never enforced, so every stream
 * plays to its end and neither rule's cut hides the other's. PDQ only = the PDQ rule would have cut;
 * PDQ + copy = either would have. Time to cut counts from the picture's appearance, as in `evasion`.
 * Benign streams: any would-cut decision of either rule is a false cut (target 0).
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConfigSchema } from '../../gateway/config.ts';
import { addAccount } from '../../gateway/identity/accounts.ts';
import { issueKey } from '../../gateway/identity/keys.ts';
import { createLogger } from '../../gateway/log.ts';
import { resolveFfmpeg } from '../../gateway/media/ffmpeg-path.ts';
import { BUILTIN_WHITENING } from '../../gateway/pipeline/copy-descriptor.ts';
import { startGateway, type Gateway } from '../../gateway/server.ts';
import { packagePath } from '../../package/root.ts';
import {
  bankedPictures,
  benignClips,
  benignPictures,
  findCaptionFont,
  TRANSFORM_CLASS,
  TRANSFORMS,
  type TransformId,
} from '../../test/fixtures/evasion/transforms.ts';
import { bankPictures, publishFile, renderStream, watchOutcomes, type StreamOutcome } from '../../test/pipeline/evasion-harness.ts';
import type { BenchResult } from './types.ts';

const APPEAR_SEC = 2;
const PARALLEL = 3;
const PDQ_RULE = 'tve-known-content';
const COPY_RULE = 'copy-known-content';
const MODEL_DIR = packagePath('models', 'nsfw');

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

/** The shipped policy with the two bank rules shadowed (text edit: the rule ids are unique lines). */
export function shadowedPolicy(): string {
  const text = readFileSync(packagePath('policy', 'default.yaml'), 'utf8');
  let out = text;
  for (const id of [PDQ_RULE, COPY_RULE]) {
    const line = `  - id: ${id}\n`;
    if (!out.includes(line)) throw new Error(`default policy has no rule ${id}`);
    out = out.replace(line, `${line}    shadow: true\n`);
  }
  return out;
}

async function startCopyGateway(dir: string): Promise<Gateway> {
  const policyFile = path.join(dir, 'policy.yaml');
  writeFileSync(policyFile, shadowedPolicy());
  const config = ConfigSchema.parse({
    dataDir: path.join(dir, 'gw'),
    rtmp: { host: '127.0.0.1', port: 0 },
    http: { host: '127.0.0.1', port: 0 },
    log: { level: 'silent' },
    demo: false,
    syncIntervalMs: 500,
    policy: { file: policyFile },
    classifiers: { models: [MODEL_DIR] },
  });
  return startGateway(config, { log: createLogger('silent') });
}

let seq = 0;
async function account(gw: Gateway, handle: string): Promise<string> {
  await addAccount(gw.store.db, { id: 'bench' }, { handle, verified: true, subject: `person-${handle}-${seq++}` });
  const key = (await issueKey(gw.store.db, { id: 'bench' }, handle)).key;
  await gw.gate.refresh();
  return key;
}

export async function run(opts: { quick: boolean }): Promise<BenchResult[]> {
  if (!existsSync(path.join(MODEL_DIR, 'nsfw-mobilenet-v2.onnx')) || !existsSync(BUILTIN_WHITENING))
    throw new Error('the nsfw model (npm install) or the copy whitening is missing');
  const ffmpeg = await resolveFfmpeg();
  const font = await findCaptionFont();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'modgate-bench-evasion-copy-'));
  const results: BenchResult[] = [];
  const gw = await startCopyGateway(dir);
  if (!gw.copy) throw new Error('the gateway did not start the copy descriptor');
  const watch = watchOutcomes(gw);
  try {
    const pictures = bankedPictures();
    await bankPictures(gw, pictures);
    const benign = benignPictures();
    const perTransform = opts.quick ? 2 : pictures.length;
    type Job = { handle: string; transform: TransformId | 'benign'; render: () => Promise<string> };
    const jobs: Job[] = [];
    for (const t of TRANSFORMS) {
      for (let i = 0; i < perTransform; i++) {
        const handle = `ec-${t}-${i}`;
        jobs.push({
          handle,
          transform: t,
          render: () =>
            renderStream(ffmpeg.path, t, {
              picture: pictures[i]!,
              background: benign[(i + 3) % benign.length]!,
              file: path.join(dir, `${handle}.flv`),
              appearSec: APPEAR_SEC,
              durationSec: APPEAR_SEC + 6,
              fontFile: font,
            }),
        });
      }
    }
    benign.forEach((b, i) =>
      jobs.push({
        handle: `bn-${i}`,
        transform: 'benign',
        render: () =>
          renderStream(ffmpeg.path, 'reencode', {
            picture: b,
            background: b,
            file: path.join(dir, `bn-${i}.flv`),
            appearSec: 0,
            durationSec: 8,
            fontFile: null,
          }),
      }),
    );
    benignClips().forEach((c, i) => jobs.push({ handle: `bc-${i}`, transform: 'benign', render: async () => c }));
    const outcomes: Array<StreamOutcome & { transform: Job['transform'] }> = [];
    const queue = [...jobs];
    await Promise.all(
      Array.from({ length: PARALLEL }, async () => {
        for (let job = queue.shift(); job; job = queue.shift()) {
          const file = await job.render();
          const key = await account(gw, job.handle);
          outcomes.push({ ...(await publishFile(gw, ffmpeg.path, key, job.handle, file, watch, 60_000)), transform: job.transform });
        }
      }),
    );
    const totals = { shape: [0, 0, 0], region: [0, 0, 0], measured: [0, 0, 0] } as Record<'shape' | 'region' | 'measured', [number, number, number]>;
    for (const t of TRANSFORMS) {
      const runs = outcomes.filter((o) => o.transform === t);
      const appear = (o: StreamOutcome) => o.startedAt + APPEAR_SEC * 1000;
      const pdq = runs.filter((o) => o.wouldCut[PDQ_RULE] !== undefined);
      const both = runs.filter((o) => o.wouldCut[PDQ_RULE] !== undefined || o.wouldCut[COPY_RULE] !== undefined);
      const byCopyOnly = both.length - pdq.length;
      const ttc = both.map((o) => Math.min(o.wouldCut[PDQ_RULE] ?? Infinity, o.wouldCut[COPY_RULE] ?? Infinity) - appear(o));
      const sims = runs.map((o) => Math.max(0, ...o.copyMatches.filter((m) => m.observedAt >= appear(o)).map((m) => m.similarity)));
      const k = TRANSFORM_CLASS[t];
      totals[k][0] += pdq.length;
      totals[k][1] += both.length;
      totals[k][2] += runs.length;
      results.push({
        name: `cut rate PDQ + copy: ${t}`,
        unit: '%',
        value: runs.length ? (100 * both.length) / runs.length : NaN,
        baseline: { name: 'PDQ only, same streams', value: runs.length ? (100 * pdq.length) / runs.length : NaN },
        note: `${both.length}/${runs.length} vs ${pdq.length}/${runs.length} (${byCopyOnly} by copy alone); best copy similarity median ${percentile(sims, 50).toFixed(3)}, min ${Math.min(...sims).toFixed(3)}${ttc.length ? `; time to cut p50 ${Math.round(percentile(ttc, 50))} ms, p95 ${Math.round(percentile(ttc, 95))} ms` : ''}`,
      });
    }
    for (const [k, label] of [
      ['shape', 'the first nine classes'],
      ['region', 'crop, caption, picture-in-picture'],
      ['measured', 'filmed off a screen'],
    ] as const) {
      const [p, b, n] = totals[k];
      results.push({
        name: `cut rate PDQ + copy: ${label}`,
        unit: '%',
        value: (100 * b) / n,
        baseline: { name: 'PDQ only', value: (100 * p) / n },
        note: `${b}/${n} vs ${p}/${n}`,
      });
    }
    const benignRuns = outcomes.filter((o) => o.transform === 'benign');
    const falseCuts = benignRuns.filter((o) => o.wouldCut[PDQ_RULE] !== undefined || o.wouldCut[COPY_RULE] !== undefined).length;
    const benignCopy = benignRuns.flatMap((o) => o.copyMatches);
    results.push({
      name: 'false cuts on benign streams (PDQ + copy)',
      unit: 'streams',
      value: falseCuts,
      note: `${benignRuns.length} benign streams; ${benignCopy.length} copy signals above the report floor, best ${Math.max(0, ...benignCopy.map((m) => m.similarity)).toFixed(3)}; target 0`,
    });
    const m = gw.copy.matcher.stats;
    results.push({
      name: 'copy descriptor per model frame: whitening + exact scan',
      unit: 'ms',
      value: m.frames ? m.scanMs / m.frames : NaN,
      note: `${m.frames} model frames, ${gw.copy.index.size} banked descriptors; no inference of its own (the nsfw pass's embedding)`,
    });
  } finally {
    watch.close();
    await gw.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  return results;
}
