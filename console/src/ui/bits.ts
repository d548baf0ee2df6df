/** Which of the 256 bits differ between two 64-hex PDQ hashes (null when either is not one). */
export function differingBits(a: string, b: string): boolean[] | null {
  if (!/^[0-9a-f]{64}$/i.test(a) || !/^[0-9a-f]{64}$/i.test(b)) return null;
  const out: boolean[] = [];
  for (let i = 0; i < 64; i++) {
    const x = parseInt(a[i]!, 16) ^ parseInt(b[i]!, 16);
    for (let bit = 3; bit >= 0; bit--) out.push(((x >> bit) & 1) === 1);
  }
  return out;
}
