/**
 * Adaptive average pooling (src/ops/adaptive-avgpool.ts): gradient checks with output sizes both
 * larger and smaller than the input; the forward against window bounds written here; hand cases
 * (1x1 -> 6x6 copies, 5 -> 6 overlapping windows, 7 -> 3, identity 6 -> 6); float32 vs float64.
 */

import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { adaptiveAvgPoolBackward, adaptiveAvgPoolForward } from '../../src/ops/adaptive-avgpool.js';
import { Rng } from '../../src/rng.js';
import type { Tensor } from '../../src/tensor.js';
import { expectAllClose, expectExactlyEqual, expectFloat32Rounding, gradcheck } from '../helpers/gradcheck.js';
import { adaptiveCaseArb, checkProperty, randn, roundedToFloat32, toFloat32 } from '../helpers/random.js';

function t(values: number[], shape: number[]): Tensor<Float64Array> {
  return { data: Float64Array.from(values), shape };
}

/** Mean over rows [floor(i*H/OH), ceil((i+1)*H/OH)) and likewise columns, written out here. */
function naiveAdaptive(x: Tensor, OH: number, OW: number): Float64Array {
  const [N, C, H, W] = x.shape;
  const y = new Float64Array(N * C * OH * OW);
  for (let plane = 0; plane < N * C; plane++)
    for (let i = 0; i < OH; i++)
      for (let j = 0; j < OW; j++) {
        let sum = 0;
        let count = 0;
        for (let h = Math.floor((i * H) / OH); h < Math.ceil(((i + 1) * H) / OH); h++)
          for (let w = Math.floor((j * W) / OW); w < Math.ceil(((j + 1) * W) / OW); w++) {
            sum += x.data[(plane * H + h) * W + w];
            count++;
          }
        y[(plane * OH + i) * OW + j] = sum / count;
      }
  return y;
}

describe('adaptive avgpool forward', () => {
  it('1x1 -> 6x6 copies the value to all 36 positions; backward sums dy back', () => {
    const { y, cache } = adaptiveAvgPoolForward(t([7, -2], [1, 2, 1, 1]), { outH: 6, outW: 6 });
    expect(y.shape).toEqual([1, 2, 6, 6]);
    expect(Array.from(y.data)).toEqual([...Array(36).fill(7), ...Array(36).fill(-2)]);
    const dy = t(Array.from({ length: 72 }, (_, i) => i), [1, 2, 6, 6]);
    // each output is a window of one sample: dx = sum of dy over the plane
    expect(Array.from(adaptiveAvgPoolBackward(cache, dy).dx.data)).toEqual([((0 + 35) * 36) / 2, ((36 + 71) * 36) / 2]);
  });

  it('5 -> 6: overlapping windows {0}, {0,1}, {1,2}, {2,3}, {3,4}, {4}', () => {
    const [a, b, c, d, e] = [1, 2, 4, 8, 16];
    const { y, cache } = adaptiveAvgPoolForward(t([a, b, c, d, e], [1, 1, 1, 5]), { outH: 1, outW: 6 });
    expect(Array.from(y.data)).toEqual([a, (a + b) / 2, (b + c) / 2, (c + d) / 2, (d + e) / 2, e]);
    const [g0, g1, g2, g3, g4, g5] = [1, 10, 100, 1000, 10000, 100000];
    const { dx } = adaptiveAvgPoolBackward(cache, t([g0, g1, g2, g3, g4, g5], [1, 1, 1, 6]));
    expect(Array.from(dx.data)).toEqual([g0 + g1 / 2, g1 / 2 + g2 / 2, g2 / 2 + g3 / 2, g3 / 2 + g4 / 2, g4 / 2 + g5]);
  });

  it('7 -> 3 (smaller): windows [0, 3), [2, 5), [4, 7) share their edge samples', () => {
    const x = [1, 2, 3, 4, 5, 6, 7];
    const { y } = adaptiveAvgPoolForward(t(x, [1, 1, 7, 1]), { outH: 3, outW: 1 });
    expectAllClose('7 -> 3', y.data, [(1 + 2 + 3) / 3, (3 + 4 + 5) / 3, (5 + 6 + 7) / 3], 1e-15);
  });

  it('is the identity when the output size equals the input size (AlexNet at 224: 6x6 -> 6x6)', () => {
    const x = randn(new Rng(3), [2, 3, 6, 6]);
    const { y, cache } = adaptiveAvgPoolForward(x, { outH: 6, outW: 6 });
    expectExactlyEqual('identity', y.data, x.data);
    const dy = randn(new Rng(4), [2, 3, 6, 6]);
    expectExactlyEqual('identity backward', adaptiveAvgPoolBackward(cache, dy).dx.data, dy.data);
  });

  it('13x13 -> 6x6 (an input larger than the output): overlapping windows of 3', () => {
    // a ramp in w: window j covers columns [floor(13j/6), ceil(13(j+1)/6))
    const ramp = Array.from({ length: 13 * 13 }, (_, i) => i % 13);
    const { y } = adaptiveAvgPoolForward(t(ramp, [1, 1, 13, 13]), { outH: 6, outW: 6 });
    const windows = [[0, 3], [2, 5], [4, 7], [6, 9], [8, 11], [10, 13]]; // [start, end)
    const means = windows.map(([s, e]) => (s + e - 1) / 2); // mean of the integers s .. e-1
    for (let i = 0; i < 6; i++) expectAllClose(`row ${i}`, y.data.subarray(i * 6, i * 6 + 6), means, 1e-15);
  });

  it('equals the window formula written in the test for random sizes', () => {
    checkProperty(
      fc.property(adaptiveCaseArb, (c) => {
        const x = randn(new Rng(c.seed), [c.N, c.C, c.H, c.W]);
        const { y } = adaptiveAvgPoolForward(x, { outH: c.outH, outW: c.outW });
        expect(y.shape).toEqual([c.N, c.C, c.outH, c.outW]);
        expectAllClose(`adaptive ${JSON.stringify(c)}`, y.data, naiveAdaptive(x, c.outH, c.outW), 1e-14, 1e-15);
      }),
      100,
    );
  });
});

