/** Offline embedding helpers for the copy descriptor's tools (fit-whitening, the copy bench). */
export { areaScale, centreAspect, cropFraction } from '../../classifiers/copy/picture.ts';
export { OfflineEmbedder } from '../../classifiers/copy/embedder.ts';
