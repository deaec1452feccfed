/**
 * Hand cases for `sgdStep` (src/train/optimizer.ts), the expected values written out from the
 * formulas of its doc comment:
 *
 *   paper:    v <- mu v - wd lr w - lr g ;  w <- w + v
 *   pytorch:  v <- mu v + (g + wd w)     ;  w <- w - lr v
 *
 * one step of each form on three elements; the two forms giving the same weights for a constant
 * learning rate (and not after a change); subnormal weights and momenta flushed to zero; weight
 * decay on biases as on weights; a missing gradient named. The comparison with torch.optim.SGD
 * itself is tests/train/sgd-vs-pytorch.test.ts.
 */

import { describe, expect, it } from 'vitest';
import type { Weights } from '../../src/model/network.js';
import { Rng } from '../../src/rng.js';
import type { Tensor } from '../../src/tensor.js';
import { sgdStep, zeroMomentum, type SgdOptions, type UpdateForm } from '../../src/train/optimizer.js';
import { expectExactlyEqual, ulp32 } from '../helpers/gradcheck.js';

/** The smallest positive normal float32, 2^-126, and the largest subnormal below it. */
const MIN_NORMAL = 2 ** -126;
const MAX_SUBNORMAL = 2 ** -126 - 2 ** -149;

function one(key: string, values: number[]): Weights<Float32Array> {
  return new Map([[key, { data: Float32Array.from(values), shape: [values.length] }]]);
}

function grads(key: string, values: number[]): Map<string, Tensor> {
  return new Map([[key, { data: Float32Array.from(values), shape: [values.length] }]]);
}

describe('sgdStep: one step by the formula', () => {
  // Dyadic values (sums of powers of two): every product and sum below is exact in float32, so
  // the expected weights are plain decimals a reader can check by hand.
  const w0 = [1, -2, 0.5];
  const g = [0.5, 0.25, -1];
  const v0 = [0, 0.5, -0.25];
  const lr = 0.5;
  const opts = (update: UpdateForm): SgdOptions => ({ momentum: 0.5, weightDecay: 0.25, update });

  it('paper: v = 0.5 v - 0.25 * 0.5 w - 0.5 g; w = w + v', () => {
    const weights = one('w', w0);
    const momentum = new Map([['w', Float32Array.from(v0)]]);
    sgdStep(weights, grads('w', g), momentum, lr, opts('paper'));
    // v: 0 - 0.125 - 0.25 = -0.375;  0.25 + 0.25 - 0.125 = 0.375;  -0.125 - 0.0625 + 0.5 = 0.3125
    expectExactlyEqual('v', momentum.get('w')!, [-0.375, 0.375, 0.3125]);
    expectExactlyEqual('w', weights.get('w')!.data, [0.625, -1.625, 0.8125]);
  });

  it('pytorch: v = 0.5 v + (g + 0.25 w); w = w - 0.5 v', () => {
    const weights = one('w', w0);
    const momentum = new Map([['w', Float32Array.from(v0)]]);
    sgdStep(weights, grads('w', g), momentum, lr, opts('pytorch'));
    // v: 0 + 0.5 + 0.25 = 0.75;  0.25 + 0.25 - 0.5 = 0;  -0.125 - 1 + 0.125 = -1
    expectExactlyEqual('v', momentum.get('w')!, [0.75, 0, -1]);
    expectExactlyEqual('w', weights.get('w')!.data, [0.625, -2, 1]);
  });

  it('the paper recipe (mu 0.9, wd 5e-4, lr 0.01): the formula in float64, rounded once to float32', () => {
    const w = [0.3141592, -1.5e-2, 2.718281];
    const gr = [0.25, -3.3e-3, -1.7];
    const v = [-0.01, 0.002, 0.5];
    const [mu, wd, rate] = [0.9, 5e-4, 0.01];
    for (const update of ['paper', 'pytorch'] as const) {
      const weights = one('w', w);
      const momentum = new Map([['w', Float32Array.from(v)]]);
      sgdStep(weights, grads('w', gr), momentum, rate, { momentum: mu, weightDecay: wd, update });
      // inputs as the float32 values the step sees
      const [w32, g32, v32] = [w, gr, v].map((a) => a.map(Math.fround));
      const vNew = w32.map((_, i) => Math.fround(update === 'paper'
        ? mu * v32[i] - wd * rate * w32[i] - rate * g32[i]
        : mu * v32[i] + (g32[i] + wd * w32[i])));
      const wNew = w32.map((wi, i) => (update === 'paper' ? wi + vNew[i] : wi - rate * vNew[i]));
      for (let i = 0; i < 3; i++) {
        // one rounding of the float64 value: within half a float32 ulp (1 allows another order of the float64 terms)
        expect(Math.abs(momentum.get('w')![i] - vNew[i]), `${update} v[${i}]`).toBeLessThanOrEqual(ulp32(vNew[i]));
        expect(Math.abs(weights.get('w')!.data[i] - wNew[i]), `${update} w[${i}]`).toBeLessThanOrEqual(ulp32(wNew[i]));
      }
    }
  });

  it('zeroMomentum: one zero buffer per parameter, of its length', () => {
    const weights: Weights<Float32Array> = new Map([
      ['a.weight', { data: new Float32Array(6).fill(1), shape: [2, 3] }],
      ['a.bias', { data: new Float32Array(2).fill(1), shape: [2] }],
    ]);
    const m = zeroMomentum(weights);
    expect([...m.keys()]).toEqual(['a.weight', 'a.bias']);
    expect(Array.from(m.get('a.weight')!)).toEqual([0, 0, 0, 0, 0, 0]);
    expect(Array.from(m.get('a.bias')!)).toEqual([0, 0]);
  });

  it('names the parameter that has no gradient', () => {
    const weights = one('conv1.bias', [1, 2]);
    expect(() => sgdStep(weights, new Map(), zeroMomentum(weights), 0.1, opts('paper'))).toThrow('sgd: no gradient or momentum for "conv1.bias"');
  });
});

