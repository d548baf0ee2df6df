/**
 * A video as vPDQ hashes it: one PDQ hash per sampled frame (one a second by default) with its quality and
 * timestamp, matched as a bag of frame hashes. The thresholds are vPDQ's own, from python-threatexchange's
 * vPDQ extension (facebook/ThreatExchange python-threatexchange/threatexchange/extensions/vpdq/vpdq_util.py
 * and vpdq_brute_matcher.py, commit baefb4e): frames below quality 50 are dropped, two frames match within
 * Hamming distance 31, and a query matches when at least 80 % of its (deduplicated, quality-filtered) frames
 * match some frame of the other video (the other way round, 0 %: any).
 */

/** The bank entries' signal type of a video (one entry, its frames in `frames`). */
export const VPDQ_SIGNAL_TYPE = 'vpdq';
/** vpdq_util.VPDQ_QUALITY_THRESHOLD */
export const VPDQ_QUALITY_THRESHOLD = 50;
/** vpdq_util.VPDQ_DISTANCE_THRESHOLD */
export const VPDQ_DISTANCE_THRESHOLD = 31;
/** vpdq_util.VPDQ_QUERY_MATCH_THRESHOLD_PERCENT */
export const VPDQ_QUERY_MATCH_THRESHOLD_PERCENT = 80;

export interface VpdqFrame {
  /** 64 lowercase hex characters. */
  hash: string;
  quality: number;
  timestampSec: number;
}

const LINE = /^([0-9a-f]{64}),(\d{1,3}),(\d+(?:\.\d+)?)$/;

/**
 * The stored text of a video's frames: vPDQ's compact feature line `pdq_hex,quality,timestamp` per frame
 * (VpdqCompactFeature.__str__, timestamps with 3 decimals as vpdq's CLI prints them), one per line.
 */
export function serializeVpdqFrames(frames: readonly VpdqFrame[]): string {
  return frames.map((f) => `${f.hash},${f.quality},${f.timestampSec.toFixed(3)}`).join('\n');
}

/** The frames of a stored text; null when a line is not a compact feature (a corrupt row is skipped, not matched half). */
export function parseVpdqFrames(text: string): VpdqFrame[] | null {
  const frames: VpdqFrame[] = [];
  for (const line of text.split('\n')) {
    const m = LINE.exec(line);
    if (!m) return null;
    const quality = Number(m[2]);
    if (quality > 100) return null;
    frames.push({ hash: m[1]!, quality, timestampSec: Number(m[3]) });
  }
  return frames;
}

/** vpdq_util's `quality_filter(dedupe(features))`: frames of quality >= the threshold, each distinct hash once (the first). */
export function matchableFrames(frames: readonly VpdqFrame[], minQuality = VPDQ_QUALITY_THRESHOLD): VpdqFrame[] {
  const seen = new Set<string>();
  const out: VpdqFrame[] = [];
  for (const f of frames) {
    if (seen.has(f.hash)) continue;
    seen.add(f.hash);
    if (f.quality >= minQuality) out.push(f);
  }
  return out;
}

/**
 * Videos as a vPDQ hash file in the layout `modgate hash` prints for videos (and `bank import` reads back):
 * a comment naming the video, then its compact feature lines. Newline-terminated; '' for none.
 */
export function serializeVpdqFile(videos: Iterable<{ name: string; frames: readonly VpdqFrame[] }>): string {
  let out = '';
  for (const v of videos) {
    out += `# ${v.name.replace(/[\r\n]/g, '?')}: vPDQ, ${v.frames.length} frame(s); hash,quality,timestamp in seconds\n`;
    if (v.frames.length > 0) out += `${serializeVpdqFrames(v.frames)}\n`;
  }
  return out;
}
