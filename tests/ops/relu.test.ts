/**
 * ReLU (src/ops/relu.ts): gradient check away from the kink, the kink convention ReLU'(0) = 0,
 * the checker's kink skipping, float32 vs float64.
 */

import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { reluBackward, reluForward } from '../../src/ops/relu.js';
import { Rng } from '../../src/rng.js';
import type { Tensor } from '../../src/tensor.js';
import { GRADCHECK_STEP, expectExactlyEqual, expectFloat32Rounding, gradcheck } from '../helpers/gradcheck.js';
import { checkProperty, randn, roundedToFloat32, seedArb, shape4Arb, toFloat32 } from '../helpers/random.js';

/** ReLU's smooth piece: which inputs are on (x > 0). */
const reluPieces = (t: { x: Tensor<Float64Array> }) => Uint8Array.from(t.x.data, (v) => (v > 0 ? 1 : 0));

function checkRelu(x: Tensor<Float64Array>, seed: number, params: unknown) {
  return gradcheck({
    op: 'relu',
    params,
    inputs: { x },
    seed,
    forward: (t) => reluForward(t.x).y,
    backward: (t, dy) => ({ x: reluBackward(reluForward(t.x).cache, dy).dx }),
    pieces: reluPieces,
  });
}

describe('relu', () => {
  it('gradient matches float64 central differences away from 0', () => {
    let checked = 0;
    let skipped = 0;
    checkProperty(
      fc.property(shape4Arb, seedArb, (shape, seed) => {
        const x = randn(new Rng(seed), shape);
        const r = checkRelu(x, seed, { shape });
        checked += r.checked;
        skipped += r.skipped;
      }),
      100,
    );
    expect(checked).toBeGreaterThan(1000);
    expect(skipped).toBeLessThanOrEqual(checked / 100); // |x| < 1e-6 is rare for normal draws
  });

  it('the checker skips exactly the inputs within one step of 0, and checks the rest', () => {
    const h = GRADCHECK_STEP;
    const x = { data: Float64Array.from([0, h / 2, -h / 2, 0.9 * h, -3, 2, 1e-3, -1e-3]), shape: [1, 1, 2, 4] };
    const r = checkRelu(x, 3, 'inputs at the kink');
    expect(r.skipped).toBe(4);
    expect(r.checked).toBe(4);
    // without the kink rule the central difference at 0 sees half a slope, and the check fails there
    const atZero = { data: Float64Array.from([0]), shape: [1] };
    expect(() =>
      gradcheck({
        op: 'relu',
        inputs: { x: atZero },
        forward: (t) => reluForward(t.x).y,
        backward: (t, dy) => ({ x: reluBackward(reluForward(t.x).cache, dy).dx }),
      }),
    ).toThrow(/gradcheck relu: 1 of 1 .*x\[0\] = x\[0\]: analytic 0\.0+,/s);
  });

  it('forward is max(0, x) and backward passes dy only where x > 0: ReLU\'(0) = 0', () => {
    const x = { data: Float64Array.from([-2, -0.5, 0, -0, 1e-300, 3]), shape: [6] };
    const { y, cache } = reluForward(x);
    expect(Array.from(y.data)).toEqual([0, 0, 0, 0, 1e-300, 3]);
    const dy = { data: Float64Array.from([10, 20, 30, 40, 50, 60]), shape: [6] };
    const { dx } = reluBackward(cache, dy);
    expect(Array.from(dx.data)).toEqual([0, 0, 0, 0, 50, 60]); // the derivative at 0 (and -0) is 0
    expect(dx.shape).toEqual([6]);
  });

  it('float32 gives the float64 result exactly; array types are kept', () => {
    checkProperty(
      fc.property(shape4Arb, seedArb, (shape, seed) => {
        const rng = new Rng(seed);
        const x = roundedToFloat32(randn(rng, shape));
        const dy = roundedToFloat32(randn(rng, shape));
        const f64 = reluForward(x);
        const f32 = reluForward(toFloat32(x));
        expectFloat32Rounding('relu y', f32.y.data, f64.y.data, 0);
        const dx32 = reluBackward(f32.cache, toFloat32(dy)).dx;
        const dx64 = reluBackward(f64.cache, dy).dx;
        expectFloat32Rounding('relu dx', dx32.data, dx64.data, 0);
        expect(f32.y.shape).toEqual([...shape]);
        expectExactlyEqual('relu dx64', dx64.data, Array.from(x.data, (v, i) => (v > 0 ? dy.data[i] : 0)));
      }),
      30,
    );
  });

  it('backward rejects a dy of another shape', () => {
    const { cache } = reluForward({ data: new Float64Array(4), shape: [2, 2] });
    expect(() => reluBackward(cache, { data: new Float64Array(4), shape: [4] })).toThrow(/relu backward/);
  });
});