describe('sgdStep: the two forms', () => {
  // A quadratic bowl per element, g = c (w - target), so the gradient follows each form's own weights.
  const n = 1000;
  const rng = new Rng(31);
  const w0 = Array.from({ length: n }, () => 2 * rng.uniform() - 1);
  const target = Array.from({ length: n }, () => 2 * rng.uniform() - 1);
  const curvature = Array.from({ length: n }, () => 0.1 + 2 * rng.uniform());

  function run(update: UpdateForm, lrs: number[]): { w: Float32Array; v: Float32Array } {
    const weights = one('w', w0);
    const momentum = zeroMomentum(weights);
    const w = weights.get('w')!.data;
    for (const lr of lrs) {
      const g = grads('w', Array.from(w, (wi, i) => curvature[i] * (wi - target[i])));
      sgdStep(weights, g, momentum, lr, { momentum: 0.9, weightDecay: 5e-4, update });
    }
    return { w, v: momentum.get('w')! };
  }

  function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
    let d = 0;
    for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
    return d;
  }

  /**
   * Within float32 rounding: each step rounds w (and v) once in each form, at different points
   * (one form's v is -lr times the other's, rounded separately), so the weights may drift apart by
   * about an ulp of w per step; |w| stays below 2 here (ulp <= 2^-22), but the errors of 20 steps
   * mostly cancel: 20 steps x 2^-23 = 2.4e-6 allows for half of them adding up. Seen: 3.6e-7 for
   * w, 7.5e-8 for v.
   */
  const ROUNDING = 20 * 2 ** -23;

  it('constant lr: both give the same weights over 20 steps, and paper v = -lr * pytorch v', () => {
    const lrs = new Array(20).fill(0.05);
    const paper = run('paper', lrs);
    const pytorch = run('pytorch', lrs);
    expect(maxDiff(paper.w, pytorch.w)).toBeLessThanOrEqual(ROUNDING);
    expect(maxDiff(paper.v, Array.from(pytorch.v, (v) => -0.05 * v))).toBeLessThanOrEqual(ROUNDING);
    // and they did move: the weights are far from the start, and stayed below 2 (the ulp assumed above)
    expect(maxDiff(paper.w, w0)).toBeGreaterThan(0.1);
    expect(Math.max(...Array.from(paper.w, Math.abs))).toBeLessThan(2);
  });

  it('after an lr drop they differ by far more than rounding (PyTorch rescales the old velocity too)', () => {
    const lrs = [...new Array(10).fill(0.05), 0.005];
    const paper = run('paper', lrs);
    const pytorch = run('pytorch', lrs);
    // After the drop: paper w += 0.9 v_old - ..., pytorch w -= 0.005 (0.9 v_old' + ...), with
    // v_old = -0.05 v_old': the old velocity's contribution differs by 0.9 * 0.045 * |v_old'|.
    expect(maxDiff(paper.w, pytorch.w)).toBeGreaterThan(1000 * ROUNDING); // seen: 0.17
  });
});

