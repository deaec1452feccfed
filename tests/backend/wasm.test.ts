/**
 * The wasm backend (src/backend/wasm/backend.ts) against the reference ops of src/ops:
 *
 *   - every op forward and backward on random shapes (fast-check; groups, stride, padding, ties),
 *     in every kernel build on 1 thread, and the fastest build on 3 threads too (an odd count:
 *     uneven shares of pieces), in float32;
 *     products are held to the float32 error bound of their sums, which grows with K
 *     (helpers.ts: |got - exact| <= gamma_(terms+1) * sum |products|), data movement and
 *     comparisons (ReLU, max-pool) to exact equality;
 *   - shapes at the edges of the kernels' blocks: K past 256 (two K blocks), more than 128 pixels
 *     (several pieces per image), batches past FILTER_CHUNKS images (partial weight gradients);
 *   - float64 tensors run the reference ops, bit for bit;
 *   - the packed-weight cache: in-place changes are seen after weightsUpdated(), not before;
 *   - scope(): results are views of the memory, read in place, reclaimed when it closes;
 *   - dispose() stops the threads, and a backend never disposed does not keep Node alive.
 *
 * Whole networks (wasm-nets.test.ts) and the PyTorch fixtures (wasm-vs-pytorch.test.ts) are
 * tested in their own files. Replaying a failure: the report ends with the FC_SEED / FC_PATH
 * command (tests/helpers/random.ts).
 */

import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import fc from 'fast-check';
import { FILTER_CHUNKS, SGD_CHUNK, type WasmBackend, createWasmBackend } from '../../src/backend/wasm/backend.js';
import { residentTrainingState, sgdStep } from '../../src/train/optimizer.js';
import { loadKernels, readKernelBytes } from '../../src/backend/wasm/node-loader.js';
import { WorkerPool } from '../../src/backend/wasm/node-pool.js';
import type { Worker } from 'node:worker_threads';
import { createWasmBackendSync } from '../../src/backend/wasm/node-backend.js';
import { type BuildName, type Kernels, createMemory } from '../../src/backend/wasm/kernels.js';
import { RUNNABLE_BUILDS } from '../kernels/harness.js';
import * as ops from '../../src/ops/index.js';
import { convGeometry } from '../../src/ops/conv2d.js';
import { Rng } from '../../src/rng.js';
import type { FloatArray, Tensor } from '../../src/tensor.js';
import {
  type ConvCase, checkProperty, classesCaseArb, convCaseArb, dropoutPArb, linearCaseArb, lrnCaseArb, poolCaseArb,
  adaptiveCaseArb, randint, randn, seedArb, shape4Arb, toFloat32,
} from '../helpers/random.js';
import { expectRelativeError, expectWithinSumBound, firstDifference } from './helpers.js';
import { F2X2_3X3, absMatrices, winogradConv, winogradRoundings } from './winograd-f64.js';

/**
 * The configurations every op is tested on: the fastest build on 1 thread and on 3, and each other
 * build this Node runs on 1 thread (the scalar build's loops and the SIMD build's vectors are
 * separate code: both must equal src/ops). All run 3x3 convolutions of stride 1 by Winograd's
 * F(2x2, 3x3) but one, which runs every convolution directly (im2col and GEMM).
 */
const CONFIGS: { build: BuildName; threads: number; winograd: boolean }[] = [
  { build: RUNNABLE_BUILDS[0], threads: 1, winograd: true },
  { build: RUNNABLE_BUILDS[0], threads: 3, winograd: true },
  ...RUNNABLE_BUILDS.slice(1).map((build) => ({ build, threads: 1, winograd: true })),
  { build: RUNNABLE_BUILDS[0], threads: 3, winograd: false },
];
const backends = CONFIGS.map((c) => createWasmBackendSync(c));
afterAll(() => {
  for (const b of backends) b.dispose();
});

const f64 = (t: Tensor): Tensor<Float64Array> => ({ data: Float64Array.from(t.data), shape: [...t.shape] });
const abs64 = (t: Tensor): Tensor<Float64Array> => ({ data: Float64Array.from(t.data, Math.abs), shape: [...t.shape] });

/** Uniform values in [-1, 1) as float32. */
function uniform32(rng: Rng, shape: number[]): Tensor<Float32Array> {
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = 2 * rng.uniform() - 1;
  return { data, shape };
}

// ---------------------------------------------------------------------------------------------
// Convolution and fully connected: the products, within the error bound of their sums.

