/**
 * Random test data: fast-check arbitraries for the shapes and parameters of every op, tensors
 * drawn from the project's seeded generator (src/rng.ts), and the fast-check run settings.
 *
 * Arbitraries produce plain numbers (sizes, params, a tensor seed); tensors are then drawn from
 * `Rng(seed)`, so a counterexample printed by fast-check is small and fully reproducible.
 * Sizes that must fit (kernel <= padded input, pads < kernel, groups dividing C and OC) are made to
 * fit by construction (clamping) rather than by filtering, which keeps shrinking effective.
 *
 * Replaying a failure: `checkProperty` appends to fast-check's report (`{ seed: S, path: "P" }`) the
 * command that replays exactly that counterexample:
 *   FC_SEED=S FC_PATH=P npx vitest run tests/ops/<op>.test.ts -t '<test name>'
 */

import path from 'node:path';
import fc from 'fast-check';
import { expect } from 'vitest';
import { Rng } from '../../src/rng.js';
import type { Pads, Rounding } from '../../src/geometry.js';
import type { LrnParams } from '../../src/ops/lrn.js';
import { type Tensor, sizeOf } from '../../src/tensor.js';

/**
 * Runs a fast-check property `numRuns` times (or replays FC_SEED / FC_PATH); on failure the error
 * carries fast-check's report (seed, path, counterexample, the thrown message) and the command
 * that replays just that counterexample.
 */
export function checkProperty<Ts>(property: fc.IProperty<Ts>, numRuns: number): void {
  try {
    fc.assert(property, fcParams(numRuns));
  } catch (e) {
    const m = e instanceof Error ? /\{ seed: (-?\d+), path: "([^"]*)"/.exec(e.message) : null;
    if (e instanceof Error && m) {
      const state = expect.getState();
      const file = state.testPath ? path.relative(process.cwd(), state.testPath) : '<test file>';
      const name = (state.currentTestName ?? '').split(' > ').pop() ?? '';
      const pattern = name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/'/g, '.');
      e.message += `\nReplay: FC_SEED=${m[1]} FC_PATH=${m[2]} npx vitest run ${file} -t '${pattern}'`;
    }
    throw e;
  }
}

/** fast-check settings: `numRuns` runs, or the run named by FC_SEED / FC_PATH when replaying. */
export function fcParams(numRuns: number): fc.Parameters<unknown> {
  const seed = process.env.FC_SEED;
  const replayPath = process.env.FC_PATH;
  return {
    numRuns,
    // put the thrown error's text (op, shapes, element, analytic vs numeric) in the report itself
    includeErrorInReport: true,
    ...(seed !== undefined ? { seed: Number(seed) } : {}),
    ...(replayPath !== undefined ? { path: replayPath, endOnFailure: true } : {}),
  };
}

/** A seed for `Rng`. */
export const seedArb = fc.integer({ min: 0, max: 0xffffffff });

// ---------------------------------------------------------------------------------------------
// Tensors

/** Standard normal values of the given shape, in float64. */
export function randn(rng: Rng, shape: readonly number[], scale = 1): Tensor<Float64Array> {
  const data = new Float64Array(sizeOf(shape));
  for (let i = 0; i < data.length; i++) data[i] = scale * rng.normal();
  return { data, shape: [...shape] };
}

/** Integers uniform in [lo, hi], in float64: products and sums of these are exact, and ties are common. */
export function randint(rng: Rng, shape: readonly number[], lo: number, hi: number): Tensor<Float64Array> {
  const data = new Float64Array(sizeOf(shape));
  for (let i = 0; i < data.length; i++) data[i] = lo + rng.below(hi - lo + 1);
  return { data, shape: [...shape] };
}

/** The same values rounded to float32, as a float64 tensor (exactly representable in both types). */
export function roundedToFloat32(t: Tensor<Float64Array>): Tensor<Float64Array> {
  return { data: Float64Array.from(t.data, Math.fround), shape: [...t.shape] };
}

export function toFloat32(t: Tensor<Float64Array>): Tensor<Float32Array> {
  return { data: Float32Array.from(t.data), shape: [...t.shape] };
}

// ---------------------------------------------------------------------------------------------
// Convolution: N 1-2, groups 1-3 dividing C and OC, H W 1-9, kernel 1-5 (rectangular allowed),
// stride 1-3, pad 0-2.

export interface ConvCase {
  N: number; C: number; H: number; W: number;
  OC: number; KH: number; KW: number;
  stride: number; pad: number; groups: number;
  bias: boolean;
  seed: number;
}

export const convCaseArb: fc.Arbitrary<ConvCase> = fc
  .record({
    N: fc.integer({ min: 1, max: 2 }),
    groups: fc.integer({ min: 1, max: 3 }),
    Cg: fc.integer({ min: 1, max: 3 }), //  input channels per group
    OCg: fc.integer({ min: 1, max: 3 }), // output channels per group
    H: fc.integer({ min: 1, max: 9 }),
    W: fc.integer({ min: 1, max: 9 }),
    KH: fc.integer({ min: 1, max: 5 }),
    KW: fc.integer({ min: 1, max: 5 }),
    stride: fc.integer({ min: 1, max: 3 }),
    pad: fc.integer({ min: 0, max: 2 }),
    bias: fc.boolean(),
    seed: seedArb,
  })
  .map(({ N, groups, Cg, OCg, H, W, KH, KW, stride, pad, bias, seed }) => ({
    N, C: groups * Cg, H, W,
    OC: groups * OCg,
    // the kernel must fit the padded input
    KH: Math.min(KH, H + 2 * pad),
    KW: Math.min(KW, W + 2 * pad),
    stride, pad, groups, bias, seed,
  }));

