import { mkdir, readdir, rm, stat, writeFile, copyFile, readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Frame } from '../../classifiers/frame.ts';

/**
 * Evidence for moderators: a small JPEG of the frame plus the scores, for every frame that produced a signal
 * above the evidence floor. Frames of live streams are kept briefly; once a decision cites them they are
 * copied under the decision and kept for the (longer) decision retention.
 *
 *   <dataDir>/evidence/live/<streamId>/<seq>.jpg|.json     ref: `live/<streamId>/<seq>`
 *   <dataDir>/evidence/decisions/<decisionId>/<seq>.jpg     ref: `decisions/<decisionId>/<seq>`
 */
export interface EvidenceOptions {
  dir: string;
  /** Unreferenced live-frame evidence is deleted after this long. */
  liveRetentionMs: number;
  /** Evidence pinned by a decision is deleted after this long. */
  decisionRetentionMs: number;
}

const REF_RE = /^(live|decisions)\/([A-Za-z0-9_]{1,64})\/(\d{1,12})$/;

export class EvidenceStore {
  constructor(
    private readonly opts: EvidenceOptions,
    private readonly encodeJpeg: (frame: Frame) => Buffer,
  ) {}

  async save(frame: Frame, facts: Record<string, unknown>): Promise<string> {
    const dir = path.join(this.opts.dir, 'live', frame.streamId);
    await mkdir(dir, { recursive: true });
    const base = path.join(dir, String(frame.seq));
    await writeFile(`${base}.jpg`, this.encodeJpeg(frame));
    await writeFile(
      `${base}.json`,
      JSON.stringify({ streamId: frame.streamId, seq: frame.seq, mediaTimeMs: frame.mediaTimeMs, receivedAt: frame.receivedAt, ...facts }),
    );
    return `live/${frame.streamId}/${frame.seq}`;
  }

  /** Copies the cited live evidence under the decision; returns the pinned refs (missing ones are skipped). */
  async pin(refs: readonly string[], decisionId: string): Promise<string[]> {
    const out: string[] = [];
    const dir = path.join(this.opts.dir, 'decisions', decisionId);
    await mkdir(dir, { recursive: true });
    for (const ref of refs) {
      const m = REF_RE.exec(ref);
      if (!m || m[1] !== 'live') continue;
      const src = path.join(this.opts.dir, 'live', m[2]!, m[3]!);
      try {
        await copyFile(`${src}.jpg`, path.join(dir, `${m[3]}.jpg`));
        await copyFile(`${src}.json`, path.join(dir, `${m[3]}.json`));
        out.push(`decisions/${decisionId}/${m[3]}`);
      } catch {
        // Already swept or never written (evidence floor): the decision keeps its signal facts regardless.
      }
    }
    return out;
  }

  /** Resolves a ref to its files; null for a malformed or missing ref (refs come from URLs). */
  async read(ref: string): Promise<{ jpeg: Buffer; facts: unknown } | null> {
    const m = REF_RE.exec(ref);
    if (!m) return null;
    const base = path.join(this.opts.dir, m[1]!, m[2]!, m[3]!);
    try {
      const [jpeg, json] = await Promise.all([readFile(`${base}.jpg`), readFile(`${base}.json`, 'utf8')]);
      return { jpeg, facts: JSON.parse(json) as unknown };
    } catch {
      return null;
    }
  }

  /** Deletes evidence past its retention; returns how many folders were removed. */
  async sweep(now = Date.now()): Promise<number> {
    let removed = 0;
    for (const [sub, keep] of [
      ['live', this.opts.liveRetentionMs],
      ['decisions', this.opts.decisionRetentionMs],
    ] as const) {
      const root = path.join(this.opts.dir, sub);
      let names: string[] = [];
      try {
        names = await readdir(root);
      } catch {
        continue;
      }
      for (const name of names) {
        const p = path.join(root, name);
        const st = await stat(p).catch(() => null);
        if (st && now - st.mtimeMs > keep) {
          await rm(p, { recursive: true, force: true });
          removed++;
        }
      }
    }
    return removed;
  }
}