function checkConv(backend: WasmBackend, c: ConvCase): void {
  const rng = new Rng(c.seed);
  const x = uniform32(rng, [c.N, c.C, c.H, c.W]);
  const w = uniform32(rng, [c.OC, c.C / c.groups, c.KH, c.KW]);
  const b = c.bias ? uniform32(rng, [c.OC]) : null;
  const params = { stride: c.stride, pad: c.pad, groups: c.groups };
  const geo = convGeometry(x.shape, w.shape, params);
  const dy = uniform32(rng, [c.N, c.OC, geo.OH, geo.OW]);
  const what = `conv ${JSON.stringify(c)} on ${backend.build} x ${backend.threads}`;

  const got = backend.conv2dForward(x, w, b, params);
  expect(got.y.shape).toEqual([c.N, c.OC, geo.OH, geo.OW]);
  expect(got.y.data).toBeInstanceOf(Float32Array);
  const want = ops.conv2dForward(f64(x), f64(w), b && f64(b), params);
  if (backend.winograd && c.KH === 3 && c.KW === 3 && c.stride === 1) {
    // Winograd's F(2x2, 3x3): the bound of its own sums (tests/backend/winograd-f64.ts)
    const g = backend.conv2dBackward(got.cache, dy);
    const back = ops.conv2dBackward(want.cache, f64(dy));
    const abs = winogradConv(abs64(x), abs64(w), b && abs64(b), abs64(dy), params, absMatrices(F2X2_3X3));
    const n = winogradRoundings(geo, FILTER_CHUNKS);
    expectWithinSumBound(`${what}: y (Winograd)`, got.y.data, want.y.data, abs.y, n.y);
    expectWithinSumBound(`${what}: dx (Winograd)`, g.dx.data, back.dx.data, abs.dx, n.dx);
    expectWithinSumBound(`${what}: dW (Winograd)`, g.dw.data, back.dw.data, abs.dw, n.dw);
    expectWithinSumBound(`${what}: db`, g.db.data, back.db.data, ops.conv2dBackward(want.cache, abs64(dy)).db.data, 1);
    return;
  }
  const wantAbs = ops.conv2dForward(abs64(x), abs64(w), b && abs64(b), params);
  expectWithinSumBound(`${what}: y`, got.y.data, want.y.data, wantAbs.y.data, geo.K + 1);

  const g = backend.conv2dBackward(got.cache, dy);
  const back = ops.conv2dBackward(want.cache, f64(dy));
  const backAbs = ops.conv2dBackward(wantAbs.cache, abs64(dy));
  expect(g.dx.shape).toEqual(x.shape);
  expect(g.dw.shape).toEqual(w.shape);
  // dW: N*P products per element; dx: OCg products per dcols entry, then up to KH*KW entries per sample
  expectWithinSumBound(`${what}: dW`, g.dw.data, back.dw.data, backAbs.dw.data, c.N * geo.P + 1);
  expectWithinSumBound(`${what}: dx`, g.dx.data, back.dx.data, backAbs.dx.data, geo.OCg + c.KH * c.KW);
  expectWithinSumBound(`${what}: db`, g.db.data, back.db.data, backAbs.db.data, 1);
}

/** Bigger shapes than the reference's arbitraries: several K blocks, pixel pieces and image chunks. */
const bigConvArb: fc.Arbitrary<ConvCase> = fc
  .record({
    N: fc.integer({ min: 1, max: 2 * FILTER_CHUNKS + 3 }), groups: fc.integer({ min: 1, max: 2 }),
    Cg: fc.integer({ min: 1, max: 12 }), OCg: fc.integer({ min: 1, max: 20 }),
    H: fc.integer({ min: 1, max: 20 }), W: fc.integer({ min: 1, max: 20 }),
    KH: fc.integer({ min: 1, max: 6 }), KW: fc.integer({ min: 1, max: 6 }),
    stride: fc.integer({ min: 1, max: 4 }), pad: fc.integer({ min: 0, max: 3 }), bias: fc.boolean(), seed: seedArb,
  })
  .map(({ Cg, OCg, ...c }) => ({
    ...c, C: Cg * c.groups, OC: OCg * c.groups,
    KH: Math.min(c.KH, c.H + 2 * c.pad), KW: Math.min(c.KW, c.W + 2 * c.pad),
  }));

/** Edge cases of the blocking, named. */
const EDGE_CONVS: (ConvCase & { why: string })[] = [
  { why: 'K = 261: two K blocks', N: 2, C: 29, H: 7, W: 7, OC: 8, KH: 3, KW: 3, stride: 1, pad: 1, groups: 1, bias: true, seed: 1 },
  { why: 'K = 512: exactly two K blocks, groups', N: 1, C: 64, H: 5, W: 5, OC: 16, KH: 3, KW: 3, stride: 1, pad: 0, groups: 2, bias: true, seed: 2 },
  { why: 'P = 169 > 128 pixels, 11x11 stride 4', N: 1, C: 3, H: 51, W: 51, OC: 8, KH: 11, KW: 11, stride: 4, pad: 2, groups: 1, bias: true, seed: 3 },
  { why: 'P = 784, the mini conv1', N: 3, C: 1, H: 28, W: 28, OC: 12, KH: 5, KW: 5, stride: 1, pad: 2, groups: 1, bias: true, seed: 4 },
  { why: `N = ${FILTER_CHUNKS + 1}: uneven chunks of images`, N: FILTER_CHUNKS + 1, C: 4, H: 6, W: 6, OC: 6, KH: 3, KW: 3, stride: 1, pad: 1, groups: 2, bias: true, seed: 5 },
  { why: 'N = 37: 5 images per chunk', N: 37, C: 2, H: 5, W: 4, OC: 4, KH: 2, KW: 3, stride: 2, pad: 1, groups: 1, bias: false, seed: 6 },
  { why: '1x1 output, kernel covering padding', N: 2, C: 2, H: 1, W: 1, OC: 9, KH: 3, KW: 3, stride: 1, pad: 1, groups: 1, bias: true, seed: 7 },
  { why: 'OC/G = 1 and 3 groups', N: 2, C: 3, H: 4, W: 5, OC: 3, KH: 2, KW: 2, stride: 1, pad: 0, groups: 3, bias: true, seed: 8 },
];

/** 3x3 kernels of stride 1, the convolutions Winograd's F(2x2, 3x3) takes: odd and even outputs, groups, image chunks. */
const conv3x3Arb: fc.Arbitrary<ConvCase> = fc
  .record({
    N: fc.integer({ min: 1, max: 2 * FILTER_CHUNKS + 3 }), groups: fc.integer({ min: 1, max: 3 }),
    Cg: fc.integer({ min: 1, max: 13 }), OCg: fc.integer({ min: 1, max: 13 }),
    H: fc.integer({ min: 1, max: 14 }), W: fc.integer({ min: 1, max: 14 }),
    pad: fc.integer({ min: 0, max: 2 }), bias: fc.boolean(), seed: seedArb,
  })
  .map(({ Cg, OCg, H, W, pad, ...c }) => ({
    ...c, C: Cg * c.groups, OC: OCg * c.groups, KH: 3, KW: 3, stride: 1,
    // the kernel must fit the padded input
    H: Math.max(H, 3 - 2 * pad), W: Math.max(W, 3 - 2 * pad), pad,
  }));

