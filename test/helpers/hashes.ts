import { fromHex, toHex } from '../../classifiers/pdq.ts';

/** A deterministic pseudo-random PDQ hash (64 hex) per seed. */
export function seededHash(seed: number): string {
  let s = seed >>> 0;
  let out = '';
  for (let i = 0; i < 64; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    out += ((s >>> 16) & 15).toString(16);
  }
  return out;
}

/** The hash with its first `bits` bits flipped: exactly `bits` away. */
export function flipBits(hex: string, bits: number): string {
  const w = fromHex(hex);
  for (let b = 0; b < bits; b++) w[b >> 5]! ^= 1 << (b & 31);
  return toHex(w);
}
