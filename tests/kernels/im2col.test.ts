/**
 * im2col and col2im kernels (assembly/im2col.ts) against the reference (src/ops/conv2d.ts), in
 * every build:
 *   - im2col writes exactly the reference's [K, P] matrix, bit for bit, for any image n and group g
 *     of a batch (the host points the kernel at the group's first channel);
 *   - col2im adds exactly what the reference adds, onto a non-zero dx, bit for bit (same float32
 *     summation order), and leaves every other image and group alone;
 *   - the adjoint identity <im2col(x), y> = <x, col2im(y)>, exactly, on small integers;
 *   - the AlexNet conv geometries (11x11 stride 4, 5x5 pad 2, 3x3 pad 1, caffe's pad 0), whose
 *     runs of valid taps are what the kernels' fast paths (memory.copy, vector adds) cover;
 *   - im2col_packx_4x (assembly/conv.ts), im2col straight into the packed A layout for a range of
 *     output pixels, equals im2col then packA from 'km' on that range, bit for bit (including the
 *     repeated last row of a ragged micro-panel and K past one block).
 */

import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { type ConvGeometry, col2im, convGeometry, im2col } from '../../src/ops/conv2d.js';
import { type Im2colGeometry, packedASize } from '../../src/backend/wasm/kernels.js';
import { Rng, RUNNABLE_BUILDS, fcParams, firstBitDifference, integers, kernelsFor, seedArb, uniform } from './harness.js';

interface Case {
  N: number; G: number; Cg: number; H: number; W: number;
  KH: number; KW: number; stride: number; pad: number;
  /** Which image and group to run. */
  n: number; g: number;
}

/** Shapes that fit by construction (kernel <= padded input), shrinking towards 1x1 everything. */
const caseArb: fc.Arbitrary<Case> = fc
  .record({
    N: fc.integer({ min: 1, max: 2 }), G: fc.integer({ min: 1, max: 3 }), Cg: fc.integer({ min: 1, max: 3 }),
    H: fc.integer({ min: 1, max: 13 }), W: fc.integer({ min: 1, max: 13 }),
    KH: fc.integer({ min: 1, max: 6 }), KW: fc.integer({ min: 1, max: 6 }),
    stride: fc.integer({ min: 1, max: 4 }), pad: fc.integer({ min: 0, max: 3 }),
    n: fc.nat(), g: fc.nat(),
  })
  .map((c) => ({
    ...c,
    KH: Math.min(c.KH, c.H + 2 * c.pad), KW: Math.min(c.KW, c.W + 2 * c.pad),
    n: c.n % c.N, g: c.g % c.G,
  }));

function geometryOf(c: Case): ConvGeometry {
  return convGeometry([c.N, c.G * c.Cg, c.H, c.W], [c.G, c.Cg, c.KH, c.KW], { stride: c.stride, pad: c.pad, groups: c.G });
}

function kernelGeometry(geo: ConvGeometry): Im2colGeometry {
  return {
    channels: geo.Cg, height: geo.H, width: geo.W, kernelH: geo.KH, kernelW: geo.KW,
    stride: geo.stride, pad: geo.pad, outH: geo.OH, outW: geo.OW,
  };
}

/** Byte offset of image n, group g's first channel in an NCHW float32 tensor. */
function groupOffset(geo: ConvGeometry, n: number, g: number): number {
  return (n * geo.C + g * geo.Cg) * geo.H * geo.W * 4;
}