/** Edge cases of the Winograd path's blocking, named. */
const EDGE_3X3: (ConvCase & { why: string })[] = [
  { why: 'Cg = 260: the forward product has two K blocks', N: 2, C: 260, H: 5, W: 6, OC: 12, KH: 3, KW: 3, stride: 1, pad: 1, groups: 1, bias: true, seed: 11 },
  { why: 'OCg = 264: the dx product has two K blocks', N: 2, C: 6, H: 6, W: 5, OC: 264, KH: 3, KW: 3, stride: 1, pad: 1, groups: 1, bias: false, seed: 12 },
  { why: '289 tiles in one image: a dW product over two K blocks', N: 2, C: 3, H: 34, W: 34, OC: 5, KH: 3, KW: 3, stride: 1, pad: 1, groups: 1, bias: true, seed: 13 },
  { why: '13x13, as conv3-conv5 of the full-size networks: odd outputs, groups', N: 3, C: 16, H: 13, W: 13, OC: 24, KH: 3, KW: 3, stride: 1, pad: 1, groups: 2, bias: true, seed: 14 },
  { why: '6x6 and N = 37, as mini: 5 images per chunk, pieces across images', N: 37, C: 8, H: 6, W: 6, OC: 12, KH: 3, KW: 3, stride: 1, pad: 1, groups: 2, bias: true, seed: 15 },
  { why: '1x1 input, pad 1: one tile, mostly padding', N: 2, C: 3, H: 1, W: 1, OC: 9, KH: 3, KW: 3, stride: 1, pad: 1, groups: 1, bias: true, seed: 16 },
  { why: 'pad 0 and pad 2', N: 2, C: 4, H: 7, W: 4, OC: 4, KH: 3, KW: 3, stride: 1, pad: 0, groups: 1, bias: true, seed: 17 },
  { why: 'pad 2, OCg = 1, 3 groups', N: 2, C: 3, H: 3, W: 5, OC: 3, KH: 3, KW: 3, stride: 1, pad: 2, groups: 3, bias: true, seed: 18 },
];

function checkLinear(backend: WasmBackend, c: { N: number; IN: number; OUT: number; bias: boolean; seed: number }): void {
  const rng = new Rng(c.seed);
  const x = uniform32(rng, [c.N, c.IN]), w = uniform32(rng, [c.OUT, c.IN]), dy = uniform32(rng, [c.N, c.OUT]);
  const b = c.bias ? uniform32(rng, [c.OUT]) : null;
  const what = `linear ${JSON.stringify(c)} on ${backend.build} x ${backend.threads}`;
  const got = backend.linearForward(x, w, b);
  const want = ops.linearForward(f64(x), f64(w), b && f64(b));
  const wantAbs = ops.linearForward(abs64(x), abs64(w), b && abs64(b));
  expectWithinSumBound(`${what}: y`, got.y.data, want.y.data, wantAbs.y.data, c.IN + 1);
  const g = backend.linearBackward(got.cache, dy);
  const back = ops.linearBackward(want.cache, f64(dy));
  const backAbs = ops.linearBackward(wantAbs.cache, abs64(dy));
  expectWithinSumBound(`${what}: dx`, g.dx.data, back.dx.data, backAbs.dx.data, c.OUT);
  expectWithinSumBound(`${what}: dW`, g.dw.data, back.dw.data, backAbs.dw.data, c.N);
  expectWithinSumBound(`${what}: db`, g.db.data, back.db.data, backAbs.db.data, 1);
}

const bigLinearArb = fc.record({
  N: fc.integer({ min: 1, max: 140 }), IN: fc.integer({ min: 1, max: 300 }), OUT: fc.integer({ min: 1, max: 140 }),
  bias: fc.boolean(), seed: seedArb,
});

