import { cropImage, isWhole, trimBorders } from '../regions.ts';
import { areaScale, cropFraction, mirrored, type Picture } from './picture.ts';
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
 * Views of banked content stored as copy descriptors: the whole picture, its centre 70 % (what is left
 * after a heavy crop: the descriptor of a 15 %-per-side crop moves less from the centre crop's than from
 * the whole picture's), the whole picture mirrored (a CNN embedding is not flip-invariant, and mirroring is
 * the cheapest evasion: one view banked costs nothing per live frame), and, when the picture has uniform
 * borders (a confirmed frame of a letterboxed stream), the picture inside them.
 */
export const COPY_VIEWS: ReadonlyArray<{ region: string; inset: number; mirror?: boolean }> = [
  { region: 'copy', inset: 0 },
  { region: 'copy-centre-70', inset: 0.15 },
  { region: 'copy-mirror', inset: 0, mirror: true },
];
/** The region of the view inside a banked picture's uniform borders. */
export const COPY_TRIMMED_VIEW = 'copy-trimmed';

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
    const text = async (p: Picture) => descriptorText(this.whitening.id, this.whitening.apply(await this.embed(areaScale(p))));
    for (const v of COPY_VIEWS) {
      const p = v.inset > 0 ? cropFraction(picture, v.inset, v.inset, 1 - 2 * v.inset, 1 - 2 * v.inset) : picture;
      out.push({ region: v.region, text: await text(v.mirror ? mirrored(p) : p) });
    }
    const img = { rgb: picture.rgb, width: picture.width, height: picture.height };
    const trim = trimBorders(img);
    if (!isWhole(trim, img)) out.push({ region: COPY_TRIMMED_VIEW, text: await text(cropImage(img, trim)) });
    return out;
  }
}
