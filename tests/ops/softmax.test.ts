/**
 * Softmax over classes (src/ops/softmax.ts): gradient checks over N 1-4, K 1-12; rows sum to 1;
 * hand cases (known probabilities, huge logits stay finite, K = 1); float32 vs float64.
 */

import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { softmaxBackward, softmaxForward } from '../../src/ops/softmax.js';
import { Rng } from '../../src/rng.js';
import type { Tensor } from '../../src/tensor.js';
import { expectAllClose, expectFloat32Rounding, gradcheck } from '../helpers/gradcheck.js';
import { classesCaseArb, checkProperty, randn, roundedToFloat32, toFloat32 } from '../helpers/random.js';

function t(values: number[], shape: number[]): Tensor<Float64Array> {
  return { data: Float64Array.from(values), shape };
}

describe('softmax forward', () => {
  it('hand case: logits (0, ln 2, ln 3) give probabilities (1, 2, 3) / 6', () => {
    const { y } = softmaxForward(t([0, Math.log(2), Math.log(3)], [1, 3]));
    expectAllClose('softmax', y.data, [1 / 6, 2 / 6, 3 / 6], 1e-15);
  });

  it('is unchanged by adding a constant to a row; huge logits (1e4) stay finite', () => {
    const { y } = softmaxForward(t([1e4, 0, -1e4, 1e4, 1e4, -1e4], [2, 3]));
    expect(Array.from(y.data)).toEqual([1, 0, 0, 0.5, 0.5, 0]); // exp(-1e4) underflows to 0 exactly
    const a = softmaxForward(t([0.5, -1, 2], [1, 3])).y.data;
    const b = softmaxForward(t([1000.5, 999, 1002], [1, 3])).y.data;
    expectAllClose('shift', b, a, 1e-12);
  });

  it('K = 1 gives probability 1 and a zero gradient', () => {
    const { y, cache } = softmaxForward(t([-3, 7], [2, 1]));
    expect(Array.from(y.data)).toEqual([1, 1]);
    expect(Array.from(softmaxBackward(cache, t([5, -2], [2, 1])).dx.data)).toEqual([0, 0]);
  });

  it('rows sum to 1 (float64 within 4K eps, float32 within K float32 eps)', () => {
    checkProperty(
      fc.property(classesCaseArb, (c) => {
        const x = randn(new Rng(c.seed), [c.N, c.K], 5);
        const y64 = softmaxForward(x).y.data;
        const y32 = softmaxForward(toFloat32(x)).y.data;
        for (let n = 0; n < c.N; n++) {
          let s64 = 0;
          let s32 = 0;
          for (let k = 0; k < c.K; k++) {
            expect(y64[n * c.K + k]).toBeGreaterThanOrEqual(0);
            s64 += y64[n * c.K + k];
            s32 += y32[n * c.K + k];
          }
          expect(Math.abs(s64 - 1)).toBeLessThanOrEqual(4 * c.K * Number.EPSILON);
          expect(Math.abs(s32 - 1)).toBeLessThanOrEqual(c.K * 2 ** -23);
        }
      }),
      100,
    );
  });
});

describe('softmax backward', () => {
  it('hand case: y = (1/2, 1/2), dy = (1, 0) -> dx = y * (dy - <dy, y>) = (1/4, -1/4)', () => {
    const { cache } = softmaxForward(t([0, 0], [1, 2]));
    expect(Array.from(softmaxBackward(cache, t([1, 0], [1, 2])).dx.data)).toEqual([0.5 * (1 - 0.5), 0.5 * (0 - 0.5)]);
  });

  it('gradient matches float64 central differences', () => {
    let checked = 0;
    checkProperty(
      fc.property(classesCaseArb, (c) => {
        const r = gradcheck({
          op: 'softmax',
          params: c,
          inputs: { x: randn(new Rng(c.seed), [c.N, c.K], 3) },
          seed: c.seed,
          forward: (i) => softmaxForward(i.x).y,
          backward: (i, dy) => ({ x: softmaxBackward(softmaxForward(i.x).cache, dy).dx }),
        });
        expect(r.skipped).toBe(0);
        checked += r.checked;
      }),
      150,
    );
    expect(checked).toBeGreaterThan(1000);
  });
});

describe('softmax float32 vs float64', () => {
  it('forward is rounded once; backward within the rounding of the cached float32 y; types kept', () => {
    checkProperty(
      fc.property(classesCaseArb, (c) => {
        const rng = new Rng(c.seed);
        const x = roundedToFloat32(randn(rng, [c.N, c.K], 3));
        const dy = roundedToFloat32(randn(rng, [c.N, c.K]));
        const f64 = softmaxForward(x);
        const f32 = softmaxForward(toFloat32(x));
        expectFloat32Rounding('softmax y', f32.y.data, f64.y.data, 0.5);
        const dx32 = softmaxBackward(f32.cache, toFloat32(dy)).dx.data;
        const dx64 = softmaxBackward(f64.cache, dy).dx.data;
        expect(dx32).toBeInstanceOf(Float32Array);
        // dx = y (dy - d), d = <dy, y>, from a y rounded to float32: the error is at most
        // 3 * 2^-24 * y * (|dy| + sum_j |dy_j y_j|)
        for (let n = 0; n < c.N; n++) {
          let S = 0;
          for (let k = 0; k < c.K; k++) S += Math.abs(dy.data[n * c.K + k] * f64.y.data[n * c.K + k]);
          for (let k = 0; k < c.K; k++) {
            const i = n * c.K + k;
            const bound = 3 * 2 ** -24 * f64.y.data[i] * (Math.abs(dy.data[i]) + S) + 2 ** -149;
            if (!(Math.abs(dx32[i] - dx64[i]) <= bound)) throw new Error(`softmax dx[${i}]: float32 ${dx32[i]}, float64 ${dx64[i]}, bound ${bound}`);
          }
        }
      }),
      100,
    );
  });
});
