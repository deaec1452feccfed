/**
 * Shared by tests/kernels: the kernel builds to run every test against, seeded data, fast-check
 * settings and the float32 error bound of a dot product.
 *
 * Every kernel test runs once per build (scalar, simd, relaxed) that this Node can compile; the
 * relaxed build needs --experimental-wasm-relaxed-simd on Node 20, which vitest.config.ts passes to
 * the test workers (builds.test.ts fails if it did not take effect). The .wasm files come from
 * `npm run build:wasm`.
 *
 * Replaying a failure: fast-check prints `{ seed: S, path: "P" }` with the counterexample (shapes,
 * options and the data seed) and the first wrong element; run
 *   FC_SEED=S FC_PATH=P npx vitest run tests/kernels/<file> -t '<test name>'
 * to run exactly that case again. FC_RUNS=n changes the number of random cases.
 */

import fc from 'fast-check';
import { BUILD_NAMES, type BuildName, canRun } from '../../src/backend/wasm/kernels.js';
import { type LoadedKernels, loadKernels, readKernelBytes } from '../../src/backend/wasm/node-loader.js';
import { Rng } from '../../src/rng.js';

/** The builds this process can compile; the others, with the reason, for describe.skip. */
export const RUNNABLE_BUILDS: BuildName[] = BUILD_NAMES.filter((b) => canRun(readKernelBytes(b)));

/** One instance per build and test file, without warm-up (tests are small). */
const cache = new Map<BuildName, LoadedKernels>();
export function kernelsFor(build: BuildName): LoadedKernels {
  let k = cache.get(build);
  if (!k) {
    k = loadKernels({ build, warmUp: false });
    cache.set(build, k);
  }
  return k;
}

/** fast-check settings: `numRuns` random cases (FC_RUNS overrides), or the one named by FC_SEED / FC_PATH. */
export function fcParams(numRuns: number): fc.Parameters<unknown> {
  const seed = process.env.FC_SEED;
  const path = process.env.FC_PATH;
  const runs = process.env.FC_RUNS;
  return {
    numRuns: runs !== undefined ? Number(runs) : numRuns,
    includeErrorInReport: true,
    ...(seed !== undefined ? { seed: Number(seed) } : {}),
    ...(path !== undefined ? { path, endOnFailure: true } : {}),
  };
}

/** A seed for `Rng`, drawn by fast-check so that it appears in the counterexample. */
export const seedArb = fc.integer({ min: 0, max: 0xffffffff });

/** Values uniform in [-1, 1), float32. */
export function uniform(rng: Rng, n: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = 2 * rng.uniform() - 1;
  return out;
}

/** Integers uniform in [lo, hi] as float32: sums and products of a few of them are exact. */
export function integers(rng: Rng, n: number, lo: number, hi: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = lo + rng.below(hi - lo + 1);
  return out;
}

export { Rng };

/** Unit roundoff of float32, 2^-24. */
export const U32 = 2 ** -24;

/**
 * Error bound of a float32 sum of `terms` terms (a start value and K products) computed in any
 * order with any mix of fused and unfused multiply-adds: |fl(s) - s| <= gamma * sum |term|, with
 * gamma = (terms + 1) u / (1 - (terms + 1) u) (Higham, "Accuracy and Stability of Numerical
 * Algorithms", 2nd ed., section 3.1: gamma_n for n rounded operations on each term's path; +1 for
 * the product's own rounding). It grows with K, as the tests' tolerance must.
 */
export function dotErrorBound(terms: number, sumAbs: number): number {
  const nu = (terms + 1) * U32;
  return (nu / (1 - nu)) * sumAbs;
}

/** Describes the first index where two arrays differ bit for bit, or null. */
export function firstBitDifference(got: Float32Array, want: Float32Array): string | null {
  if (got.length !== want.length) return `length ${got.length}, expected ${want.length}`;
  for (let i = 0; i < got.length; i++) {
    if (!Object.is(got[i], want[i])) return `index ${i}: got ${got[i]}, expected ${want[i]}`;
  }
  return null;
}
