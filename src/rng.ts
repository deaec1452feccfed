/**
 * A seeded, counter-based random generator.
 *
 * Draw number `i` (0, 1, 2, ...) of the stream with seed `s` is a pure function of (s, i):
 *
 *     mix32(x)    = lowbias32: x ^= x >>> 16; x *= 0x7feb352d; x ^= x >>> 15; x *= 0x846ca68b; x ^= x >>> 16
 *                   (all arithmetic modulo 2^32; constants from Chris Wellons' hash-prospector)
 *     key(s)      = mix32(s ^ 0x9e3779b9)
 *     bits(s, i)  = mix32((i mod 2^32) ^ mix32(floor(i / 2^32) ^ key(s)))
 *     uniform     = ((bits >>> 8) + 0.5) / 2^24          in (0, 1), never 0 or 1
 *
 * Because the whole state is (seed, counter), it is saved and restored exactly (checkpoints), and
 * the same numbers come out whatever the order of unrelated work. The same function written in
 * NumPy (fixtures/make_fixtures.py) generates the fixture weights, so both languages agree bit for bit.
 * It is a statistical generator for machine learning, not a cryptographic one.
 */

export function mix32(x: number): number {
  x >>>= 0;
  x ^= x >>> 16;
  x = Math.imul(x, 0x7feb352d);
  x ^= x >>> 15;
  x = Math.imul(x, 0x846ca68b);
  x ^= x >>> 16;
  return x >>> 0;
}

const TWO_POW_32 = 4294967296;

export interface RngState {
  seed: number;
  counter: number;
}

export class Rng {
  readonly seed: number;
  private readonly key: number;
  /** Index of the next draw; exact up to 2^53. */
  counter: number;

  constructor(seed: number, counter = 0) {
    if (!Number.isInteger(seed) || seed < 0 || seed >= TWO_POW_32) {
      throw new RangeError(`seed must be an integer in [0, 2^32), got ${seed}`);
    }
    this.seed = seed;
    this.key = mix32(seed ^ 0x9e3779b9);
    this.counter = counter;
  }

  static fromState(state: RngState): Rng {
    return new Rng(state.seed, state.counter);
  }

  state(): RngState {
    return { seed: this.seed, counter: this.counter };
  }

  /** 32 random bits as an unsigned integer. */
  nextUint32(): number {
    const i = this.counter++;
    const hi = Math.floor(i / TWO_POW_32);
    const lo = i - hi * TWO_POW_32;
    return mix32(lo ^ mix32(hi ^ this.key));
  }

  /** Uniform in the open interval (0, 1), with 24 bits of resolution. */
  uniform(): number {
    return ((this.nextUint32() >>> 8) + 0.5) / 16777216;
  }

  /** Standard normal by Box-Muller; consumes two draws per call (the second value is discarded). */
  normal(): number {
    const u1 = this.uniform();
    const u2 = this.uniform();
    return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
  }

  /** Integer uniform in [0, n) for n <= 2^24 (used for shuffles and crop offsets). */
  below(n: number): number {
    return Math.floor(this.uniform() * n);
  }

  /** A new independent generator, its seed drawn from this one. */
  split(): Rng {
    return new Rng(this.nextUint32());
  }
}
