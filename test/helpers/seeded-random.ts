/**
 * A small deterministic generator (xorshift) of numbers in [0, 1), so that a randomised test's failure
 * names a seed that reproduces it.
 */
export function seededRandom(seed: number): () => number {
  // Spread the small seed over all bits and drop the first outputs: from a small state xorshift's first
  // numbers are tiny (every layer would have had one member).
  let state = Math.imul(seed, 0x9e37_79b1) | 1;
  const next = (): number => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 0x1_0000_0000;
  };
  for (let i = 0; i < 8; i++) next();
  return next;
}