const ALEXNET_CASES: { name: string; c: Case }[] = [
  { name: 'torchvision conv1 (11x11 s4 p2 on 224, 2 channels)', c: { N: 1, G: 1, Cg: 2, H: 224, W: 224, KH: 11, KW: 11, stride: 4, pad: 2, n: 0, g: 0 } },
  { name: 'caffe conv1 (11x11 s4 p0 on 227, 1 channel)', c: { N: 1, G: 1, Cg: 1, H: 227, W: 227, KH: 11, KW: 11, stride: 4, pad: 0, n: 0, g: 0 } },
  { name: 'conv2 (5x5 s1 p2 on 27, groups 2)', c: { N: 2, G: 2, Cg: 3, H: 27, W: 27, KH: 5, KW: 5, stride: 1, pad: 2, n: 1, g: 1 } },
  { name: 'conv3-5 (3x3 s1 p1 on 13)', c: { N: 1, G: 2, Cg: 4, H: 13, W: 13, KH: 3, KW: 3, stride: 1, pad: 1, n: 0, g: 1 } },
];

for (const build of RUNNABLE_BUILDS) {
  describe(`${build}: im2col and col2im`, () => {
    const { kernels, alloc } = kernelsFor(build);

    function checkIm2col(c: Case, seed: number): void {
      const geo = geometryOf(c);
      const x = uniform(new Rng(seed), geo.N * geo.C * geo.H * geo.W);
      const want = new Float32Array(geo.K * geo.P);
      im2col(x, geo, c.n, c.g, want);
      const mark = alloc.mark();
      const xPtr = alloc.allocFrom(x);
      const colsPtr = alloc.allocFrom(new Float32Array(geo.K * geo.P).fill(Number.NaN)); // every entry must be written
      kernels.im2col(xPtr + groupOffset(geo, c.n, c.g), kernelGeometry(geo), colsPtr);
      const diff = firstBitDifference(alloc.f32(colsPtr, geo.K * geo.P), want);
      alloc.reset(mark);
      if (diff) throw new Error(`im2col ${JSON.stringify(c)} (K ${geo.K}, P ${geo.P}): ${diff}`);
    }

    function checkCol2im(c: Case, seed: number): void {
      const geo = geometryOf(c);
      const rng = new Rng(seed);
      const cols = uniform(rng, geo.K * geo.P);
      const dx0 = uniform(rng, geo.N * geo.C * geo.H * geo.W);
      const want = Float32Array.from(dx0);
      col2im(cols, geo, c.n, c.g, want);
      const mark = alloc.mark();
      const colsPtr = alloc.allocFrom(cols);
      const dxPtr = alloc.allocFrom(dx0);
      kernels.col2im(colsPtr, kernelGeometry(geo), dxPtr + groupOffset(geo, c.n, c.g));
      const diff = firstBitDifference(alloc.f32(dxPtr, dx0.length), want);
      alloc.reset(mark);
      if (diff) throw new Error(`col2im ${JSON.stringify(c)} (K ${geo.K}, P ${geo.P}): dx ${diff}`);
    }

    it('im2col equals src/ops/conv2d.ts im2col bit for bit', () => {
      fc.assert(fc.property(caseArb, seedArb, (c, seed) => checkIm2col(c, seed)), fcParams(300));
    });

    it('col2im adds exactly what src/ops/conv2d.ts col2im adds, and only into its image and group', () => {
      fc.assert(fc.property(caseArb, seedArb, (c, seed) => checkCol2im(c, seed)), fcParams(300));
    });

    it('col2im is the adjoint of im2col: <im2col(x), y> = <x, col2im(y)>, exactly on integers', () => {
      fc.assert(
        fc.property(caseArb, seedArb, (c, seed) => {
          const geo = geometryOf(c);
          const rng = new Rng(seed);
          const x = integers(rng, geo.N * geo.C * geo.H * geo.W, -4, 4);
          const y = integers(rng, geo.K * geo.P, -4, 4);
          const mark = alloc.mark();
          const xPtr = alloc.allocFrom(x), yPtr = alloc.allocFrom(y);
          const colsPtr = alloc.alloc(geo.K * geo.P), dxPtr = alloc.allocZeroed(x.length);
          const off = groupOffset(geo, c.n, c.g);
          kernels.im2col(xPtr + off, kernelGeometry(geo), colsPtr);
          kernels.col2im(yPtr, kernelGeometry(geo), dxPtr + off);
          const cols = alloc.f32(colsPtr, geo.K * geo.P), dx = alloc.f32(dxPtr, x.length);
          let lhs = 0, rhs = 0;
          for (let i = 0; i < cols.length; i++) lhs += cols[i] * y[i];
          for (let i = 0; i < x.length; i++) rhs += x[i] * dx[i];
          alloc.reset(mark);
          if (lhs !== rhs) throw new Error(`${JSON.stringify(c)}: <im2col(x), y> = ${lhs} but <x, col2im(y)> = ${rhs}`);
        }),
        fcParams(200),
      );
    });

    /** im2col_packx_4x on pixels [p0, p0 + m) against im2col + x32_packx_4x_t (itself tested against a loop). */
    function checkIm2colPacked(c: Case, seed: number, range: { p0: number; m: number }): void {
      const geo = geometryOf(c);
      const x = uniform(new Rng(seed), geo.N * geo.C * geo.H * geo.W);
      // any start in [0, P), any length in [1, P - p0] (m past the end means "to the end")
      const p0 = range.p0 % geo.P, m = range.m >= geo.P - p0 ? geo.P - p0 : 1 + (range.m % (geo.P - p0));
      const size = packedASize(m, geo.K);
      const mark = alloc.mark();
      const xPtr = alloc.allocFrom(x);
      const colsPtr = alloc.alloc(geo.K * geo.P);
      const wantPtr = alloc.alloc(size), gotPtr = alloc.allocFrom(new Float32Array(size + 16).fill(Number.NaN));
      const xg = xPtr + groupOffset(geo, c.n, c.g);
      kernels.im2col(xg, kernelGeometry(geo), colsPtr);
      kernels.packA({ from: 'km', m, k: geo.K, src: colsPtr + 4 * p0, ld: geo.P, out: wantPtr });
      const padSize = kernels.im2colPadSize(kernelGeometry(geo), p0, m);
      expect(padSize).toBeLessThanOrEqual(geo.Cg * (geo.H + 2 * geo.pad) * (geo.W + 2 * geo.pad));
      const pbuf = alloc.allocFrom(new Float32Array(padSize).fill(Number.NaN)); // stale values must not leak through
      kernels.im2colPacked(xg, kernelGeometry(geo), p0, m, gotPtr, pbuf);
      const diff = firstBitDifference(alloc.f32(gotPtr, size), alloc.f32(wantPtr, size));
      const past = alloc.f32(gotPtr + 4 * size, 16).every(Number.isNaN);
      alloc.reset(mark);
      if (diff) throw new Error(`im2col_packx_4x ${JSON.stringify(c)} pixels [${p0}, ${p0 + m}) (K ${geo.K}, P ${geo.P}): ${diff}`);
      if (!past) throw new Error(`im2col_packx_4x ${JSON.stringify(c)}: wrote past the packed panel`);
    }

    it('im2col_packx_4x equals im2col then packA (km) on any range of pixels, bit for bit', () => {
      const rangeArb = fc.record({ p0: fc.nat(), m: fc.nat() });
      fc.assert(fc.property(caseArb, seedArb, rangeArb, (c, seed, r) => checkIm2colPacked(c, seed, r)), fcParams(300));
      // K = 7*7*6 = 294: two K blocks
      checkIm2colPacked({ N: 1, G: 1, Cg: 6, H: 9, W: 10, KH: 7, KW: 7, stride: 1, pad: 3, n: 0, g: 0 }, 3, { p0: 5, m: 70 });
    });

    for (const { name, c } of ALEXNET_CASES) {
      it(`AlexNet geometry: ${name}`, () => {
        checkIm2col(c, 1);
        checkCol2im(c, 2);
        checkIm2colPacked(c, 3, { p0: 0, m: Infinity }); // the whole image
        checkIm2colPacked(c, 4, { p0: 13, m: 130 });
      });
    }
  });
}