describe('adaptive avgpool gradients', () => {
  it('match float64 central differences, outputs larger and smaller than inputs', () => {
    let checked = 0;
    let larger = 0;
    let smaller = 0;
    checkProperty(
      fc.property(adaptiveCaseArb, (c) => {
        const p = { outH: c.outH, outW: c.outW };
        const r = gradcheck({
          op: 'adaptive-avgpool',
          params: c,
          inputs: { x: randn(new Rng(c.seed), [c.N, c.C, c.H, c.W]) },
          seed: c.seed,
          forward: (i) => adaptiveAvgPoolForward(i.x, p).y,
          backward: (i, dy) => ({ x: adaptiveAvgPoolBackward(adaptiveAvgPoolForward(i.x, p).cache, dy).dx }),
        });
        expect(r.skipped).toBe(0);
        checked += r.checked;
        if (c.outH > c.H || c.outW > c.W) larger++;
        if (c.outH < c.H || c.outW < c.W) smaller++;
      }),
      100,
    );
    expect(checked).toBeGreaterThan(1000);
    expect(larger).toBeGreaterThan(10);
    expect(smaller).toBeGreaterThan(10);
  });
});

describe('adaptive avgpool float32 vs float64', () => {
  it('float32 forward and backward are the float64 results rounded once; types kept', () => {
    checkProperty(
      fc.property(adaptiveCaseArb, (c) => {
        const rng = new Rng(c.seed);
        const p = { outH: c.outH, outW: c.outW };
        const x = roundedToFloat32(randn(rng, [c.N, c.C, c.H, c.W]));
        const dy = roundedToFloat32(randn(rng, [c.N, c.C, c.outH, c.outW]));
        const f64 = adaptiveAvgPoolForward(x, p);
        const f32 = adaptiveAvgPoolForward(toFloat32(x), p);
        expectFloat32Rounding('adaptive y', f32.y.data, f64.y.data, 0.5);
        expectFloat32Rounding('adaptive dx', adaptiveAvgPoolBackward(f32.cache, toFloat32(dy)).dx.data, adaptiveAvgPoolBackward(f64.cache, dy).dx.data, 0.5);
      }),
      50,
    );
  });
});
