// A seeded, fast, well-known generator: xoshiro128** (Blackman & Vigna), all 32-bit integer ops,
// so it needs no BigInt per draw. State is four uint32 words, serialisable into checkpoints.
// Seeds expand through splitmix64, as the authors recommend, so nearby seeds give unrelated streams.

export type RngState = readonly [number, number, number, number];

const MASK64 = (1n << 64n) - 1n;

function splitmix64(seed: bigint): () => bigint {
  let x = seed & MASK64;
  return () => {
    x = (x + 0x9e3779b97f4a7c15n) & MASK64;
    let z = x;
    z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK64;
    z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK64;
    return z ^ (z >> 31n);
  };
}

const rotl = (x: number, k: number): number => (x << k) | (x >>> (32 - k));

/** Mixes a list of integers into one 32-bit value (murmur3 finaliser per word); for deriving sub-seeds. */
export function hashInts(...values: number[]): number {
  let h = 0x811c9dc5;
  for (const v of values) {
    let k = Math.imul(v >>> 0, 0xcc9e2d51);
    k = Math.imul(rotl(k, 15), 0x1b873593);
    h = Math.imul(rotl(h ^ k, 13), 5) + 0xe6546b64;
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

export class Rng {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  private constructor(state: RngState) {
    if (state.every((w) => w === 0)) throw new Error('xoshiro128** state must not be all zero');
    [this.s0, this.s1, this.s2, this.s3] = state.map((w) => w >>> 0);
  }

  /** A generator seeded from a non-negative integer through splitmix64. */
  static fromSeed(seed: number): Rng {
    const next = splitmix64(BigInt(Math.floor(seed)));
    const a = next();
    const b = next();
    const words = [a, a >> 32n, b, b >> 32n].map((w) => Number(w & 0xffffffffn));
    return new Rng(words as unknown as RngState);
  }

  /**
   * A generator from a 32-bit hash (e.g. hashInts(seed, epoch, index)) without BigInt: several times cheaper
   * than fromSeed, for the many short per-sample streams. Words are further hashes of `hash`.
   */
  static fromHash(hash: number): Rng {
    const words = [0, 1, 2, 3].map((k) => hashInts(hash, k, 0x9e3779b9));
    if (!words.some((w) => w !== 0)) words[0] = 1; // all-zero is xoshiro's one forbidden state
    return new Rng(words as unknown as RngState);
  }

  /** Restore a generator from `state()`. */
  static fromState(state: RngState): Rng {
    if (state.length !== 4 || !state.every((w) => Number.isInteger(w) && w >= 0 && w <= 0xffffffff)) {
      throw new Error(`invalid RNG state ${JSON.stringify(state)}: expected four uint32 words`);
    }
    return new Rng(state);
  }

  /** The four state words as uint32 (the XORs leave them as signed int32 internally). */
  state(): RngState {
    return [this.s0 >>> 0, this.s1 >>> 0, this.s2 >>> 0, this.s3 >>> 0];
  }

  /** Next uniform uint32. */
  nextU32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** Uniform in [0, 1), 32 bits of resolution. */
  float(): number {
    return this.nextU32() / 4294967296;
  }

  /** Uniform in [lo, hi). */
  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.float();
  }

  /** Uniform integer in [0, n), unbiased (Lemire-style rejection on the low range). */
  int(n: number): number {
    if (!Number.isInteger(n) || n <= 0 || n > 0x100000000) throw new RangeError(`int(n) needs 1 <= n <= 2^32, got ${n}`);
    const limit = 4294967296 - (4294967296 % n);
    let x = this.nextU32();
    while (x >= limit) x = this.nextU32();
    return x % n;
  }

  /** True with probability p. */
  bernoulli(p: number): boolean {
    return this.float() < p;
  }

  /** Standard normal (Box-Muller; one value per call, simplicity over speed). */
  normal(): number {
    const u = 1 - this.float();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.float());
  }

  /** Fisher-Yates permutation of 0..n-1. */
  permutation(n: number): Int32Array {
    const p = new Int32Array(n);
    for (let i = 0; i < n; i++) p[i] = i;
    for (let i = n - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = p[i];
      p[i] = p[j];
      p[j] = t;
    }
    return p;
  }
}
