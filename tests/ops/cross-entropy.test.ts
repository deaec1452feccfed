/**
 * Cross-entropy of logits against labels, mean over the batch (src/ops/cross-entropy.ts):
 * gradient checks over N 1-4, K 1-12 with labels; hand cases (logsumexp - logit; huge logits
 * finite; agreement with -log softmax); float32 vs float64.
 */

import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { crossEntropyBackward, crossEntropyForward } from '../../src/ops/cross-entropy.js';
import { softmaxForward } from '../../src/ops/softmax.js';
import { Rng } from '../../src/rng.js';
import type { Tensor } from '../../src/tensor.js';
import { expectAllClose, expectFloat32Rounding, gradcheck } from '../helpers/gradcheck.js';
import { classesCaseArb, checkProperty, randn, roundedToFloat32, toFloat32 } from '../helpers/random.js';

function t(values: number[], shape: number[]): Tensor<Float64Array> {
  return { data: Float64Array.from(values), shape };
}

describe('cross-entropy forward', () => {
  it('hand case: mean over rows of logsumexp(row) - row[label]', () => {
    const { loss } = crossEntropyForward(t([1, 2, 3, 0, 0, 0], [2, 3]), Int32Array.from([0, 1]));
    const expected = (Math.log(Math.exp(1) + Math.exp(2) + Math.exp(3)) - 1 + (Math.log(3) - 0)) / 2;
    expect(Math.abs(loss - expected)).toBeLessThanOrEqual(4 * Number.EPSILON * expected);
  });

  it('huge logits (1e4) give a finite loss and finite gradients', () => {
    const logits = t([1e4, 0, -1e4], [1, 3]);
    // logsumexp = 1e4 + log(1 + exp(-1e4) + exp(-2e4)) = 1e4 exactly in float64
    expect(crossEntropyForward(logits, Int32Array.from([0])).loss).toBe(0);
    expect(crossEntropyForward(logits, Int32Array.from([1])).loss).toBe(1e4);
    expect(crossEntropyForward(logits, Int32Array.from([2])).loss).toBe(2e4);
    const { cache } = crossEntropyForward(logits, Int32Array.from([1]));
    expect(Array.from(crossEntropyBackward(cache).dlogits.data)).toEqual([1, -1, 0]);
    const tie = crossEntropyForward(t([1e4, 1e4], [1, 2]), Int32Array.from([1]));
    expect(tie.loss).toBeCloseTo(Math.log(2), 12);
    const f32 = crossEntropyForward({ data: Float32Array.from([1e4, -1e4, 0]), shape: [1, 3] }, Int32Array.from([1]));
    expect(f32.loss).toBe(2e4);
    expect(Array.from(crossEntropyBackward(f32.cache).dlogits.data)).toEqual([1, -1, 0]);
  });

  it('equals the mean of -log softmax(logits)[label]', () => {
    checkProperty(
      fc.property(classesCaseArb, (c) => {
        const logits = randn(new Rng(c.seed), [c.N, c.K], 4);
        const labels = Int32Array.from(c.labels);
        const p = softmaxForward(logits).y.data;
        let expected = 0;
        for (let n = 0; n < c.N; n++) expected -= Math.log(p[n * c.K + labels[n]]) / c.N;
        const { loss } = crossEntropyForward(logits, labels);
        expect(Math.abs(loss - expected)).toBeLessThanOrEqual(1e-13 * Math.max(1, Math.abs(expected)));
      }),
      100,
    );
  });

  it('rejects labels outside [0, K) and a label count that is not the batch size', () => {
    expect(() => crossEntropyForward(t([0, 0], [1, 2]), Int32Array.from([2]))).toThrow(/label 2 of sample 0 is outside \[0, 2\)/);
    expect(() => crossEntropyForward(t([0, 0], [1, 2]), Int32Array.from([-1]))).toThrow(/outside/);
    expect(() => crossEntropyForward(t([0, 0], [1, 2]), Int32Array.from([0, 1]))).toThrow(/2 labels for a batch of 1/);
  });
});

describe('cross-entropy backward', () => {
  it('hand case: dlogits = dloss * (softmax - onehot) / N', () => {
    const { cache } = crossEntropyForward(t([0, Math.log(3), 5, 5], [2, 2]), Int32Array.from([1, 0]));
    const d = crossEntropyBackward(cache, 2).dlogits.data;
    // row 0: softmax (1/4, 3/4), label 1; row 1: (1/2, 1/2), label 0; N = 2, dloss = 2
    expectAllClose('dlogits', d, [(2 * (1 / 4 - 0)) / 2, (2 * (3 / 4 - 1)) / 2, (2 * (1 / 2 - 1)) / 2, (2 * (1 / 2 - 0)) / 2], 1e-15);
  });

  it('gradient matches float64 central differences', () => {
    let checked = 0;
    checkProperty(
      fc.property(classesCaseArb, (c) => {
        const labels = Int32Array.from(c.labels);
        const r = gradcheck({
          op: 'cross-entropy',
          params: c,
          inputs: { logits: randn(new Rng(c.seed), [c.N, c.K], 3) },
          seed: c.seed,
          forward: (i) => ({ data: Float64Array.of(crossEntropyForward(i.logits, labels).loss), shape: [1] }),
          backward: (i, dy) => ({ logits: crossEntropyBackward(crossEntropyForward(i.logits, labels).cache, dy.data[0]).dlogits }),
        });
        expect(r.skipped).toBe(0);
        checked += r.checked;
      }),
      150,
    );
    expect(checked).toBeGreaterThan(1000);
  });
});

describe('cross-entropy float32 vs float64', () => {
  it('loss agrees to float32 rounding; dlogits rounded once; types kept', () => {
    checkProperty(
      fc.property(classesCaseArb, (c) => {
        const labels = Int32Array.from(c.labels);
        const logits = roundedToFloat32(randn(new Rng(c.seed), [c.N, c.K], 3));
        const f64 = crossEntropyForward(logits, labels);
        const f32 = crossEntropyForward(toFloat32(logits), labels);
        expect(Math.abs(f32.loss - f64.loss)).toBeLessThanOrEqual(2 ** -24 * Math.abs(f64.loss));
        const d32 = crossEntropyBackward(f32.cache, 0.5).dlogits.data;
        const d64 = crossEntropyBackward(f64.cache, 0.5).dlogits.data;
        expectFloat32Rounding('cross-entropy dlogits', d32, d64, 0.5);
      }),
      50,
    );
  });
});