for (const [index, { build, threads, winograd }] of CONFIGS.entries()) {
  const conv = winograd ? '' : ', direct 3x3 convolutions';
  const backend = backends[index];
  describe(`wasm backend, ${build} build on ${threads} thread(s)${conv}: conv2d and linear within the float32 bound of their sums`, () => {

    it('conv2d forward and backward, small random shapes (groups, stride, padding, rectangular kernels)', () => {
      checkProperty(fc.property(convCaseArb, (c) => checkConv(backend, c)), 60);
    });

    it('conv2d forward and backward, larger random shapes (K blocks, pixel pieces, image chunks)', () => {
      checkProperty(fc.property(bigConvArb, (c) => checkConv(backend, c)), 25);
    });

    for (const c of EDGE_CONVS) {
      it(`conv2d: ${c.why}`, () => checkConv(backend, c));
    }

    it('conv2d 3x3 of stride 1 (Winograd on this backend unless direct), larger random shapes', () => {
      checkProperty(fc.property(conv3x3Arb, (c) => checkConv(backend, c)), 20);
    });

    for (const c of EDGE_3X3) {
      it(`conv2d 3x3: ${c.why}`, () => checkConv(backend, c));
    }

    it('linear forward and backward, small and larger random shapes (row and column tiles)', () => {
      checkProperty(fc.property(linearCaseArb, (c) => checkLinear(backend, c)), 40);
      checkProperty(fc.property(bigLinearArb, (c) => checkLinear(backend, c)), 15);
    });

    it('linear forward of one row has the bits of the same row in a batch (4x2 tiles, tails)', () => {
      for (const [B, IN, OUT] of [[5, 300, 40], [7, 513, 17], [3, 9, 8], [4, 3, 6]]) {
        const rng = new Rng(B);
        const x = uniform32(rng, [B, IN]), w = uniform32(rng, [OUT, IN]), b = uniform32(rng, [OUT]);
        const batch = backend.linearForward(x, w, b).y.data;
        for (let r = 0; r < B; r++) {
          const one = backend.linearForward({ data: x.data.slice(r * IN, (r + 1) * IN), shape: [1, IN] }, w, b).y.data;
          expect(firstDifference(one, batch.subarray(r * OUT, (r + 1) * OUT)), `B ${B} IN ${IN} OUT ${OUT} row ${r}`).toBeNull();
        }
      }
    });

    it('linear at batch 1 and at the mini fc shapes', () => {
      checkLinear(backend, { N: 1, IN: 1000, OUT: 777, bias: true, seed: 1 });
      checkLinear(backend, { N: 128, IN: 512, OUT: 10, bias: true, seed: 2 });
      checkLinear(backend, { N: 3, IN: 9, OUT: 4096, bias: false, seed: 3 });
    });
  });

  if (!winograd) continue; // the direct configuration only differs in convolutions
  describe(`wasm backend, ${build} build on ${threads} thread(s): the other ops`, () => {

    it('relu forward and backward equal the reference exactly (ReLU\'(0) = 0)', () => {
      checkProperty(fc.property(shape4Arb, seedArb, (shape, seed) => {
        const rng = new Rng(seed);
        // integers in [-2, 2]: zeros (the kink) are common
        const x = toFloat32(randint(rng, shape, -2, 2));
        const dy = toFloat32(randn(rng, shape));
        const got = backend.reluForward(x);
        const want = ops.reluForward(x);
        expect(firstDifference(got.y.data, want.y.data)).toBeNull();
        expect(firstDifference(backend.reluBackward(got.cache, dy).dx.data, ops.reluBackward(want.cache, dy).dx.data)).toBeNull();
      }), 40);
    });

    it('lrn forward and backward within a few float32 roundings of the float64 reference', () => {
      checkProperty(fc.property(lrnCaseArb, (c) => {
        const rng = new Rng(c.seed);
        const shape = [c.N, c.C, c.H, c.W];
        const x = toFloat32(randn(rng, shape)), dy = toFloat32(randn(rng, shape));
        const got = backend.lrnForward(x, c.params);
        const want = ops.lrnForward(f64(x), c.params);
        expectRelativeError(`lrn y ${JSON.stringify(c)}`, got.y.data, want.y.data, 1e-5);
        const dx = backend.lrnBackward(got.cache, dy).dx.data;
        expectRelativeError(`lrn dx ${JSON.stringify(c)}`, dx, ops.lrnBackward(want.cache, f64(dy)).dx.data, 1e-5);
      }), 40);
    });

    it('max-pool forward and backward equal the reference exactly (ties to the first maximum)', () => {
      checkProperty(fc.property(poolCaseArb, (c) => {
        const rng = new Rng(c.seed);
        const params = { kernel: c.kernel, stride: c.stride, pads: c.pads, rounding: c.rounding };
        const x = toFloat32(randint(rng, [c.N, c.C, c.H, c.W], -3, 3)); // ties everywhere
        const got = backend.maxPoolForward(x, params);
        const want = ops.maxPoolForward(x, params);
        expect(got.y.shape).toEqual(want.y.shape);
        expect(firstDifference(got.y.data, want.y.data)).toBeNull();
        const dy = toFloat32(randn(rng, want.y.shape));
        expect(firstDifference(backend.maxPoolBackward(got.cache, dy).dx.data, ops.maxPoolBackward(want.cache, dy).dx.data)).toBeNull();
      }), 40);
    });

    it('relu, lrn and max-pool at AlexNet sizes: several pieces, vector bodies and scalar tails', () => {
      const rng = new Rng(11);
      const x = toFloat32(randn(rng, [3, 20, 13, 11])), dy = toFloat32(randn(rng, [3, 20, 13, 11])); // H*W = 143: 64 + 64 + 15
      const r = backend.reluForward(x);
      expect(firstDifference(r.y.data, ops.reluForward(x).y.data)).toBeNull();
      expect(firstDifference(backend.reluBackward(r.cache, dy).dx.data, ops.reluBackward(ops.reluForward(x).cache, dy).dx.data)).toBeNull();
      const big = toFloat32(randn(rng, [1, 1, 1, 40_003]));
      expect(firstDifference(backend.reluForward(big).y.data, ops.reluForward(big).y.data)).toBeNull();
      for (const params of [ops.LRN_PAPER, ops.LRN_CAFFE, { size: 4, alpha: 0.5, beta: 1.2, k: 1.5, divideAlphaByN: true }]) {
        const l = backend.lrnForward(x, params);
        const want = ops.lrnForward(f64(x), params);
        expectRelativeError(`lrn y ${JSON.stringify(params)}`, l.y.data, want.y.data, 1e-5);
        expectRelativeError(`lrn dx ${JSON.stringify(params)}`, backend.lrnBackward(l.cache, dy).dx.data, ops.lrnBackward(want.cache, f64(dy)).dx.data, 1e-5);
      }
      // stride 2 (AlexNet), 1 and 3: the three ways the kernel gathers 4 outputs' taps
      for (const [H, kernel, stride, rounding] of [[55, 3, 2, 'floor'], [13, 3, 2, 'ceil'], [28, 3, 2, 'floor'], [17, 2, 1, 'floor'], [26, 3, 3, 'ceil']] as const) {
        const params = { kernel, stride, pads: [0, 1, 0, 0] as const, rounding };
        const xp = toFloat32(randint(rng, [2, 5, H, H], -3, 3));
        const got = backend.maxPoolForward(xp, params), want = ops.maxPoolForward(xp, params);
        expect(firstDifference(got.y.data, want.y.data)).toBeNull();
        const dyp = toFloat32(randn(rng, want.y.shape));
        expect(firstDifference(backend.maxPoolBackward(got.cache, dyp).dx.data, ops.maxPoolBackward(want.cache, dyp).dx.data)).toBeNull();
      }
    });

    it('max-pool propagates NaN with the index of the first NaN, as the reference', () => {
      const x = toFloat32(randn(new Rng(12), [1, 2, 7, 7]));
      x.data[10] = Number.NaN;
      x.data[12] = Number.NaN;
      x.data[49 + 24] = Number.NaN;
      const params = { kernel: 3, stride: 2, pads: [1, 1, 1, 1] as const, rounding: 'floor' as const };
      const got = backend.maxPoolForward(x, params), want = ops.maxPoolForward(x, params);
      expect(firstDifference(got.y.data, want.y.data)).toBeNull();
      const dy = toFloat32(randn(new Rng(13), want.y.shape));
      expect(firstDifference(backend.maxPoolBackward(got.cache, dy).dx.data, ops.maxPoolBackward(want.cache, dy).dx.data)).toBeNull();
    });

    it('adaptive average pooling, dropout (p != 0.5), softmax and cross-entropy match the reference', () => {
      checkProperty(fc.property(adaptiveCaseArb, (c) => {
        const rng = new Rng(c.seed);
        const x = toFloat32(randn(rng, [c.N, c.C, c.H, c.W]));
        const params = { outH: c.outH, outW: c.outW };
        const got = backend.adaptiveAvgPoolForward(x, params);
        const want = ops.adaptiveAvgPoolForward(f64(x), params);
        expectRelativeError('avgpool y', got.y.data, want.y.data, 1e-6);
        const dy = toFloat32(randn(rng, want.y.shape));
        expectRelativeError('avgpool dx', backend.adaptiveAvgPoolBackward(got.cache, dy).dx.data, ops.adaptiveAvgPoolBackward(want.cache, f64(dy)).dx.data, 1e-6);
      }), 30);
      checkProperty(fc.property(shape4Arb, dropoutPArb, seedArb, (shape, p, seed) => {
        const rng = new Rng(seed);
        const x = toFloat32(randn(rng, shape)), dy = toFloat32(randn(rng, shape));
        const mask = ops.dropoutMask(rng, x.data.length, p);
        const got = backend.dropoutForward(x, p, mask);
        const want = ops.dropoutForward(f64(x), p, mask);
        expectRelativeError('dropout y', got.y.data, want.y.data, 1e-7);
        expectRelativeError('dropout dx', backend.dropoutBackward(got.cache, dy).dx.data, ops.dropoutBackward(want.cache, f64(dy)).dx.data, 1e-7);
      }), 30);
      checkProperty(fc.property(classesCaseArb, (c) => {
        const rng = new Rng(c.seed);
        const logits = toFloat32(randn(rng, [c.N, c.K], 3));
        const labels = Int32Array.from(c.labels);
        expectRelativeError('softmax', backend.softmaxForward(logits).y.data, ops.softmaxForward(f64(logits)).y.data, 1e-6);
        const ce = backend.crossEntropyForward(logits, labels);
        const want = ops.crossEntropyForward(f64(logits), labels);
        expect(Math.abs(ce.loss - want.loss)).toBeLessThanOrEqual(1e-6 * Math.max(1, want.loss));
        expectRelativeError('dlogits', backend.crossEntropyBackward(ce.cache).dlogits.data, ops.crossEntropyBackward(want.cache).dlogits.data, 1e-6);
      }), 30);
    });

    it('float64 tensors run the reference ops, bit for bit', () => {
      const rng = new Rng(9);
      const x = randn(rng, [2, 4, 7, 7]), w = randn(rng, [6, 2, 3, 3]), b = randn(rng, [6]);
      const params = { stride: 2, pad: 1, groups: 2 };
      const got = backend.conv2dForward(x, w, b, params);
      const want = ops.conv2dForward(x, w, b, params);
      expect(got.y.data).toBeInstanceOf(Float64Array);
      expect(firstDifference(got.y.data, want.y.data)).toBeNull();
      const dy = randn(rng, want.y.shape);
      const g = backend.conv2dBackward(got.cache, dy), r = ops.conv2dBackward(want.cache, dy);
      for (const k of ['dx', 'dw', 'db'] as const) expect(firstDifference(g[k].data, r[k].data), k).toBeNull();
      const xf = randn(rng, [3, 5]), wf = randn(rng, [4, 5]);
      const lf = backend.linearForward(xf, wf, null);
      expect(firstDifference(lf.y.data, ops.linearForward(xf, wf, null).y.data)).toBeNull();
      const dyf = randn(rng, [3, 4]);
      const lb = backend.linearBackward(lf.cache, dyf), lr = ops.linearBackward(ops.linearForward(xf, wf, null).cache, dyf);
      for (const k of ['dx', 'dw', 'db'] as const) expect(firstDifference(lb[k].data, lr[k].data), k).toBeNull();
    });
  });
}

