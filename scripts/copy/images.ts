/**
 * The real benign pictures the copy descriptor is fit and calibrated on: photos and figures shipped in two
 * Debian bookworm packages (opencv-doc 4.6.0+dfsg-12, python3-skimage 0.19.3-8), listed in
 * models/copy/benign-images.txt (paths inside the extracted packages). The evasion set's own pictures
 * (test/fixtures/evasion) and anything named like them are left out of the list, so the whitening is
 * never fit on what the benchmark banks or calls benign. Every 4th picture (by a hash of its path) is held
 * out of the fit and used only to calibrate: benign nearest-neighbour similarities and the false-match rate.
 *
 *   mkdir -p /tmp/debs && cd /tmp/debs && apt-get download opencv-doc=4.6.0+dfsg-12 python3-skimage=0.19.3-8
 *   for d in *.deb; do mkdir -p x/${d%%_*}; dpkg-deb -x $d x/${d%%_*}; done
 *   MODGATE_BENIGN_ROOT=/tmp/debs/x …
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { packagePath } from '../../package/root.ts';

export const BENIGN_LIST = packagePath('models', 'copy', 'benign-images.txt');
export const DEFAULT_BENIGN_ROOT = '/tmp/debs/x';

export interface BenignSplit {
  root: string;
  fit: string[];
  heldOut: string[];
  missing: number;
}

export const isHeldOut = (rel: string) => createHash('sha256').update(rel).digest()[0]! % 4 === 0;

/** The listed pictures found under `root`, split into fit and held-out; null when the root is absent. */
export function benignSplit(root = process.env.MODGATE_BENIGN_ROOT ?? DEFAULT_BENIGN_ROOT): BenignSplit | null {
  if (!existsSync(root)) return null;
  const rels = readFileSync(BENIGN_LIST, 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  const out: BenignSplit = { root, fit: [], heldOut: [], missing: 0 };
  for (const rel of rels) {
    const file = path.join(root, rel);
    if (!existsSync(file)) {
      out.missing++;
      continue;
    }
    (isHeldOut(rel) ? out.heldOut : out.fit).push(file);
  }
  return out;
}
