/**
 * Fully connected layer (src/ops/linear.ts): y = x W^T + b. Gradient checks of x, w and b; a hand
 * case; the checker's own sensitivity (a backward wrong by 1e-5 fails); float32 results are the
 * float64 results rounded once (the op sums in float64).
 */

import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { linearBackward, linearForward } from '../../src/ops/linear.js';
import { Rng } from '../../src/rng.js';
import type { Tensor } from '../../src/tensor.js';
import { type Inputs, expectFloat32Rounding, gradcheck } from '../helpers/gradcheck.js';
import { type LinearCase, checkProperty, linearCaseArb, randn, roundedToFloat32, toFloat32 } from '../helpers/random.js';

function t(values: number[], shape: number[]): Tensor<Float64Array> {
  return { data: Float64Array.from(values), shape };
}

function inputsOf(c: LinearCase): Inputs {
  const rng = new Rng(c.seed);
  const inputs: Inputs = { x: randn(rng, [c.N, c.IN]), w: randn(rng, [c.OUT, c.IN]) };
  if (c.bias) inputs.b = randn(rng, [c.OUT]);
  return inputs;
}

describe('linear', () => {
  it('hand case: y = x W^T + b with x [2, 3], W [2, 3]', () => {
    const x = t([1, 2, 3, 4, 5, 6], [2, 3]);
    const w = t([1, 0, -1, 0.5, 0.5, 0.5], [2, 3]);
    const b = t([10, 20], [2]);
    const { y, cache } = linearForward(x, w, b);
    expect(y.shape).toEqual([2, 2]);
    expect(Array.from(y.data)).toEqual([1 - 3 + 10, 0.5 * (1 + 2 + 3) + 20, 4 - 6 + 10, 0.5 * (4 + 5 + 6) + 20]);
    const dy = t([1, 2, 3, 4], [2, 2]);
    const { dx, dw, db } = linearBackward(cache, dy);
    // dx = dy W, dW = dy^T x, db = column sums of dy
    expect(Array.from(dx.data)).toEqual([1 * 1 + 2 * 0.5, 1 * 0 + 2 * 0.5, 1 * -1 + 2 * 0.5, 3 * 1 + 4 * 0.5, 3 * 0 + 4 * 0.5, 3 * -1 + 4 * 0.5]);
    expect(Array.from(dw.data)).toEqual([1 * 1 + 3 * 4, 1 * 2 + 3 * 5, 1 * 3 + 3 * 6, 2 * 1 + 4 * 4, 2 * 2 + 4 * 5, 2 * 3 + 4 * 6]);
    expect(Array.from(db.data)).toEqual([1 + 3, 2 + 4]);
    expect(Array.from(linearForward(x, w, null).y.data)).toEqual([1 - 3, 0.5 * 6, 4 - 6, 0.5 * 15]);
  });

  it('gradients of x, w and b match float64 central differences', () => {
    let checked = 0;
    checkProperty(
      fc.property(linearCaseArb, (c) => {
        const r = gradcheck({
          op: 'linear',
          params: c,
          inputs: inputsOf(c),
          seed: c.seed,
          forward: (i) => linearForward(i.x, i.w, i.b ?? null).y,
          backward: (i, dy) => {
            const g = linearBackward(linearForward(i.x, i.w, i.b ?? null).cache, dy);
            return { x: g.dx, w: g.dw, b: g.db };
          },
        });
        expect(r.skipped).toBe(0);
        checked += r.checked;
      }),
      100,
    );
    expect(checked).toBeGreaterThan(2000);
  });

  it('the checker catches a backward wrong by one part in 1e5, and names op, input, element, values', () => {
    const c = { N: 2, IN: 3, OUT: 4, bias: true, seed: 9 };
    const spec = {
      op: 'linear',
      params: c,
      inputs: inputsOf(c),
      forward: (i: Inputs) => linearForward(i.x, i.w, i.b).y,
    };
    const wrongW = () =>
      gradcheck({
        ...spec,
        backward: (i, dy) => {
          const g = linearBackward(linearForward(i.x, i.w, i.b).cache, dy);
          g.dw.data[5] *= 1 + 1e-5;
          return { x: g.dx, w: g.dw, b: g.db };
        },
      });
    expect(wrongW).toThrow(/gradcheck linear: 1 of \d+ checked.*params: \{"N":2.*shapes: x \[2, 3\], w \[4, 3\], b \[4\], y \[2, 4\].*w\[5\] = w\[1, 2\]: analytic .*, numeric /s);
    // and a transposed dW (an easy slip) with a square weight
    const sq = { N: 3, IN: 4, OUT: 4, bias: false, seed: 2 };
    expect(() =>
      gradcheck({
        op: 'linear',
        inputs: inputsOf(sq),
        forward: (i) => linearForward(i.x, i.w, null).y,
        backward: (i, dy) => {
          const g = linearBackward(linearForward(i.x, i.w, null).cache, dy);
          const dwT = new Float64Array(16);
          for (let r = 0; r < 4; r++) for (let k = 0; k < 4; k++) dwT[k * 4 + r] = g.dw.data[r * 4 + k];
          return { x: g.dx, w: { data: dwT, shape: [4, 4] } };
        },
      }),
    ).toThrow(/gradcheck linear/);
  });

  it('rejects an input that does not fit the weight, naming both shapes', () => {
    expect(() => linearForward(t([1, 2], [1, 2]), t([1, 2, 3], [1, 3]), null)).toThrow(/\[1, 2\].*\[1, 3\]/);
  });

  it('float32 forward and backward are the float64 results rounded once; types kept', () => {
    checkProperty(
      fc.property(linearCaseArb, (c) => {
        const i = inputsOf(c);
        const x = roundedToFloat32(i.x);
        const w = roundedToFloat32(i.w);
        const b = i.b ? roundedToFloat32(i.b) : null;
        const f64 = linearForward(x, w, b);
        const f32 = linearForward(toFloat32(x), toFloat32(w), b ? toFloat32(b) : null);
        expectFloat32Rounding('linear y', f32.y.data, f64.y.data, 0.5);
        const dy = roundedToFloat32(randn(new Rng((c.seed + 1) >>> 0), f64.y.shape));
        const g64 = linearBackward(f64.cache, dy);
        const g32 = linearBackward(f32.cache, toFloat32(dy));
        expectFloat32Rounding('linear dx', g32.dx.data, g64.dx.data, 0.5);
        expectFloat32Rounding('linear dw', g32.dw.data, g64.dw.data, 0.5);
        expectFloat32Rounding('linear db', g32.db.data, g64.db.data, 0.5);
      }),
      50,
    );
  });
});
