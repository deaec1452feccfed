/**
 * Inverted dropout (src/ops/dropout.ts) at p = 0.1, 0.3, 0.5, 0.8: kept units scaled by exactly
 * 1/(1-p), dropped units zero (p != 0.5 catches the p vs 1-p slip ConvNetJS shipped); the mask keeps
 * about 1-p of the units and is reproducible from the seed; gradient check with a fixed mask;
 * float32 vs float64.
 */

import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { dropoutBackward, dropoutForward, dropoutMask } from '../../src/ops/dropout.js';
import { Rng } from '../../src/rng.js';
import { sizeOf } from '../../src/tensor.js';
import { expectExactlyEqual, expectFloat32Rounding, gradcheck } from '../helpers/gradcheck.js';
import { dropoutPArb, checkProperty, randn, roundedToFloat32, seedArb, shape4Arb, toFloat32 } from '../helpers/random.js';

describe('dropout forward and backward', () => {
  for (const p of [0.1, 0.3, 0.5, 0.8]) {
    it(`p = ${p}: kept units are multiplied by 1/(1 - p) = ${1 / (1 - p)}, dropped units are 0`, () => {
      const x = randn(new Rng(1), [4, 50]);
      const mask = dropoutMask(new Rng(2), 200, p);
      const { y, cache } = dropoutForward(x, p, mask);
      const dy = randn(new Rng(3), [4, 50]);
      const { dx } = dropoutBackward(cache, dy);
      let kept = 0;
      for (let i = 0; i < 200; i++) {
        if (mask[i]) {
          kept++;
          expect(y.data[i]).toBe(x.data[i] * (1 / (1 - p)));
          expect(dx.data[i]).toBe(dy.data[i] * (1 / (1 - p)));
          // the same as dividing by 1 - p, up to the rounding of the scale
          expect(Math.abs(y.data[i] - x.data[i] / (1 - p))).toBeLessThanOrEqual(2 * Number.EPSILON * Math.abs(y.data[i]));
        } else {
          expect(y.data[i]).toBe(0);
          expect(dx.data[i]).toBe(0);
        }
      }
      expect(kept).toBeGreaterThan(0);
      expect(kept).toBeLessThan(200);
      expect(y.shape).toEqual([4, 50]);
    });
  }

  it('hand case at p = 0.3 and 0.1: y = x * (1 / (1 - p)) where kept, so x = 1 - p becomes 1', () => {
    const mask = Uint8Array.from([1, 0, 1]);
    const y3 = dropoutForward({ data: Float64Array.from([0.7, 5, -1.4]), shape: [3] }, 0.3, mask).y.data;
    expect(Array.from(y3)).toEqual([0.7 * (1 / (1 - 0.3)), 0, -1.4 * (1 / (1 - 0.3))]);
    expect(y3[0]).toBeCloseTo(1, 15);
    expect(y3[2]).toBeCloseTo(-2, 15);
    const y1 = dropoutForward({ data: Float64Array.from([0.9, 5, 1.8]), shape: [3] }, 0.1, mask).y.data;
    expect(Array.from(y1)).toEqual([0.9 * (1 / (1 - 0.1)), 0, 1.8 * (1 / (1 - 0.1))]);
    expect(y1[0]).toBeCloseTo(1, 15);
    expect(y1[2]).toBeCloseTo(2, 15);
  });

  it('keeps the expected activation: the mean of y over many units is about the mean of x', () => {
    for (const p of [0.1, 0.3, 0.8]) {
      const n = 100_000;
      const x = { data: new Float64Array(n).fill(1), shape: [n] };
      const { y } = dropoutForward(x, p, dropoutMask(new Rng(17), n, p));
      const mean = y.data.reduce((a, b) => a + b, 0) / n;
      // sd of the mean: sqrt(p / (1 - p) / n); 5 sd with a fixed seed
      expect(Math.abs(mean - 1)).toBeLessThan(5 * Math.sqrt(p / (1 - p) / n));
    }
  });

  it('p = 0 is the identity; p outside [0, 1) and a mask of the wrong size are rejected', () => {
    const x = randn(new Rng(5), [10]);
    expectExactlyEqual('p = 0', dropoutForward(x, 0, new Uint8Array(10).fill(1)).y.data, x.data);
    expect(() => dropoutForward(x, 1, new Uint8Array(10))).toThrow(/p must be in \[0, 1\)/);
    expect(() => dropoutForward(x, -0.1, new Uint8Array(10))).toThrow(/p must be in/);
    expect(() => dropoutForward(x, 0.5, new Uint8Array(9))).toThrow(/mask has 9 entries/);
  });

  it('gradient matches float64 central differences for a fixed mask', () => {
    checkProperty(
      fc.property(shape4Arb, dropoutPArb, seedArb, (shape, p, seed) => {
        const rng = new Rng(seed);
        const mask = dropoutMask(rng, sizeOf(shape), p);
        const r = gradcheck({
          op: 'dropout',
          params: { shape, p },
          inputs: { x: randn(rng, shape) },
          seed,
          forward: (i) => dropoutForward(i.x, p, mask).y,
          backward: (i, dy) => ({ x: dropoutBackward(dropoutForward(i.x, p, mask).cache, dy).dx }),
        });
        expect(r.skipped).toBe(0);
      }),
      50,
    );
  });

  it('float32 gives the float64 result rounded once; types kept', () => {
    checkProperty(
      fc.property(shape4Arb, dropoutPArb, seedArb, (shape, p, seed) => {
        const rng = new Rng(seed);
        const mask = dropoutMask(rng, sizeOf(shape), p);
        const x = roundedToFloat32(randn(rng, shape));
        const f64 = dropoutForward(x, p, mask);
        const f32 = dropoutForward(toFloat32(x), p, mask);
        expectFloat32Rounding('dropout y', f32.y.data, f64.y.data, 0.5);
        expectFloat32Rounding('dropout dx', dropoutBackward(f32.cache, toFloat32(x)).dx.data, dropoutBackward(f64.cache, x).dx.data, 0.5);
      }),
      30,
    );
  });
});

