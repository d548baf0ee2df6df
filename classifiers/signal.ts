import { z } from 'zod';

/**
 * The one shape every classifier speaks in. The policy engine reads only this, so a new classifier
 * (a new `source`) plugs in without touching the engine: rules select signals by source and label.
 */

/** Open set: `violence`, `nsfw`, `hash_match`, `sampler`, and whatever classifier comes next. */
export const SignalSourceSchema = z.string().regex(/^[a-z][a-z0-9_]{0,39}$/, 'a source is a lowercase identifier such as violence or hash_match');
export type SignalSource = z.infer<typeof SignalSourceSchema>;

export const HashMatchSchema = z.object({
  bank: z.string().min(1),
  entryId: z.string().min(1),
  /** Hamming distance between the frame's hash (or its dihedral variant) and the bank entry. */
  distance: z.number().int().min(0).max(256),
  /** Which of the 8 dihedral variants of the frame matched (`original`, `rotate90`, `flipX`, …). */
  variant: z.string().min(1),
  category: z.string().min(1),
  severity: z.enum(['low', 'medium', 'high', 'critical']),
  frameHash: z.string().regex(/^[0-9a-f]{64}$/),
  quality: z.number().int().min(0).max(100),
  /**
   * Which part of the frame matched (classifiers/regions.ts): `full`, `trimmed` (inside uniform borders),
   * a tile (`tile-tl`, `band-top`…) or `inner` (a picture-in-picture). Absent: the whole frame.
   */
  region: z.string().min(1).max(40).optional(),
  /** Which region of the banked content matched, when a derived entry did (`centre-80`, `tile-tl`…); absent: the entry itself. */
  entryRegion: z.string().min(1).max(40).optional(),
  /** The derived entry that matched, when one did (entryId is then the banked content it was cut from). */
  derivedEntryId: z.string().min(1).optional(),
});
export type HashMatch = z.infer<typeof HashMatchSchema>;

export const SignalSchema = z
  .object({
    streamId: z.string().min(1),
    /** Media time of the frame within the stream, in milliseconds from the stream's first frame. */
    frameTimeMs: z.number().min(0),
    /** Wall-clock time (epoch ms) the signal was produced; used for smoothing windows and latency. */
    observedAt: z.number().int().min(0),
    /**
     * Wall-clock time (epoch ms) the media the signal is about reached the gateway, where the ingest
     * knows it (RTMP publishes to this node; set by the pipeline, never by a classifier). A decision's
     * time to cut is measured from its earliest cited signal's ingestedAt, else its observedAt.
     */
    ingestedAt: z.number().int().min(0).optional(),
    source: SignalSourceSchema,
    /** What was seen: a model's policy label (`violence`, `unsafe`), a bank category, or `stall`. */
    label: z.string().min(1).max(80),
    /** Classifier confidence in [0, 1]. Absent for pure hash matches. */
    score: z.number().min(0).max(1).optional(),
    /** Bank-match details, for `hash_match` signals. */
    match: HashMatchSchema.optional(),
    /** Model or bank version that produced the signal, so decisions can be traced and replayed. */
    version: z.string().min(1).max(120),
    /** Reference to the stored evidence (thumbnail + scores), or null when none was kept. */
    evidenceRef: z.string().min(1).nullable(),
    /** Small, flat extra facts (e.g. `stalledForMs` for sampler stalls). */
    detail: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).optional(),
  })
  .refine((s) => s.score !== undefined || s.match !== undefined, {
    message: 'a signal carries a score, a match, or both',
    path: ['score'],
  });
export type Signal = z.infer<typeof SignalSchema>;
