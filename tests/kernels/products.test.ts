/**
 * The six matrix products of AlexNet through the one packed GEMM, as the header of
 * assembly/gemm.ts maps them, checked against the reference ops (src/ops/conv2d.ts, linear.ts) in
 * every build:
 *
 *   conv forward   Y_g = W_g . cols + b   A = cols packed from [K, P], B = W_g packed goi,
 *                                         C^T stored into NCHW y, bias along N, fused ReLU
 *   conv dW        dW_g += dY_g . cols^T  A = dY_g packed from [OCg, P], B = cols packed goi
 *                                         ([K rows, P]), row-major, accumulated over the batch
 *   conv dx        dcols = W_g^T . dY_g   A = dY_g packed from [OCg, P] read as [k, m], B = W_g
 *                                         packed gio, C^T stored into [K, P]; then col2im
 *   fc forward     y = x W^T + b          A = x [B, IN], B = W packed goi, bias along N
 *   fc dx          dx = dy W              A = dy [B, OUT], B = W packed gio
 *   fc dW          dW = dy^T x            A = dy packed from [B, OUT] as [k, m], B = x packed gio
 *
 * This is the glue the WebAssembly backend will use, written out once so that the orientation is
 * proved before anything is built on it. Tolerance: gamma_T * (the same computation on absolute
 * values), with T the longest sum any output element takes (harness.ts, dotErrorBound).
 */

import { describe, it } from 'vitest';
import fc from 'fast-check';
import { type ConvGeometry, conv2dBackward, conv2dForward, convGeometry } from '../../src/ops/conv2d.js';
import { linearBackward, linearForward } from '../../src/ops/linear.js';
import type { Tensor } from '../../src/tensor.js';
import type { BumpAllocator, Im2colGeometry, Kernels } from '../../src/backend/wasm/kernels.js';
import { packedASize, packedBSize } from '../../src/backend/wasm/kernels.js';
import { Rng, RUNNABLE_BUILDS, dotErrorBound, fcParams, kernelsFor, seedArb, uniform } from './harness.js';

const f64 = (a: Float32Array): Float64Array => Float64Array.from(a);
const abs64 = (a: Float32Array): Float64Array => Float64Array.from(a, Math.abs);
const t64 = (data: Float64Array, shape: number[]): Tensor<Float64Array> => ({ data, shape });

function expectClose(what: string, got: Float32Array, want: Float64Array, absSum: Float64Array, terms: number): void {
  for (let i = 0; i < want.length; i++) {
    const tol = dotErrorBound(terms, absSum[i]);
    if (!(Math.abs(got[i] - want[i]) <= tol)) {
      throw new Error(`${what}[${i}] = ${got[i]}, expected ${want[i]} within ${tol.toExponential(2)}`);
    }
  }
}

interface ConvCase {
  N: number; C: number; H: number; W: number; OC: number; KH: number; KW: number;
  stride: number; pad: number; groups: number; relu: boolean; seed: number;
}

function kernelGeometry(geo: ConvGeometry): Im2colGeometry {
  return {
    channels: geo.Cg, height: geo.H, width: geo.W, kernelH: geo.KH, kernelW: geo.KW,
    stride: geo.stride, pad: geo.pad, outH: geo.OH, outW: geo.OW,
  };
}

