import { spawn } from 'node:child_process';
import path from 'node:path';
import type { Signal } from '../../classifiers/signal.ts';
import { createBank } from '../../gateway/banks/manage.ts';
import { bankPictureFile } from '../../gateway/banks/derive.ts';
import type { Gateway } from '../../gateway/server.ts';
import { effectOf, type Decision } from '../../policy/engine.ts';
import { publishArgs, type TransformId } from '../fixtures/evasion/transforms.ts';
import { startPublisher, type Publisher } from '../helpers/ffmpeg-publisher.ts';

/**
 * The evasion set through a real gateway (shared by test/pipeline/evasion.test.ts and the evasion
 * benchmark): bank the pictures with their derived regions, render each transformed stream to an FLV file
 * once, publish it over RTMP in real time (`-re -c copy`), and record what the gateway decided.
 */

/** Banks the pictures (PDQ, derived regions and, when the gateway runs the copy descriptor, its entries too). */
export async function bankPictures(gw: Gateway, pictures: readonly string[], bank = 'tve'): Promise<Map<string, string>> {
  await createBank(gw.store.db, 'test', { name: bank, category: 'terrorist-violent-extremism' });
  const ids = new Map<string, string>();
  for (const p of pictures) {
    const r = await bankPictureFile(gw.store.db, 'test', bank, p, {
      source: `evasion-set:${path.basename(p)}`,
      ...(gw.copy ? { copy: gw.copy.describer } : {}),
    });
    if (r.entryId) ids.set(r.entryId, p);
  }
  await gw.banks.refresh();
  await gw.copy?.index.refresh();
  return ids;
}

/** Renders one transformed stream to an FLV file (faster than real time; the publish then costs only the copy). */
export async function renderStream(
  ffmpegPath: string,
  id: TransformId,
  o: { picture: string; background: string; file: string; appearSec: number; durationSec: number; fontFile: string | null },
): Promise<string> {
  const args = publishArgs(id, {
    picture: o.picture,
    background: o.background,
    target: o.file,
    appearSec: o.appearSec,
    durationSec: o.durationSec,
    fontFile: o.fontFile,
  });
  await new Promise<void>((resolve, reject) => {
    const p = spawn(ffmpegPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    p.stderr.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-2000)));
    p.once('error', reject);
    p.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`ffmpeg rendering ${id} failed (${code}): ${err}`))));
  });
  return o.file;
}

export interface StreamOutcome {
  handle: string;
  streamId: string | null;
  /** Wall time the publisher was started. */
  startedAt: number;
  /** Wall time of the first enforced cut decision on the stream, or null. */
  cutAt: number | null;
  ruleId: string | null;
  /** The hash matches seen on the stream (region, entry region, distance), first first. */
  matches: Array<{ region: string; entryRegion: string; distance: number; entryId: string; frameTimeMs: number; observedAt: number }>;
  /** The copy descriptor's matches (classifiers/copy), first first. */
  /** `region`: which view of the frame matched (`full`, `trimmed`, `inner`). */
  copyMatches: Array<{ similarity: number; entryId: string; region: string; entryRegion: string; frameTimeMs: number; observedAt: number }>;
  /** Wall time of each rule's first decision that would cut, shadow or not (a shadowed policy lets every stream play out). */
  wouldCut: Record<string, number>;
  exit: { code: number | null; signal: NodeJS.Signals | null };
}

/** Watches a gateway's decisions and match signals per stream. Call `close` when done. */
export function watchOutcomes(gw: Gateway) {
  type Slot = {
    cutAt: number | null;
    ruleId: string | null;
    matches: StreamOutcome['matches'];
    copyMatches: StreamOutcome['copyMatches'];
    wouldCut: Record<string, number>;
  };
  const byStream = new Map<string, Slot>();
  const empty = (): Slot => ({ cutAt: null, ruleId: null, matches: [], copyMatches: [], wouldCut: {} });
  const slot = (id: string) => {
    let s = byStream.get(id);
    if (!s) byStream.set(id, (s = empty()));
    return s;
  };
  const onDecision = (_rec: unknown, d: Decision) => {
    if (effectOf(d).cut) {
      const w = slot(d.streamId).wouldCut;
      w[d.ruleId] ??= Date.now();
    }
    if (!d.shadow && d.actions.cut) {
      const s = slot(d.streamId);
      if (s.cutAt === null) {
        s.cutAt = Date.now();
        s.ruleId = d.ruleId;
      }
    }
  };
  gw.runner.on('decision', onDecision);
  const orig = gw.runner.onSignal.bind(gw.runner);
  gw.runner.onSignal = (sig: Signal) => {
    if (sig.match) {
      slot(sig.streamId).matches.push({
        region: sig.match.region ?? 'full',
        entryRegion: sig.match.entryRegion ?? 'entry',
        distance: sig.match.distance,
        entryId: sig.match.entryId,
        frameTimeMs: sig.frameTimeMs,
        observedAt: sig.observedAt,
      });
    }
    if (sig.source === 'copy_match' && typeof sig.detail?.entryId === 'string') {
      slot(sig.streamId).copyMatches.push({
        similarity: sig.score ?? 0,
        entryId: sig.detail.entryId,
        region: String(sig.detail.region ?? 'full'),
        entryRegion: String(sig.detail.entryRegion ?? 'copy'),
        frameTimeMs: sig.frameTimeMs,
        observedAt: sig.observedAt,
      });
    }
    orig(sig);
  };
  return {
    of: (streamId: string | null) => (streamId ? byStream.get(streamId) : undefined) ?? empty(),
    close() {
      gw.runner.off('decision', onDecision);
      gw.runner.onSignal = orig;
    },
  };
}

/** Publishes a rendered file over RTMP in real time as `handle`'s stream; resolves when the publisher ends. */
export async function publishFile(
  gw: Gateway,
  ffmpegPath: string,
  key: string,
  handle: string,
  file: string,
  watch: ReturnType<typeof watchOutcomes>,
  deadlineMs: number,
): Promise<StreamOutcome> {
  const startedAt = Date.now();
  const pub: Publisher = startPublisher({ ffmpegPath, url: `rtmp://127.0.0.1:${gw.rtmpPort}/live/${key}`, source: { file } });
  let streamId: string | null = null;
  const seen = (s: { handle: string; id: string }) => {
    if (s.handle === handle) streamId = s.id;
  };
  gw.registry.on('started', seen);
  const timer = setTimeout(() => void pub.stop('SIGKILL'), deadlineMs);
  const exit = await pub.done;
  clearTimeout(timer);
  gw.registry.off('started', seen);
  // The decision is emitted after the cut closes the connection; give the runner its bookkeeping time.
  const deadline = Date.now() + 10_000;
  while (streamId && exit.code !== 0 && watch.of(streamId).cutAt === null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  const o = watch.of(streamId);
  return {
    handle,
    streamId,
    startedAt,
    cutAt: o.cutAt,
    ruleId: o.ruleId,
    matches: o.matches,
    copyMatches: o.copyMatches,
    wouldCut: o.wouldCut,
    exit: { code: exit.code, signal: exit.signal },
  };
}