describe('wasm backend: packed weights, errors, threads', () => {
  it('keeps packed weights until weightsUpdated(): in-place changes show after it', () => {
    const backend = backends[0];
    const rng = new Rng(3);
    const x = uniform32(rng, [2, 3, 6, 6]), w = uniform32(rng, [4, 3, 3, 3]);
    const params = { stride: 1, pad: 1, groups: 1 };
    const before = backend.conv2dForward(x, w, null, params).y.data;
    w.data.fill(0); // an optimiser step, in place
    const stale = backend.conv2dForward(x, w, null, params).y.data;
    expect(firstDifference(stale, before)).toBeNull(); // documented: the cache is by array identity
    backend.weightsUpdated();
    expect(Array.from(backend.conv2dForward(x, w, null, params).y.data).every((v) => v === 0)).toBe(true);
    const xf = uniform32(rng, [2, 5]), wf = uniform32(rng, [3, 5]);
    backend.linearForward(xf, wf, null);
    wf.data.fill(0);
    backend.weightsUpdated();
    expect(Array.from(backend.linearForward(xf, wf, null).y.data).every((v) => v === 0)).toBe(true);
  });

  it('uses weights in a resident region in place: same bits as a JavaScript copy, no weightsUpdated() needed', () => {
    for (const backend of backends) {
      const rng = new Rng(4);
      const [B, IN, OUT] = [3, 37, 21];
      const x = uniform32(rng, [B, IN]), w = uniform32(rng, [OUT, IN]), b = uniform32(rng, [OUT]);
      const region = backend.allocateResident(4 + 4 * w.data.length); // one float in, to test an offset
      expect(region.byteOffset % 64).toBe(0);
      const resident: Tensor<Float32Array> = { data: new Float32Array(region.buffer, region.byteOffset + 4, w.data.length), shape: [OUT, IN] };
      resident.data.set(w.data);
      const want = backend.linearForward(x, w, b).y.data;
      expect(firstDifference(backend.linearForward(x, resident, b).y.data, want), `${backend.build} x ${backend.threads}`).toBeNull();
      // Memory the ops use afterwards lies above the region: a big op leaves it intact.
      backend.conv2dForward(uniform32(rng, [2, 3, 40, 40]), uniform32(rng, [8, 3, 5, 5]), null, { stride: 1, pad: 2, groups: 1 });
      expect(firstDifference(resident.data, w.data)).toBeNull();
      // Read where it lies: a change shows at once (a JavaScript array's copy waits for weightsUpdated()).
      resident.data.fill(0);
      expect(Array.from(backend.linearForward(x, resident, null).y.data).every((v) => v === 0)).toBe(true);
      backend.weightsUpdated(); // also after it, the region is kept
      expect(firstDifference(resident.data, new Float32Array(w.data.length))).toBeNull();
    }
  });

  it('scope(): results are views read in place, reclaimed when it closes; nested scopes join the outer; errors close it', () => {
    const backend = backends[0];
    const rng = new Rng(6);
    const x = uniform32(rng, [2, 4, 7, 7]);
    const onMemory = (t: Tensor): boolean => t.data.buffer instanceof SharedArrayBuffer;
    const outside = backend.reluForward(x).y;
    expect(onMemory(outside), 'outside a scope: a fresh JavaScript array').toBe(false);

    const offsets = [0, 1].map(() => backend.scope(() => {
      const y = backend.reluForward(x).y;
      expect(onMemory(y)).toBe(true);
      expect(firstDifference(y.data, outside.data)).toBeNull();
      // the view is the result: a change made to it is what the next op reads
      y.data.fill(-1);
      expect(Array.from(backend.reluForward(y).y.data).every((v) => v === 0)).toBe(true);
      return y.data.byteOffset;
    }));
    expect(offsets[1], 'the second scope reuses the first one\'s memory').toBe(offsets[0]);

    backend.scope(() => {
      const a = backend.reluForward(x).y;
      const b = backend.scope(() => backend.reluForward(a).y);
      const c = backend.reluForward(b).y; // the inner scope's result outlives it, inside the outer
      expect(b.data.byteOffset).toBeGreaterThan(a.data.byteOffset);
      expect(firstDifference(c.data, outside.data)).toBeNull();
      expect(() => backend.allocateResident(64)).toThrow(/scope/);
    });

    expect(() => backend.scope(() => {
      backend.reluForward(x);
      throw new Error('in the body');
    })).toThrow('in the body');
    expect(onMemory(backend.reluForward(x).y), 'the failed scope was closed').toBe(false);
    expect(backend.scope(() => backend.reluForward(x).y.data.byteOffset), 'and its memory reclaimed').toBe(offsets[0]);
  });

  it('scope(): weights packed inside a scope stay packed after it, below the memory it reclaims', () => {
    const backend = createWasmBackendSync({ threads: 2 });
    try {
      const kernels = (backend as unknown as { kernels: Kernels }).kernels;
      const packs = vi.spyOn(kernels, 'packB'), transforms = vi.spyOn(kernels, 'winogradFilterTransform');
      const rng = new Rng(8);
      const x = uniform32(rng, [2, 4, 9, 9]);
      const w5 = uniform32(rng, [6, 4, 5, 5]), w3 = uniform32(rng, [8, 6, 3, 3]), fc = uniform32(rng, [5, 8 * 81]);
      // a direct 5x5 convolution, a Winograd 3x3 one and an fc forward (its weights copied as stored)
      const run = (): { y: Float32Array; at: number } => backend.scope(() => {
        const a = backend.conv2dForward(x, w5, null, { stride: 1, pad: 2, groups: 1 }).y;
        const b = backend.conv2dForward(a, w3, null, { stride: 1, pad: 1, groups: 1 }).y;
        const y = backend.linearForward({ data: b.data, shape: [2, 8 * 81] }, fc, null).y;
        return { y: y.data.slice(), at: a.data.byteOffset };
      });
      const first = run();
      const packed = packs.mock.calls.length;
      expect(packed, 'the first scope packs the 5x5 weights').toBeGreaterThan(0);
      expect(transforms.mock.calls.length, 'and transforms the 3x3 ones').toBe(1);
      const second = run(), third = run();
      expect(packs.mock.calls.length, 'the next scopes pack nothing').toBe(packed);
      expect(transforms.mock.calls.length).toBe(1);
      expect(firstDifference(second.y, first.y), 'moved, the packed weights give the same bits').toBeNull();
      expect(firstDifference(third.y, first.y)).toBeNull();
      expect(third.at, 'the memory above the packed weights is reused scope after scope').toBe(second.at);
      // dropped inside a scope, then packed again in it: kept as well
      backend.scope(() => {
        backend.weightsUpdated();
        backend.conv2dForward(x, w5, null, { stride: 1, pad: 2, groups: 1 });
      });
      const again = packs.mock.calls.length;
      expect(again).toBeGreaterThan(packed);
      expect(firstDifference(run().y, first.y)).toBeNull();
      expect(transforms.mock.calls.length, 'the 3x3 weights, dropped, were transformed again').toBe(2);
      const before = packs.mock.calls.length;
      expect(firstDifference(run().y, first.y)).toBeNull();
      expect(packs.mock.calls.length).toBe(before);
      expect(again).toBeLessThan(before); // the 3x3 weights were packed in the run after the drop
    } finally {
      backend.dispose();
    }
  });

  it('Winograd convolutions have the same bits in the scalar and the SIMD build (same transforms, same order of sums)', () => {
    const scalar = backends.find((b) => b.build === 'scalar'), simd = backends.find((b) => b.build === 'simd');
    if (!scalar || !simd) throw new Error('this Node runs neither the scalar nor the simd build');
    // channel counts that are and are not multiples of 4 (vector lanes, then the per-lane tail)
    for (const [N, C, H, OC, pad, groups] of [[3, 8, 6, 12, 1, 2], [2, 5, 7, 7, 1, 1], [2, 6, 13, 18, 2, 3]]) {
      const rng = new Rng(N * 100 + C);
      const x = uniform32(rng, [N, C, H, H]), w = uniform32(rng, [OC, C / groups, 3, 3]), b = uniform32(rng, [OC]);
      const params = { stride: 1, pad, groups };
      const [s, v] = [scalar, simd].map((be) => {
        const f = be.conv2dForward(x, w, b, params);
        const g = be.conv2dBackward(f.cache, uniform32(new Rng(7), [...f.y.shape]));
        return [f.y.data, g.dx.data, g.dw.data];
      });
      for (let i = 0; i < 3; i++) expect(firstDifference(v[i], s[i]), `${['y', 'dx', 'dw'][i]} of case ${[N, C, H, OC, pad, groups]}`).toBeNull();
    }
  });

  it('the fc forward has the same bits in the scalar and the SIMD build (same order of sums)', () => {
    const scalar = backends.find((b) => b.build === 'scalar'), simd = backends.find((b) => b.build === 'simd');
    if (!scalar || !simd) throw new Error('this Node runs neither the scalar nor the simd build');
    for (const [B, IN, OUT] of [[1, 9216, 40], [5, 515, 17], [2, 3, 5]]) {
      const rng = new Rng(IN);
      const x = uniform32(rng, [B, IN]), w = uniform32(rng, [OUT, IN]), b = uniform32(rng, [OUT]);
      expect(firstDifference(scalar.linearForward(x, w, b).y.data, simd.linearForward(x, w, b).y.data), `B ${B} IN ${IN} OUT ${OUT}`).toBeNull();
    }
  });

  it('refuses mismatched shapes and caches with the reference\'s messages', () => {
    const backend = backends[0];
    const x = new Float32Array(2 * 3 * 4 * 4), w = new Float32Array(4 * 3 * 3 * 3);
    const params = { stride: 1, pad: 0, groups: 1 };
    expect(() => backend.conv2dForward({ data: x, shape: [2, 3, 4, 4] }, { data: w, shape: [4, 3, 3, 3] }, { data: new Float32Array(3), shape: [3] }, params))
      .toThrow(/bias must be \[4\]/);
    expect(() => backend.conv2dForward({ data: x, shape: [2, 3, 4, 4] }, { data: new Float64Array(w.length), shape: [4, 3, 3, 3] } as Tensor<FloatArray>, null, params))
      .toThrow(/mix float32 and float64/);
    const f = backend.conv2dForward({ data: x, shape: [2, 3, 4, 4] }, { data: w, shape: [4, 3, 3, 3] }, null, params);
    expect(() => backend.conv2dBackward(f.cache, { data: new Float32Array(8), shape: [2, 4, 1, 1] })).toThrow(/dy is \[2, 4, 1, 1\], expected \[2, 4, 2, 2\]/);
    expect(() => backend.linearBackward(f.cache, { data: new Float32Array(8), shape: [2, 4] })).toThrow(/cache of a conv forward/);
  });

  it('createWasmBackend: under Node from build/ with threads; elsewhere from given bytes, one thread', async () => {
    const a = await createWasmBackend({ threads: 2 });
    expect([a.name, a.threads, a.build]).toEqual(['wasm', 2, RUNNABLE_BUILDS[0]]);
    const x = uniform32(new Rng(4), [2, 6]), w = uniform32(new Rng(5), [3, 6]);
    const b = await createWasmBackend({ threads: 1, from: { build: 'simd', source: readKernelBytes('simd') } });
    expect([b.threads, b.build]).toEqual([1, 'simd']);
    // simd and relaxed differ by fused multiply-adds only: within the bound, not necessarily equal
    expectWithinSumBound('linear', b.linearForward(x, w, null).y.data, a.linearForward(x, w, null).y.data, ops.linearForward(abs64(x), abs64(w), null).y.data, 2 * 6);
    await expect(createWasmBackend({ threads: 2, from: { build: 'simd', source: readKernelBytes('simd') } })).rejects.toThrow(/threads need Node/);
    a.dispose();
    b.dispose();
  });

  it('sgdStep has the bits of the JavaScript update, both forms, across chunks, with flushed subnormals, also in place on resident weights', () => {
    const rng = new Rng(12);
    const sizes: [string, number][] = [['big', SGD_CHUNK + 37], ['small', 1001], ['one', 1]];
    for (const backend of backends) {
      for (const update of ['pytorch', 'paper'] as const) {
        const weights = new Map<string, Tensor<Float32Array>>(), grads = new Map<string, Tensor>(), momentum = new Map<string, Float32Array>();
        for (const [key, n] of sizes) {
          const pick = (i: number): number => {
            const r = rng.uniform();
            // a few values at the edge of the normal range, where the flush decides
            return i % 97 === 0 ? (r - 0.5) * 4e-38 : i % 89 === 0 ? 0 : (2 * r - 1) * 0.1;
          };
          weights.set(key, { data: Float32Array.from({ length: n }, (_, i) => pick(i)), shape: [n] });
          grads.set(key, { data: Float32Array.from({ length: n }, (_, i) => pick(i + 1)), shape: [n] });
          momentum.set(key, Float32Array.from({ length: n }, (_, i) => pick(i + 2)));
        }
        const copy = <T extends Float32Array>(m: Map<string, T>) => new Map([...m].map(([k, a]) => [k, Float32Array.from(a)]));
        const wJs = new Map([...weights].map(([k, t]) => [k, { data: Float32Array.from(t.data), shape: t.shape }]));
        const vJs = copy(momentum);
        // the same state in the backend's memory: updated where it lies, nothing copied
        const resident = residentTrainingState(backend, weights, momentum);
        expect(resident.weights.get('big')!.data.buffer).toBeInstanceOf(SharedArrayBuffer);
        for (const lr of [0.01, 0.001]) {
          const options = { momentum: 0.9, weightDecay: 5e-4, update };
          sgdStep(wJs, grads, vJs, lr, options);
          backend.sgdStep(weights, grads, momentum, lr, options);
          backend.sgdStep(resident.weights, grads, resident.momentum, lr, options);
          for (const [key] of sizes) {
            const what = `${backend.build} x ${backend.threads}, ${update}, lr ${lr}, ${key}`;
            expect(firstDifference(weights.get(key)!.data, wJs.get(key)!.data), `w: ${what}`).toBeNull();
            expect(firstDifference(momentum.get(key)!, vJs.get(key)!), `v: ${what}`).toBeNull();
            expect(firstDifference(resident.weights.get(key)!.data, wJs.get(key)!.data), `resident w: ${what}`).toBeNull();
            expect(firstDifference(resident.momentum.get(key)!, vJs.get(key)!), `resident v: ${what}`).toBeNull();
          }
        }
        // The flush happened: no subnormal survives.
        for (const t of weights.values()) expect(t.data.some((x) => x !== 0 && Math.abs(x) < 1.1754943508222875e-38)).toBe(false);
      }
    }
  });

  it('a worker thread that dies makes the next job fail with an error, not hang', async () => {
    const setup = loadKernels({ memory: createMemory({ initialBytes: 2 ** 20 }) });
    const pool = new WorkerPool(setup.kernels, 2, 1000);
    const n = 4096;
    const x = setup.alloc.allocFrom(new Float32Array(n).fill(-1)), y = setup.alloc.alloc(n);
    const job = { kernel: 'relu_forward_task' as const, count: 8, scratch: 0, scratchStride: 0, args: [x, y, n, n / 8] };
    pool.run(job); // works while both threads live
    await (pool as unknown as { workers: Worker[] }).workers[0].terminate();
    const started = Date.now();
    expect(() => pool.run(job)).toThrow(/1 of 1 worker threads stopped responding \(no piece of relu_forward_task finished in 1 s\)/);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(() => pool.run(job)).toThrow(/stopped responding/); // and stays broken
  });

  it('dispose() stops the worker threads; a backend never disposed does not keep Node alive', () => {
    const b = createWasmBackendSync({ threads: 2 });
    b.dispose();
    expect(() => b.conv2dForward(uniform32(new Rng(1), [1, 1, 3, 3]), uniform32(new Rng(2), [1, 1, 1, 1]), null, { stride: 1, pad: 0, groups: 1 }))
      .toThrow(/after dispose/);
    // A child process that creates a 3-thread backend, uses it and never disposes it must exit.
    const dir = mkdtempSync(join(tmpdir(), 'alexnet-wasm-'));
    const script = join(dir, 'forgot-dispose.mjs');
    writeFileSync(script, [
      `import { createWasmBackendSync } from ${JSON.stringify(new URL('../../src/backend/wasm/node-backend.ts', import.meta.url).href)};`,
      'const b = createWasmBackendSync({ threads: 3 });',
      'const r = b.linearForward({ data: new Float32Array(64 * 32).fill(1), shape: [64, 32] }, { data: new Float32Array(16 * 32).fill(1), shape: [16, 32] }, null);',
      'console.log(r.y.data[0], b.threads);',
    ].join('\n'));
    const out = execFileSync(process.execPath, ['--import', 'tsx', script], { timeout: 60_000, encoding: 'utf8' });
    rmSync(dir, { recursive: true, force: true });
    expect(out.trim()).toBe('32 3');
  });
});