// ---------------------------------------------------------------------------------------------
// Max pooling: kernel 1-4, stride 1-3, asymmetric pads each smaller than the kernel, floor/ceil.

export interface PoolCase {
  N: number; C: number; H: number; W: number;
  kernel: number; stride: number; pads: Pads; rounding: Rounding;
  seed: number;
}

export const poolCaseArb: fc.Arbitrary<PoolCase> = fc
  .record({
    N: fc.integer({ min: 1, max: 2 }),
    C: fc.integer({ min: 1, max: 3 }),
    H: fc.integer({ min: 1, max: 9 }),
    W: fc.integer({ min: 1, max: 9 }),
    kernel: fc.integer({ min: 1, max: 4 }),
    stride: fc.integer({ min: 1, max: 3 }),
    // fractions of the kernel, turned into pads in [0, kernel - 1] below
    pads: fc.tuple(fc.nat(3), fc.nat(3), fc.nat(3), fc.nat(3)),
    rounding: fc.constantFrom<Rounding>('floor', 'ceil'),
    seed: seedArb,
  })
  .map(({ N, C, H, W, kernel, stride, pads, rounding, seed }) => {
    const [t, l, b, r] = pads.map((p) => p % kernel);
    return {
      N, C,
      // the window must fit the padded input
      H: Math.max(H, kernel - t - b),
      W: Math.max(W, kernel - l - r),
      kernel, stride, pads: [t, l, b, r] as const, rounding, seed,
    };
  });

// ---------------------------------------------------------------------------------------------
// LRN: size 1-6 (even sizes too), alpha up to 2 (so the cross-channel term of the gradient is not
// negligible next to the direct one), beta, k, both conventions for alpha.

export interface LrnCase {
  N: number; C: number; H: number; W: number;
  params: LrnParams;
  seed: number;
}

export const lrnCaseArb: fc.Arbitrary<LrnCase> = fc.record({
  N: fc.integer({ min: 1, max: 2 }),
  C: fc.integer({ min: 1, max: 8 }),
  H: fc.integer({ min: 1, max: 3 }),
  W: fc.integer({ min: 1, max: 3 }),
  params: fc.record({
    size: fc.integer({ min: 1, max: 6 }),
    alpha: fc.oneof(fc.constant(1e-4), fc.double({ min: 1e-3, max: 2, noNaN: true })),
    beta: fc.oneof(fc.constant(0.75), fc.double({ min: 0.25, max: 1.5, noNaN: true })),
    k: fc.oneof(fc.constant(1), fc.constant(2), fc.double({ min: 0.5, max: 3, noNaN: true })),
    divideAlphaByN: fc.boolean(),
  }),
  seed: seedArb,
});

// ---------------------------------------------------------------------------------------------
// Adaptive average pooling: input and output sizes 1-9 each, so outputs both larger and smaller
// than the input (overlapping and repeated windows) occur.

export interface AdaptiveCase {
  N: number; C: number; H: number; W: number;
  outH: number; outW: number;
  seed: number;
}

export const adaptiveCaseArb: fc.Arbitrary<AdaptiveCase> = fc.record({
  N: fc.integer({ min: 1, max: 2 }),
  C: fc.integer({ min: 1, max: 3 }),
  H: fc.integer({ min: 1, max: 9 }),
  W: fc.integer({ min: 1, max: 9 }),
  outH: fc.integer({ min: 1, max: 9 }),
  outW: fc.integer({ min: 1, max: 9 }),
  seed: seedArb,
});

// ---------------------------------------------------------------------------------------------
// Elementwise ops (ReLU, dropout, flatten): any rank-4 shape.

export const shape4Arb: fc.Arbitrary<[number, number, number, number]> = fc.tuple(
  fc.integer({ min: 1, max: 3 }),
  fc.integer({ min: 1, max: 4 }),
  fc.integer({ min: 1, max: 5 }),
  fc.integer({ min: 1, max: 5 }),
);

export const dropoutPArb = fc.constantFrom(0.1, 0.3, 0.5, 0.8);

// ---------------------------------------------------------------------------------------------
// Fully connected and the classifier head.

export interface LinearCase {
  N: number; IN: number; OUT: number; bias: boolean; seed: number;
}

export const linearCaseArb: fc.Arbitrary<LinearCase> = fc.record({
  N: fc.integer({ min: 1, max: 4 }),
  IN: fc.integer({ min: 1, max: 12 }),
  OUT: fc.integer({ min: 1, max: 12 }),
  bias: fc.boolean(),
  seed: seedArb,
});

/** Rows of logits: N 1-4, K (classes) 1-12, one label in [0, K) per row. */
export interface ClassesCase {
  N: number; K: number; labels: number[]; seed: number;
}

export const classesCaseArb: fc.Arbitrary<ClassesCase> = fc
  .record({
    N: fc.integer({ min: 1, max: 4 }),
    K: fc.integer({ min: 1, max: 12 }),
    labelDraws: fc.array(fc.nat(), { minLength: 4, maxLength: 4 }),
    seed: seedArb,
  })
  .map(({ N, K, labelDraws, seed }) => ({ N, K, labels: labelDraws.slice(0, N).map((d) => d % K), seed }));
