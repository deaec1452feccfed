/**
 * Max pooling (src/ops/maxpool.ts): forward and backward against a plain-loop reference on data
 * full of ties; gradient checks over kernel 1-4, stride 1-3, asymmetric pads, floor and ceil
 * rounding (near-ties skipped by the checker); hand cases for ties, ceil-mode sizes, asymmetric
 * pads; float32 vs float64.
 */

import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { windowCount } from '../../src/geometry.js';
import { type MaxPoolParams, maxPoolBackward, maxPoolForward } from '../../src/ops/maxpool.js';
import { Rng } from '../../src/rng.js';
import type { Tensor } from '../../src/tensor.js';
import { expectExactlyEqual, expectFloat32Rounding, gradcheck } from '../helpers/gradcheck.js';
import { type PoolCase, checkProperty, poolCaseArb, randint, randn, roundedToFloat32, toFloat32 } from '../helpers/random.js';

function paramsOf(c: PoolCase): MaxPoolParams {
  return { kernel: c.kernel, stride: c.stride, pads: c.pads, rounding: c.rounding };
}

function t(values: number[], shape: number[]): Tensor<Float64Array> {
  return { data: Float64Array.from(values), shape };
}

/**
 * Plain loops over the padded input, padding = -Infinity, first maximum in row-major order
 * (strict >), the whole dy to it. Output sizes come from geometry.ts (tested in geometry.test.ts).
 */
function naiveMaxPool(x: Tensor, dy: Tensor | null, p: MaxPoolParams) {
  const [N, C, H, W] = x.shape;
  const [top, left, bottom, right] = p.pads;
  const OH = windowCount(H, p.kernel, p.stride, top, bottom, p.rounding);
  const OW = windowCount(W, p.kernel, p.stride, left, right, p.rounding);
  const y = new Float64Array(N * C * OH * OW);
  const dx = new Float64Array(x.data.length);
  for (let plane = 0; plane < N * C; plane++)
    for (let i = 0; i < OH; i++)
      for (let j = 0; j < OW; j++) {
        let best = -Infinity;
        let at = -1;
        for (let u = 0; u < p.kernel; u++)
          for (let v = 0; v < p.kernel; v++) {
            const h = i * p.stride - top + u;
            const w = j * p.stride - left + v;
            const value = h >= 0 && h < H && w >= 0 && w < W ? x.data[(plane * H + h) * W + w] : -Infinity;
            if (value > best) {
              best = value;
              at = (plane * H + h) * W + w;
            }
          }
        const o = (plane * OH + i) * OW + j;
        y[o] = best;
        if (dy) dx[at] += dy.data[o];
      }
  return { y, dx, shape: [N, C, OH, OW] };
}

const pieces = (p: MaxPoolParams) => (inputs: { x: Tensor<Float64Array> }) => maxPoolForward(inputs.x, p).cache.argmax;

describe('maxpool against a plain-loop reference', () => {
  it('forward and backward equal the reference exactly on integer data full of ties', () => {
    checkProperty(
      fc.property(poolCaseArb, (c) => {
        const rng = new Rng(c.seed);
        const p = paramsOf(c);
        const x = randint(rng, [c.N, c.C, c.H, c.W], -2, 2); // many ties, many all-equal windows
        const { y, cache } = maxPoolForward(x, p);
        const dy = randint(rng, y.shape, -9, 9);
        const ref = naiveMaxPool(x, dy, p);
        expect(y.shape).toEqual(ref.shape);
        expectExactlyEqual(`maxpool y ${JSON.stringify(c)}`, y.data, ref.y);
        expectExactlyEqual(`maxpool dx ${JSON.stringify(c)}`, maxPoolBackward(cache, dy).dx.data, ref.dx);
      }),
      200,
    );
  });
});