function checkConv(kernels: Kernels, alloc: BumpAllocator, c: ConvCase): void {
  const xShape = [c.N, c.C, c.H, c.W], wShape = [c.OC, c.C / c.groups, c.KH, c.KW];
  const geo = convGeometry(xShape, wShape, c);
  const { N, C, H, W, OC, OCg, K, P, groups } = geo;
  const rng = new Rng(c.seed);
  const x = uniform(rng, N * C * H * W), w = uniform(rng, OC * K), b = uniform(rng, OC), dy = uniform(rng, N * OC * P);
  const what = JSON.stringify(c);
  const kgeo = kernelGeometry(geo);

  const mark = alloc.mark();
  try {
    const xPtr = alloc.allocFrom(x), wPtr = alloc.allocFrom(w), bPtr = alloc.allocFrom(b), dyPtr = alloc.allocFrom(dy);
    const yPtr = alloc.alloc(N * OC * P), dwPtr = alloc.allocZeroed(OC * K), dxPtr = alloc.allocZeroed(N * C * H * W);
    const cols = alloc.alloc(K * P), dcols = alloc.alloc(K * P);
    const aPacked = alloc.alloc(Math.max(packedASize(P, K), packedASize(OCg, P), packedASize(P, OCg)));
    const colsPacked = alloc.alloc(packedBSize(K, P));
    // weights packed once per update, per group: for the forward (goi) and for dx (gio)
    const wFwd: number[] = [], wBwd: number[] = [];
    for (let g = 0; g < groups; g++) {
      const wg = wPtr + g * OCg * K * 4; // W_g [OCg, K]
      wFwd.push(alloc.alloc(packedBSize(OCg, K)));
      kernels.packB({ from: 'goi', n: OCg, k: K, src: wg, out: wFwd[g] });
      wBwd.push(alloc.alloc(packedBSize(K, OCg)));
      kernels.packB({ from: 'gio', n: K, k: OCg, src: wg, out: wBwd[g] });
    }
    for (let n = 0; n < N; n++) {
      for (let g = 0; g < groups; g++) {
        const xg = xPtr + (n * C + g * geo.Cg) * H * W * 4;
        const yg = yPtr + (n * OC + g * OCg) * P * 4; // Y_g [OCg, P], and dY_g likewise
        const dyg = dyPtr + (n * OC + g * OCg) * P * 4;
        kernels.im2col(xg, kgeo, cols);
        // forward: [P, OCg] = cols^T . W_g^T, stored transposed as Y_g [OCg, P]
        kernels.packA({ from: 'km', m: P, k: K, src: cols, out: aPacked });
        kernels.gemm({ m: P, n: OCg, k: K, a: aPacked, b: wFwd[g], c: yg, ldc: P, cTransposed: true, bias: bPtr + g * OCg * 4, relu: c.relu });
        // dW_g [OCg, K] += dY_g [OCg, P] . cols^T [P, K]
        kernels.packA({ from: 'mk', m: OCg, k: P, src: dyg, out: aPacked });
        kernels.packB({ from: 'goi', n: K, k: P, src: cols, out: colsPacked });
        kernels.gemm({ m: OCg, n: K, k: P, a: aPacked, b: colsPacked, c: dwPtr + g * OCg * K * 4, ldc: K, accumulate: true });
        // dcols^T [P, K] = dY_g^T [P, OCg] . W_g [OCg, K], stored transposed as dcols [K, P]
        kernels.packA({ from: 'km', m: P, k: OCg, src: dyg, out: aPacked });
        kernels.gemm({ m: P, n: K, k: OCg, a: aPacked, b: wBwd[g], c: dcols, ldc: P, cTransposed: true });
        kernels.col2im(dcols, kgeo, dxPtr + (n * C + g * geo.Cg) * H * W * 4);
      }
    }

    const params = { stride: c.stride, pad: c.pad, groups };
    const ref = conv2dForward(t64(f64(x), xShape), t64(f64(w), wShape), t64(f64(b), [OC]), params);
    const refAbs = conv2dForward(t64(abs64(x), xShape), t64(abs64(w), wShape), t64(abs64(b), [OC]), params);
    const want = c.relu ? ref.y.data.map((v) => Math.max(0, v)) : ref.y.data;
    expectClose(`${what}: y`, alloc.f32(yPtr, N * OC * P), want, refAbs.y.data, K + 1);

    const back = conv2dBackward(ref.cache, t64(f64(dy), [N, OC, geo.OH, geo.OW]));
    const backAbs = conv2dBackward(refAbs.cache, t64(abs64(dy), [N, OC, geo.OH, geo.OW]));
    expectClose(`${what}: dW`, alloc.f32(dwPtr, OC * K), back.dw.data, backAbs.dw.data, N * P + 1);
    // dx: OCg products per dcols entry, then up to KH*KW entries added per dx sample
    expectClose(`${what}: dx`, alloc.f32(dxPtr, N * C * H * W), back.dx.data, backAbs.dx.data, OCg + c.KH * c.KW);
  } finally {
    alloc.reset(mark);
  }
}

const convCaseArb: fc.Arbitrary<ConvCase> = fc
  .record({
    N: fc.integer({ min: 1, max: 2 }), Cg: fc.integer({ min: 1, max: 4 }), groups: fc.integer({ min: 1, max: 2 }),
    H: fc.integer({ min: 1, max: 11 }), W: fc.integer({ min: 1, max: 11 }), OCg: fc.integer({ min: 1, max: 12 }),
    KH: fc.integer({ min: 1, max: 5 }), KW: fc.integer({ min: 1, max: 5 }),
    stride: fc.integer({ min: 1, max: 3 }), pad: fc.integer({ min: 0, max: 2 }), relu: fc.boolean(), seed: seedArb,
  })
  .map(({ Cg, OCg, ...c }) => ({
    ...c, C: Cg * c.groups, OC: OCg * c.groups,
    KH: Math.min(c.KH, c.H + 2 * c.pad), KW: Math.min(c.KW, c.W + 2 * c.pad),
  }));

interface FcCase { B: number; IN: number; OUT: number; seed: number }