describe('dropoutMask', () => {
  it('keeps about 1 - p of the units (within 5 binomial sd, fixed seed)', () => {
    const n = 200_000;
    for (const p of [0.1, 0.3, 0.5, 0.8]) {
      const mask = dropoutMask(new Rng(2012), n, p);
      let kept = 0;
      let other = 0;
      for (const m of mask) {
        if (m === 1) kept++;
        else if (m !== 0) other++;
      }
      expect(other).toBe(0);
      expect(Math.abs(kept - n * (1 - p))).toBeLessThan(5 * Math.sqrt(n * p * (1 - p)));
    }
  });

  it('is reproducible from the seed and from a saved generator state, and differs across seeds', () => {
    const a = dropoutMask(new Rng(42), 1000, 0.3);
    const b = dropoutMask(new Rng(42), 1000, 0.3);
    expect(Array.from(b)).toEqual(Array.from(a));
    expect(Array.from(dropoutMask(new Rng(43), 1000, 0.3))).not.toEqual(Array.from(a));

    const rng = new Rng(7);
    dropoutMask(rng, 100, 0.5); // advance the stream
    const saved = rng.state();
    const first = dropoutMask(rng, 500, 0.1);
    const replay = dropoutMask(Rng.fromState(saved), 500, 0.1);
    expect(Array.from(replay)).toEqual(Array.from(first));
    // consecutive masks from one generator are not repeats of each other
    expect(Array.from(dropoutMask(rng, 500, 0.1))).not.toEqual(Array.from(first));
  });

  it('unit i is kept iff draw i of the stream is >= p', () => {
    const draws = new Rng(99);
    const mask = dropoutMask(new Rng(99), 1000, 0.3);
    for (let i = 0; i < 1000; i++) expect(mask[i]).toBe(draws.uniform() >= 0.3 ? 1 : 0);
  });
});
