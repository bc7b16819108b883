/**
 * Seeded pseudo-random numbers. Every stochastic step (initialisation, shuffling) draws from a stream
 * derived from the run's seed, so the same seed and data give bit-identical results.
 */

/** A deterministic generator of uniform numbers in [0, 1) (SplitMix32 state, Mulberry32 output). */
export class SeededRandom {
  // Held as a signed 32-bit integer (the same bits as the unsigned state): a uint32 above 2³¹ would make the
  // field a boxed double, and every draw would allocate (half the speed, and garbage for the collector).
  private current: number;

  constructor(seed: number) {
    this.current = seed | 0;
  }

  /** The generator's whole state (a signed 32-bit integer): another generator given it draws the same numbers from here on. */
  get state(): number {
    return this.current;
  }

  set state(state: number) {
    this.current = state | 0;
  }

  /** Uniform float in [0, 1). */
  next(): number {
    this.current = (this.current + 0x6d2b79f5) | 0;
    let t = this.current;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Uniform integer in [0, n). */
  nextInt(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** Shuffles `values` in place (Fisher–Yates). */
  shuffle<T extends { length: number; [index: number]: number } | unknown[]>(values: T): T {
    const array = values as unknown as number[];
    for (let i = array.length - 1; i > 0; i--) {
      const j = this.nextInt(i + 1);
      const tmp = array[i]!;
      array[i] = array[j]!;
      array[j] = tmp;
    }
    return values;
  }
}

/** Derives an independent stream for one purpose ("init", "shuffle", …) from a run seed. */
export function deriveSeed(seed: number, purpose: string): number {
  let h = (seed ^ 0x9e3779b9) >>> 0;
  for (let i = 0; i < purpose.length; i++) {
    h = Math.imul(h ^ purpose.charCodeAt(i), 0x01000193) >>> 0;
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b) >>> 0;
  h ^= h >>> 13;
  return h >>> 0;
}