describe('maxpool gradients', () => {
  it('match float64 central differences; near-ties skipped and rare', () => {
    let checked = 0;
    let skipped = 0;
    checkProperty(
      fc.property(poolCaseArb, (c) => {
        const p = paramsOf(c);
        const x = randn(new Rng(c.seed), [c.N, c.C, c.H, c.W]);
        const r = gradcheck({
          op: 'maxpool',
          params: c,
          inputs: { x },
          seed: c.seed,
          forward: (i) => maxPoolForward(i.x, p).y,
          backward: (i, dy) => ({ x: maxPoolBackward(maxPoolForward(i.x, p).cache, dy).dx }),
          pieces: pieces(p),
        });
        checked += r.checked;
        skipped += r.skipped;
      }),
      150,
    );
    expect(checked).toBeGreaterThan(2000);
    expect(skipped).toBeLessThanOrEqual(checked / 100);
  });

  it('the checker skips the two near-tied inputs of a window (and would fail on them otherwise)', () => {
    const p: MaxPoolParams = { kernel: 2, stride: 2, pads: [0, 0, 0, 0], rounding: 'floor' };
    const x = t([1, 1 + 1e-7, 0, -1], [1, 1, 2, 2]); // 1 and 1 + 1e-7 swap order under a +-1e-6 step
    const spec = {
      op: 'maxpool',
      inputs: { x },
      forward: (i: { x: Tensor<Float64Array> }) => maxPoolForward(i.x, p).y,
      backward: (i: { x: Tensor<Float64Array> }, dy: Tensor<Float64Array>) => ({ x: maxPoolBackward(maxPoolForward(i.x, p).cache, dy).dx }),
    };
    const r = gradcheck({ ...spec, pieces: pieces(p) });
    expect(r.skipped).toBe(2);
    expect(r.checked).toBe(2);
    expect(() => gradcheck(spec)).toThrow(/gradcheck maxpool/);
  });
});

describe('maxpool hand cases', () => {
  it('a tie goes to the first maximum in row-major order, which gets the whole gradient', () => {
    const p: MaxPoolParams = { kernel: 2, stride: 2, pads: [0, 0, 0, 0], rounding: 'floor' };
    const { y, cache } = maxPoolForward(t([1, 1, 1, 1], [1, 1, 2, 2]), p);
    expect(Array.from(y.data)).toEqual([1]);
    expect(Array.from(maxPoolBackward(cache, t([5], [1, 1, 1, 1])).dx.data)).toEqual([5, 0, 0, 0]);
  });

  it('overlapping windows sharing a maximum add their gradients there', () => {
    // x = [[1, 3, 3],
    //      [0, 3, 1]]   kernel 2 stride 1: windows at columns 0-1 and 1-2, both first-max at (0, 1)
    const p: MaxPoolParams = { kernel: 2, stride: 1, pads: [0, 0, 0, 0], rounding: 'floor' };
    const { y, cache } = maxPoolForward(t([1, 3, 3, 0, 3, 1], [1, 1, 2, 3]), p);
    expect(y.shape).toEqual([1, 1, 1, 2]);
    expect(Array.from(y.data)).toEqual([3, 3]);
    expect(Array.from(maxPoolBackward(cache, t([10, 20], [1, 1, 1, 2])).dx.data)).toEqual([0, 10 + 20, 0, 0, 0, 0]);
  });

  it('AlexNet output sizes, kernel 3 stride 2: 55 -> 27, 27 -> 13, 13 -> 6 in both roundings', () => {
    for (const rounding of ['floor', 'ceil'] as const) {
      for (const [H, OH] of [[55, 27], [27, 13], [13, 6]]) {
        const { y } = maxPoolForward({ data: new Float32Array(H * H), shape: [1, 1, H, H] }, { kernel: 3, stride: 2, pads: [0, 0, 0, 0], rounding });
        expect(y.shape).toEqual([1, 1, OH, OH]);
      }
    }
  });

  it('ceil and floor differ: 54 -> 27 (Caffe at 224) vs 26; 4x4 hand values', () => {
    const p = { kernel: 3, stride: 2, pads: [0, 0, 0, 0] as const };
    const x54 = { data: new Float32Array(54 * 54), shape: [1, 1, 54, 54] };
    expect(maxPoolForward(x54, { ...p, rounding: 'ceil' }).y.shape).toEqual([1, 1, 27, 27]);
    expect(maxPoolForward(x54, { ...p, rounding: 'floor' }).y.shape).toEqual([1, 1, 26, 26]);

    // x = 0..15 in a 4x4: floor keeps the top-left 3x3 window only; ceil adds windows starting at
    // row/column 2 that hang over the end and are clipped to rows/columns 2-3
    const x = t(Array.from({ length: 16 }, (_, i) => i), [1, 1, 4, 4]);
    expect(Array.from(maxPoolForward(x, { ...p, rounding: 'floor' }).y.data)).toEqual([10]);
    const ceil = maxPoolForward(x, { ...p, rounding: 'ceil' });
    expect(ceil.y.shape).toEqual([1, 1, 2, 2]);
    expect(Array.from(ceil.y.data)).toEqual([10, 11, 14, 15]);
    const dx = maxPoolBackward(ceil.cache, t([1, 2, 3, 4], [1, 1, 2, 2])).dx;
    expect(Array.from(dx.data)).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 0, 0, 3, 4]);
  });

  it('ceil drops a window that would start in the trailing padding: 5, kernel 2, stride 2, pad 1 -> 3', () => {
    const x = t(Array.from({ length: 25 }, (_, i) => i), [1, 1, 5, 5]);
    const { y } = maxPoolForward(x, { kernel: 2, stride: 2, pads: [1, 1, 1, 1], rounding: 'ceil' });
    expect(y.shape).toEqual([1, 1, 3, 3]);
    // windows cover rows/columns {0}, {1, 2}, {3, 4}: the maximum is the bottom-right sample
    expect(Array.from(y.data)).toEqual([0, 2, 4, 10, 12, 14, 20, 22, 24]);
  });

  it('asymmetric pads [top 1, left 0, bottom 0, right 1]; padding never wins over negative values', () => {
    const x = t([-1, -2, -3, -4, -5, -6, -7, -8, -9], [1, 1, 3, 3]);
    // kernel 2 stride 1: window (i, j) covers rows [i-1, i] and columns [j, j+1], clipped to the image
    const { y } = maxPoolForward(x, { kernel: 2, stride: 1, pads: [1, 0, 0, 1], rounding: 'floor' });
    expect(y.shape).toEqual([1, 1, 3, 3]);
    expect(Array.from(y.data)).toEqual([-1, -2, -3, -1, -2, -3, -4, -5, -6]);
  });

  // PyTorch's MaxPool2d(2, 2, ceil_mode=True) maps a 1x1 input to 1x1 (one clipped window).
  it('ceil mode on a map smaller than the kernel gives one clipped window (1x1, k2, s2 -> 1x1)', () => {
    const { y } = maxPoolForward(t([4], [1, 1, 1, 1]), { kernel: 2, stride: 2, pads: [0, 0, 0, 0], rounding: 'ceil' });
    expect(y.shape).toEqual([1, 1, 1, 1]);
    expect(Array.from(y.data)).toEqual([4]);
  });

  it('NaN in a window propagates to its output', () => {
    const { y } = maxPoolForward(t([1, NaN, 2, 3, 4, 5, 6, 7], [1, 1, 2, 4]), { kernel: 2, stride: 2, pads: [0, 0, 0, 0], rounding: 'floor' });
    expect(Number.isNaN(y.data[0])).toBe(true);
    expect(y.data[1]).toBe(7);
  });
});

