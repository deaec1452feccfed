/**
 * Flatten (src/ops/flatten.ts): channel-major order (c*H*W + h*W + w), backward restores the shape,
 * both directions are views; gradient check; float32 vs float64.
 */

import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { flattenBackward, flattenForward } from '../../src/ops/flatten.js';
import { Rng } from '../../src/rng.js';
import { expectExactlyEqual, expectFloat32Rounding, gradcheck } from '../helpers/gradcheck.js';
import { checkProperty, randn, roundedToFloat32, seedArb, shape4Arb, toFloat32 } from '../helpers/random.js';

describe('flatten', () => {
  it('is channel-major: y[n, c*H*W + h*W + w] = x[n, c, h, w] (AlexNet: c*36 + h*6 + w)', () => {
    const [N, C, H, W] = [2, 256, 6, 6];
    const x = new Float64Array(N * C * H * W);
    // encode the coordinates in the value
    for (let n = 0; n < N; n++)
      for (let c = 0; c < C; c++)
        for (let h = 0; h < H; h++) for (let w = 0; w < W; w++) x[((n * C + c) * H + h) * W + w] = n * 1e6 + c * 1e3 + h * 10 + w;
    const { y } = flattenForward({ data: x, shape: [N, C, H, W] });
    expect(y.shape).toEqual([2, 9216]);
    expect(y.data[1 * 9216 + 100 * 36 + 2 * 6 + 5]).toBe(1e6 + 100e3 + 2 * 10 + 5);
    expect(y.data[0 * 9216 + 255 * 36 + 5 * 6 + 0]).toBe(255e3 + 5 * 10);
    for (let n = 0; n < N; n++)
      for (let c = 0; c < C; c += 17)
        for (let h = 0; h < H; h++) for (let w = 0; w < W; w++) expect(y.data[n * 9216 + c * 36 + h * 6 + w]).toBe(n * 1e6 + c * 1e3 + h * 10 + w);
  });

  it('backward reshapes dy to x\'s shape; both directions are views (no copy)', () => {
    const x = { data: new Float32Array(24), shape: [2, 3, 2, 2] };
    const { y, cache } = flattenForward(x);
    expect(y.data).toBe(x.data);
    const dy = { data: Float32Array.from({ length: 24 }, (_, i) => i), shape: [2, 12] };
    const { dx } = flattenBackward(cache, dy);
    expect(dx.shape).toEqual([2, 3, 2, 2]);
    expect(dx.data).toBe(dy.data);
  });

  it('works on [N, F] already flat and on [N, C, 1, 1]', () => {
    expect(flattenForward({ data: new Float64Array(6), shape: [3, 2] }).y.shape).toEqual([3, 2]);
    expect(flattenForward({ data: new Float64Array(6), shape: [2, 3, 1, 1] }).y.shape).toEqual([2, 3]);
  });

  it('gradient matches float64 central differences', () => {
    checkProperty(
      fc.property(shape4Arb, seedArb, (shape, seed) => {
        const r = gradcheck({
          op: 'flatten',
          params: { shape },
          inputs: { x: randn(new Rng(seed), shape) },
          seed,
          forward: (i) => flattenForward(i.x).y,
          backward: (i, dy) => ({ x: flattenBackward(flattenForward(i.x).cache, dy).dx }),
        });
        expect(r.skipped).toBe(0);
        expect(r.checked).toBe(Math.min(200, shape.reduce((a, b) => a * b)));
      }),
      30,
    );
  });

  it('float32 and float64 agree exactly; types kept', () => {
    checkProperty(
      fc.property(shape4Arb, seedArb, (shape, seed) => {
        const x = roundedToFloat32(randn(new Rng(seed), shape));
        const f64 = flattenForward(x);
        const f32 = flattenForward(toFloat32(x));
        expectFloat32Rounding('flatten y', f32.y.data, f64.y.data, 0);
        expectExactlyEqual('flatten', f64.y.data, x.data);
        const dx32 = flattenBackward(f32.cache, f32.y).dx;
        expect(dx32.data).toBeInstanceOf(Float32Array);
        expect(dx32.shape).toEqual([...shape]);
      }),
      20,
    );
  });
});
