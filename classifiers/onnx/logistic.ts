/**
 * L2-regularised logistic regression on standardised features, plus the binary metrics fit-head reports.
 * Small and dependency-free: fit-head trains a linear probe on a few hundred 1280-d embeddings, where full-
 * batch gradient descent with a backtracking line search converges in well under a second and is exactly
 * reproducible (no randomness at all in the fit; the only seed is the caller's train/held-out split).
 */

export interface LogisticModel {
  /** Weights and bias in the ORIGINAL feature space (standardisation folded in). */
  weights: Float64Array;
  bias: number;
  /** Standardisation used during fitting, kept for reporting. */
  mean: Float64Array;
  std: Float64Array;
  iterations: number;
  loss: number;
}

export interface FitOptions {
  /** L2 strength on the standardised weights. Default 1e-2. */
  l2?: number;
  maxIterations?: number;
  /** Stop when the gradient's max-norm falls below this. */
  tolerance?: number;
  /** Weight classes inversely to their frequency, so an unbalanced folder pair does not skew the head. */
  balanced?: boolean;
}

/** x: n rows of d features (row-major); y: 0/1 labels. */
export function fitLogistic(x: Float32Array, n: number, d: number, y: Uint8Array, opts: FitOptions = {}): LogisticModel {
  const l2 = opts.l2 ?? 1e-2;
  const maxIt = opts.maxIterations ?? 1000;
  const tol = opts.tolerance ?? 1e-6;
  const pos = y.reduce((a, v) => a + v, 0);
  if (pos === 0 || pos === n) throw new Error('need examples of both classes');
  const wPos = opts.balanced === false ? 1 : n / (2 * pos);
  const wNeg = opts.balanced === false ? 1 : n / (2 * (n - pos));
  const sw = new Float64Array(n);
  for (let i = 0; i < n; i++) sw[i] = (y[i] ? wPos : wNeg) / n;

  // Standardise: z = (x - mean) / std (constant features get std 1, i.e. stay at 0 after centering).
  const mean = new Float64Array(d);
  const std = new Float64Array(d);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) mean[j] = (mean[j] as number) + (x[i * d + j] as number) / n;
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) std[j] = (std[j] as number) + ((x[i * d + j] as number) - (mean[j] as number)) ** 2 / n;
  for (let j = 0; j < d; j++) std[j] = Math.sqrt(std[j] as number) > 1e-8 ? Math.sqrt(std[j] as number) : 1;
  const z = new Float64Array(n * d);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) z[i * d + j] = ((x[i * d + j] as number) - (mean[j] as number)) / (std[j] as number);

  const w = new Float64Array(d);
  let b = 0;
  const logits = new Float64Array(n);
  const objective = (ww: Float64Array, bb: number): number => {
    let loss = 0;
    for (let i = 0; i < n; i++) {
      let t = bb;
      for (let j = 0; j < d; j++) t += (ww[j] as number) * (z[i * d + j] as number);
      logits[i] = t;
      // log(1 + e^-t) for y=1, log(1 + e^t) for y=0, computed stably.
      const s = y[i] ? -t : t;
      loss += (sw[i] as number) * (s > 0 ? s + Math.log1p(Math.exp(-s)) : Math.log1p(Math.exp(s)));
    }
    let reg = 0;
    for (let j = 0; j < d; j++) reg += (ww[j] as number) ** 2;
    return loss + 0.5 * l2 * reg;
  };

  let loss = objective(w, b);
  let step = 1;
  const gw = new Float64Array(d);
  const nw = new Float64Array(d);
  let it = 0;
  for (; it < maxIt; it++) {
    // Gradient at the current point (logits are fresh from the last objective() call).
    gw.fill(0);
    let gb = 0;
    for (let i = 0; i < n; i++) {
      const p = 1 / (1 + Math.exp(-(logits[i] as number)));
      const r = (sw[i] as number) * (p - (y[i] as number));
      gb += r;
      for (let j = 0; j < d; j++) gw[j] = (gw[j] as number) + r * (z[i * d + j] as number);
    }
    let gmax = Math.abs(gb);
    let gnorm2 = gb * gb;
    for (let j = 0; j < d; j++) {
      gw[j] = (gw[j] as number) + l2 * (w[j] as number);
      gmax = Math.max(gmax, Math.abs(gw[j] as number));
      gnorm2 += (gw[j] as number) ** 2;
    }
    if (gmax < tol) break;
    // Backtracking (Armijo) line search; the step grows again after successes.
    step *= 2;
    let next = Infinity;
    let nb = b;
    for (let k = 0; k < 60; k++) {
      for (let j = 0; j < d; j++) nw[j] = (w[j] as number) - step * (gw[j] as number);
      nb = b - step * gb;
      next = objective(nw, nb);
      if (next <= loss - 0.5 * step * gnorm2) break;
      step /= 2;
    }
    if (!(next < loss)) {
      objective(w, b);
      break;
    }
    w.set(nw);
    b = nb;
    loss = next;
  }
  // Fold the standardisation into the weights so the exported head reads raw embeddings.
  const weights = new Float64Array(d);
  let bias = b;
  for (let j = 0; j < d; j++) {
    weights[j] = (w[j] as number) / (std[j] as number);
    bias -= ((w[j] as number) * (mean[j] as number)) / (std[j] as number);
  }
  return { weights, bias, mean, std, iterations: it, loss };
}

export function predict(m: LogisticModel, x: Float32Array, n: number, d: number): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let t = m.bias;
    for (let j = 0; j < d; j++) t += (m.weights[j] as number) * (x[i * d + j] as number);
    out[i] = 1 / (1 + Math.exp(-t));
  }
  return out;
}