describe('maxpool float32 vs float64', () => {
  it('float32 forward is exactly the float64 one; backward within its float32 accumulation; types kept', () => {
    checkProperty(
      fc.property(poolCaseArb, (c) => {
        const rng = new Rng(c.seed);
        const p = paramsOf(c);
        const x = roundedToFloat32(randn(rng, [c.N, c.C, c.H, c.W]));
        const f64 = maxPoolForward(x, p);
        const f32 = maxPoolForward(toFloat32(x), p);
        expectFloat32Rounding('maxpool y', f32.y.data, f64.y.data, 0);
        expectExactlyEqual('maxpool argmax', f32.cache.argmax, f64.cache.argmax);
        const dy = roundedToFloat32(randn(rng, f64.y.shape));
        const dx32 = maxPoolBackward(f32.cache, toFloat32(dy)).dx.data;
        const dx64 = maxPoolBackward(f64.cache, dy).dx.data;
        expect(dx32).toBeInstanceOf(Float32Array);
        expect(dx64).toBeInstanceOf(Float64Array);
        // Backward adds the dy of every window sharing a maximum in dy's own type, so a float32 dx
        // is m - 1 float32 additions of m routed values (not one rounding of the exact sum):
        // |dx32 - dx64| <= (m - 1) * 2^-24 * sum |routed dy|.
        const [, , H, W] = x.shape;
        const routed = new Float64Array(dx64.length);
        const count = new Float64Array(dx64.length);
        const perPlane = dy.data.length / (c.N * c.C);
        for (let o = 0; o < dy.data.length; o++) {
          const idx = Math.floor(o / perPlane) * H * W + f64.cache.argmax[o];
          routed[idx] += Math.abs(dy.data[o]);
          count[idx] += 1;
        }
        for (let i = 0; i < dx64.length; i++) {
          const bound = Math.max(0, count[i] - 1) * 2 ** -24 * routed[i];
          if (!(Math.abs(dx32[i] - dx64[i]) <= bound)) {
            throw new Error(`maxpool dx[${i}]: float32 ${dx32[i]}, float64 ${dx64[i]}, ${count[i]} windows, bound ${bound}`);
          }
        }
      }),
      50,
    );
  });
});
