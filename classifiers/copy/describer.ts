import { areaScale, cropFraction, type Picture } from './picture.ts';
import type { Whitening } from './whitening.ts';
import { descriptorText } from './whitening.ts';

export type { Picture };

/** One view of banked content and its descriptor text (the `hash` of its `copy` bank entry). */
export interface CopyView {
  /** `copy` (the whole picture), `copy-centre-70` (its centre 70 %): stored as the entry's region. */
  region: string;
  text: string;
}

/** What banking needs to store copy descriptors beside PDQ (import from a picture, a confirmed decision). */
export interface CopyDescriber {
  readonly whiteningId: string;
  describe(picture: Picture): Promise<CopyView[]>;
}

/**
 * Views of banked content stored as copy descriptors: the whole picture, and its centre 70 % (what is left
 * after a heavy crop: the descriptor of a 15 %-per-side crop moves less from the centre crop's than from
 * the whole picture's).
 */
export const COPY_VIEWS: ReadonlyArray<{ region: string; inset: number }> = [
  { region: 'copy', inset: 0 },
  { region: 'copy-centre-70', inset: 0.15 },
];

/** Descriptors from a model's embeddings (a pool, or an in-process model for offline tools). */
export class ModelCopyDescriber implements CopyDescriber {
  constructor(
    private readonly embed: (picture: Picture) => Promise<Float32Array>,
    private readonly whitening: Whitening,
  ) {}

  get whiteningId(): string {
    return this.whitening.id;
  }

  async describe(picture: Picture): Promise<CopyView[]> {
    const out: CopyView[] = [];
    for (const v of COPY_VIEWS) {
      const e = await this.embed(areaScale(v.inset > 0 ? cropFraction(picture, v.inset, v.inset, 1 - 2 * v.inset, 1 - 2 * v.inset) : picture));
      out.push({ region: v.region, text: descriptorText(this.whitening.id, this.whitening.apply(e)) });
    }
    return out;
  }
}