function checkFc(kernels: Kernels, alloc: BumpAllocator, c: FcCase): void {
  const { B, IN, OUT } = c;
  const rng = new Rng(c.seed);
  const x = uniform(rng, B * IN), w = uniform(rng, OUT * IN), b = uniform(rng, OUT), dy = uniform(rng, B * OUT);
  const what = JSON.stringify(c);
  const mark = alloc.mark();
  try {
    const xPtr = alloc.allocFrom(x), wPtr = alloc.allocFrom(w), bPtr = alloc.allocFrom(b), dyPtr = alloc.allocFrom(dy);
    const y = alloc.alloc(B * OUT), dx = alloc.alloc(B * IN), dw = alloc.alloc(OUT * IN);
    const aPacked = alloc.alloc(Math.max(packedASize(B, IN), packedASize(B, OUT), packedASize(OUT, B)));
    const wFwd = alloc.alloc(packedBSize(OUT, IN)), wBwd = alloc.alloc(packedBSize(IN, OUT)), xPacked = alloc.alloc(packedBSize(IN, B));
    kernels.packB({ from: 'goi', n: OUT, k: IN, src: wPtr, out: wFwd });
    kernels.packB({ from: 'gio', n: IN, k: OUT, src: wPtr, out: wBwd });
    // y [B, OUT] = x [B, IN] . W^T + b
    kernels.packA({ from: 'mk', m: B, k: IN, src: xPtr, out: aPacked });
    kernels.gemm({ m: B, n: OUT, k: IN, a: aPacked, b: wFwd, c: y, ldc: OUT, bias: bPtr });
    // dx [B, IN] = dy [B, OUT] . W [OUT, IN]
    kernels.packA({ from: 'mk', m: B, k: OUT, src: dyPtr, out: aPacked });
    kernels.gemm({ m: B, n: IN, k: OUT, a: aPacked, b: wBwd, c: dx, ldc: IN });
    // dW [OUT, IN] = dy^T [OUT, B] . x [B, IN]
    kernels.packA({ from: 'km', m: OUT, k: B, src: dyPtr, out: aPacked });
    kernels.packB({ from: 'gio', n: IN, k: B, src: xPtr, out: xPacked });
    kernels.gemm({ m: OUT, n: IN, k: B, a: aPacked, b: xPacked, c: dw, ldc: IN });

    const ref = linearForward(t64(f64(x), [B, IN]), t64(f64(w), [OUT, IN]), t64(f64(b), [OUT]));
    const refAbs = linearForward(t64(abs64(x), [B, IN]), t64(abs64(w), [OUT, IN]), t64(abs64(b), [OUT]));
    expectClose(`${what}: y`, alloc.f32(y, B * OUT), ref.y.data, refAbs.y.data, IN + 1);
    const back = linearBackward(ref.cache, t64(f64(dy), [B, OUT]));
    const backAbs = linearBackward(refAbs.cache, t64(abs64(dy), [B, OUT]));
    expectClose(`${what}: dx`, alloc.f32(dx, B * IN), back.dx.data, backAbs.dx.data, OUT);
    expectClose(`${what}: dW`, alloc.f32(dw, OUT * IN), back.dw.data, backAbs.dw.data, B);
  } finally {
    alloc.reset(mark);
  }
}

const fcCaseArb: fc.Arbitrary<FcCase> = fc.record({
  B: fc.integer({ min: 1, max: 9 }), IN: fc.integer({ min: 1, max: 300 }), OUT: fc.integer({ min: 1, max: 40 }), seed: seedArb,
});

for (const build of RUNNABLE_BUILDS) {
  describe(`${build}: AlexNet's products through f32_gemm`, () => {
    const { kernels, alloc } = kernelsFor(build);

    it('conv forward (NCHW, bias, ReLU), dW and dx on AlexNet-like layers', () => {
      // conv1-like (11x11 stride 4: P ragged, K = 363 across the K block), a grouped 5x5 with OCg
      // not a multiple of 8, and a 3x3 with K = 2304 > KC
      checkConv(kernels, alloc, { N: 1, C: 3, H: 35, W: 35, OC: 16, KH: 11, KW: 11, stride: 4, pad: 2, groups: 1, relu: true, seed: 1 });
      checkConv(kernels, alloc, { N: 2, C: 8, H: 9, W: 9, OC: 12, KH: 5, KW: 5, stride: 1, pad: 2, groups: 2, relu: false, seed: 2 });
      checkConv(kernels, alloc, { N: 1, C: 256, H: 5, W: 5, OC: 8, KH: 3, KW: 3, stride: 1, pad: 1, groups: 1, relu: true, seed: 3 });
    });

    it('conv forward, dW and dx on random geometries', () => {
      fc.assert(fc.property(convCaseArb, (c) => checkConv(kernels, alloc, c)), fcParams(40));
    });

    it('fc forward, dx and dW', () => {
      checkFc(kernels, alloc, { B: 1, IN: 600, OUT: 24, seed: 4 });
      fc.assert(fc.property(fcCaseArb, (c) => checkFc(kernels, alloc, c)), fcParams(40));
    });
  });
}
