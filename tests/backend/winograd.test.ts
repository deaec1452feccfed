/**
 * The float64 Winograd F(2x2, 3x3) of tests/backend/winograd-f64.ts, whose absolute-value run
 * bounds the float32 kernels' error (tests/backend/wasm.test.ts), is itself the convolution: with
 * the true matrices it gives src/ops/conv2d.ts's y, dx and dW to float64 rounding, for any padding,
 * odd or even outputs, groups and bias.
 */

import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import * as ops from '../../src/ops/index.js';
import { Rng } from '../../src/rng.js';
import { checkProperty, randn, seedArb } from '../helpers/random.js';
import { F2X2_3X3, absMatrices, winogradConv } from './winograd-f64.js';
import { relativeError } from './helpers.js';

const caseArb = fc.record({
  N: fc.integer({ min: 1, max: 3 }), groups: fc.integer({ min: 1, max: 3 }),
  Cg: fc.integer({ min: 1, max: 4 }), OCg: fc.integer({ min: 1, max: 4 }),
  H: fc.integer({ min: 1, max: 9 }), W: fc.integer({ min: 1, max: 9 }),
  pad: fc.integer({ min: 0, max: 2 }), bias: fc.boolean(), seed: seedArb,
}).map((c) => ({ ...c, H: Math.max(c.H, 3 - 2 * c.pad), W: Math.max(c.W, 3 - 2 * c.pad) }));

describe('Winograd F(2x2, 3x3) in float64 (the tests\' model of assembly/winograd.ts)', () => {
  it('with the true matrices: the convolution, forward and both gradients', () => {
    checkProperty(fc.property(caseArb, (c) => {
      const rng = new Rng(c.seed);
      const x = randn(rng, [c.N, c.Cg * c.groups, c.H, c.W]);
      const w = randn(rng, [c.OCg * c.groups, c.Cg, 3, 3]);
      const b = c.bias ? randn(rng, [c.OCg * c.groups]) : null;
      const params = { stride: 1, pad: c.pad, groups: c.groups };
      const want = ops.conv2dForward(x, w, b, params);
      const dy = randn(rng, want.y.shape as number[]);
      const back = ops.conv2dBackward(want.cache, dy);
      const got = winogradConv(x, w, b, dy, params, F2X2_3X3);
      expect(relativeError(got.y, want.y.data).err).toBeLessThan(1e-12);
      expect(relativeError(got.dx, back.dx.data).err).toBeLessThan(1e-12);
      expect(relativeError(got.dw, back.dw.data).err).toBeLessThan(1e-12);
    }), 60);
  });

  it('with absolute values: every result at least the magnitude of the exact one', () => {
    const rng = new Rng(5);
    const x = randn(rng, [2, 4, 7, 6]), w = randn(rng, [6, 2, 3, 3]), b = randn(rng, [6]);
    const params = { stride: 1, pad: 1, groups: 2 };
    const dy = randn(rng, [2, 6, 7, 6]);
    const exact = winogradConv(x, w, b, dy, params, F2X2_3X3);
    const abs = (t: { data: ArrayLike<number>; shape: readonly number[] }) => ({ data: Float64Array.from(t.data, Math.abs), shape: [...t.shape] });
    const bound = winogradConv(abs(x), abs(w), abs(b), abs(dy), params, absMatrices(F2X2_3X3));
    for (const k of ['y', 'dx', 'dw'] as const) {
      for (let i = 0; i < exact[k].length; i++) expect(bound[k][i]).toBeGreaterThanOrEqual(Math.abs(exact[k][i]));
    }
  });
});