export interface BinaryMetrics {
  threshold: number;
  accuracy: number;
  precision: number;
  recall: number;
  tp: number;
  fp: number;
  tn: number;
  fn: number;
}

export function metricsAt(scores: ArrayLike<number>, y: ArrayLike<number>, threshold: number): BinaryMetrics {
  let tp = 0,
    fp = 0,
    tn = 0,
    fn = 0;
  for (let i = 0; i < scores.length; i++) {
    const p = (scores[i] as number) >= threshold;
    if (y[i]) p ? tp++ : fn++;
    else p ? fp++ : tn++;
  }
  const n = scores.length || 1;
  return { threshold, accuracy: (tp + tn) / n, precision: tp + fp ? tp / (tp + fp) : 1, recall: tp + fn ? tp / (tp + fn) : 1, tp, fp, tn, fn };
}

/**
 * The threshold maximising balanced accuracy (Youden's J) over midpoints between distinct scores; among
 * equally good ones, the one nearest 0.5 (a neutral default when the data cannot tell thresholds apart).
 */
export function suggestThreshold(scores: ArrayLike<number>, y: ArrayLike<number>): number {
  const s = Array.from(scores).sort((a, b) => a - b);
  const candidates = [0.5];
  for (let i = 1; i < s.length; i++) if ((s[i] as number) > (s[i - 1] as number)) candidates.push(((s[i] as number) + (s[i - 1] as number)) / 2);
  let best = 0.5;
  let bestJ = -Infinity;
  for (const t of candidates) {
    const m = metricsAt(scores, y, t);
    const tnr = m.tn + m.fp ? m.tn / (m.tn + m.fp) : 1;
    const j = m.recall + tnr - 1;
    if (j > bestJ + 1e-12 || (Math.abs(j - bestJ) <= 1e-12 && Math.abs(t - 0.5) < Math.abs(best - 0.5))) {
      best = t;
      bestJ = j;
    }
  }
  return best;
}

/** Deterministic PRNG (mulberry32) for reproducible splits. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function shuffled<T>(items: readonly T[], rnd: () => number): T[] {
  const a = [...items];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [a[i], a[j]] = [a[j] as T, a[i] as T];
  }
  return a;
}

/** Mean log-loss of probabilities p for labels y (clipped to avoid infinities). */
export function logLoss(p: ArrayLike<number>, y: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < p.length; i++) {
    const q = Math.min(1 - 1e-12, Math.max(1e-12, p[i] as number));
    s -= y[i] ? Math.log(q) : Math.log(1 - q);
  }
  return s / (p.length || 1);
}

/** Stratified, seeded fold assignment. */
function assignFolds(n: number, y: Uint8Array, folds: number, rnd: () => number): { k: number; foldOf: Int32Array } {
  const byClass = [0, 1].map((c) =>
    shuffled(
      Array.from({ length: n }, (_, i) => i).filter((i) => y[i] === c),
      rnd,
    ),
  );
  const k = Math.max(2, Math.min(folds, ...byClass.map((a) => a.length)));
  const foldOf = new Int32Array(n);
  for (const idx of byClass) idx.forEach((i, j) => (foldOf[i] = j % k));
  return { k, foldOf };
}

/** Out-of-fold predicted probabilities for one L2 strength. */
function outOfFold(x: Float32Array, n: number, d: number, y: Uint8Array, l2: number, k: number, foldOf: Int32Array): Float64Array {
  const oof = new Float64Array(n);
  for (let f = 0; f < k; f++) {
    const tr: number[] = [];
    const te: number[] = [];
    for (let i = 0; i < n; i++) (foldOf[i] === f ? te : tr).push(i);
    const pick = (rows: number[]) => {
      const out = new Float32Array(rows.length * d);
      rows.forEach((r, j) => out.set(x.subarray(r * d, (r + 1) * d), j * d));
      return out;
    };
    const m = fitLogistic(pick(tr), tr.length, d, Uint8Array.from(tr.map((i) => y[i] as number)), { l2, maxIterations: 300 });
    const p = predict(m, pick(te), te.length, d);
    te.forEach((i, j) => (oof[i] = p[j] as number));
  }
  return oof;
}

export interface CrossValidation {
  l2: number;
  /** Cross-validated log-loss per candidate. */
  cv: { l2: number; logLoss: number }[];
  /** Out-of-fold probabilities at the chosen L2: honest scores for picking a threshold. */
  oof: Float64Array;
}

/**
 * k-fold cross-validation (stratified, seeded folds) over candidate L2 strengths; picks the lowest log-loss.
 * With few images and 1280 features, the amount of shrinkage matters more than anything else, and the
 * out-of-fold scores let the caller choose a threshold without touching its held-out set.
 */
export function crossValidate(
  x: Float32Array,
  n: number,
  d: number,
  y: Uint8Array,
  opts: { grid?: readonly number[]; folds?: number; rnd: () => number },
): CrossValidation {
  const grid = opts.grid ?? [1e-3, 1e-2, 1e-1, 1, 10];
  const { k, foldOf } = assignFolds(n, y, opts.folds ?? 5, opts.rnd);
  const runs = grid.map((l2) => {
    const oof = outOfFold(x, n, d, y, l2, k, foldOf);
    return { l2, oof, logLoss: logLoss(oof, y) };
  });
  const best = runs.reduce((a, b) => (b.logLoss < a.logLoss ? b : a));
  return { l2: best.l2, oof: best.oof, cv: runs.map((r) => ({ l2: r.l2, logLoss: r.logLoss })) };
}