describe('sgdStep: subnormal flushing', () => {
  const noDecay = (update: UpdateForm): SgdOptions => ({ momentum: 0.9, weightDecay: 0, update });

  for (const update of ['paper', 'pytorch'] as const) {
    it(`${update}: subnormal weights become 0, normal ones (2^-126 included) are kept`, () => {
      const values = [MAX_SUBNORMAL, 2 ** -149, -(2 ** -140), MIN_NORMAL, -MIN_NORMAL, 1];
      expect(Array.from(Float32Array.from(values))).toEqual(values); // all exactly float32
      const weights = one('w', values);
      sgdStep(weights, grads('w', [0, 0, 0, 0, 0, 0]), zeroMomentum(weights), 0.1, noDecay(update));
      expectExactlyEqual('w', weights.get('w')!.data, [0, 0, 0, MIN_NORMAL, -MIN_NORMAL, 1]);
    });

    it(`${update}: a momentum that decays into the subnormal range becomes 0`, () => {
      const weights = one('w', [1, 1]);
      // 0.9 * 1.2e-38 = 1.08e-38 < 2^-126 = 1.18e-38: subnormal, flushed; 0.9 * 1e-37 stays normal
      const momentum = new Map([['w', Float32Array.from([1.2e-38, 1e-37])]]);
      sgdStep(weights, grads('w', [0, 0]), momentum, 1e-3, noDecay(update));
      const v = momentum.get('w')!;
      expect(v[0]).toBe(0);
      expect(v[1]).toBe(Math.fround(0.9 * Math.fround(1e-37)));
    });
  }

  it('a normal weight whose update lands in the subnormal range becomes 0 (momentum itself normal)', () => {
    // paper, lr 1, mu 0, no decay: v = -g = -2.5e-38 (normal), w = 3e-38 - 2.5e-38 = 5e-39 (subnormal)
    const weights = one('w', [3e-38]);
    const momentum = zeroMomentum(weights);
    sgdStep(weights, grads('w', [2.5e-38]), momentum, 1, { momentum: 0, weightDecay: 0, update: 'paper' });
    expect(momentum.get('w')![0]).toBe(Math.fround(-Math.fround(2.5e-38)));
    expect(weights.get('w')!.data[0]).toBe(0);
  });
});

describe('sgdStep: weight decay', () => {
  for (const update of ['paper', 'pytorch'] as const) {
    it(`${update}: applies to biases exactly as to weights (w <- w (1 - lr wd) with zero gradient)`, () => {
      const weights: Weights<Float32Array> = new Map([
        ['fc6.weight', { data: Float32Array.from([0.5, -0.25]), shape: [1, 2] }],
        ['fc6.bias', { data: Float32Array.from([1, -2]), shape: [1 * 2] }],
      ]);
      const zero = new Map<string, Tensor>([
        ['fc6.weight', { data: new Float32Array(2), shape: [1, 2] }],
        ['fc6.bias', { data: new Float32Array(2), shape: [2] }],
      ]);
      // lr 0.5, wd 0.25: both forms multiply by 1 - 0.125 = 0.875 (exact in binary)
      sgdStep(weights, zero, zeroMomentum(weights), 0.5, { momentum: 0.9, weightDecay: 0.25, update });
      expectExactlyEqual('fc6.weight', weights.get('fc6.weight')!.data, [0.4375, -0.21875]);
      expectExactlyEqual('fc6.bias', weights.get('fc6.bias')!.data, [0.875, -1.75]);
    });
  }

  it('weight decay 0 leaves a parameter with zero gradient and momentum unchanged', () => {
    const weights = one('conv1.bias', [0.1, -3]);
    sgdStep(weights, grads('conv1.bias', [0, 0]), zeroMomentum(weights), 0.5, { momentum: 0.9, weightDecay: 0, update: 'pytorch' });
    expectExactlyEqual('conv1.bias', weights.get('conv1.bias')!.data, [Math.fround(0.1), -3]);
  });
});
