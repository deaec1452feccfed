/**
 * Local response normalisation (src/ops/lrn.ts): gradient checks over sizes 1-6 (even sizes too),
 * alpha, beta, k and both alpha conventions; the forward against the formula written here; hand
 * cases at one pixel for the paper and Caffe conventions and for even windows; float32 vs float64.
 */

import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { LRN_CAFFE, LRN_PAPER, type LrnParams, lrnBackward, lrnForward } from '../../src/ops/lrn.js';
import { Rng } from '../../src/rng.js';
import type { Tensor } from '../../src/tensor.js';
import { expectAllClose, expectFloat32Rounding, gradcheck } from '../helpers/gradcheck.js';
import { checkProperty, lrnCaseArb, randn, roundedToFloat32, toFloat32 } from '../helpers/random.js';

/** LRN of [1, C, 1, 1] values `x` at one pixel. */
function lrnAt(x: number[], p: LrnParams): number[] {
  return Array.from(lrnForward({ data: Float64Array.from(x), shape: [1, x.length, 1, 1] }, p).y.data);
}

/** The forward formula with the window spelled out: [c - floor(n/2), c + floor((n-1)/2)] within [0, C). */
function naiveLrn(x: Tensor, p: LrnParams): Float64Array {
  const [N, C, H, W] = x.shape;
  const a = p.divideAlphaByN ? p.alpha / p.size : p.alpha;
  const y = new Float64Array(x.data.length);
  const at = (n: number, c: number, q: number) => x.data[(n * C + c) * H * W + q];
  for (let n = 0; n < N; n++)
    for (let c = 0; c < C; c++)
      for (let q = 0; q < H * W; q++) {
        let sum = 0;
        for (let c2 = c - Math.floor(p.size / 2); c2 <= c + Math.floor((p.size - 1) / 2); c2++) {
          if (c2 >= 0 && c2 < C) sum += at(n, c2, q) ** 2;
        }
        y[(n * C + c) * H * W + q] = at(n, c, q) / (p.k + a * sum) ** p.beta;
      }
  return y;
}

describe('lrn forward', () => {
  it('paper convention at one pixel: k = 2, alpha = 1e-4 not divided by n', () => {
    // C = 3 < n = 5: every window holds all three channels, sum of squares 1 + 4 + 9 = 14
    const s = 2 + 1e-4 * 14;
    expectAllClose('LRN_PAPER', lrnAt([1, 2, 3], LRN_PAPER), [1 / s ** 0.75, 2 / s ** 0.75, 3 / s ** 0.75], 1e-15);
  });

  it('Caffe convention at one pixel: k = 1, alpha / n', () => {
    const s = 1 + (1e-4 / 5) * 14;
    expectAllClose('LRN_CAFFE', lrnAt([1, 2, 3], LRN_CAFFE), [1 / s ** 0.75, 2 / s ** 0.75, 3 / s ** 0.75], 1e-15);
  });

  it('the paper literal equals alpha/n with alpha = 5e-4, k = 2 (alexnet.md equivalence)', () => {
    const x = [0.5, -40, 17, 3, 250, -9, 1];
    const divided = lrnAt(x, { size: 5, alpha: 5e-4, beta: 0.75, k: 2, divideAlphaByN: true });
    expectAllClose('equivalence', lrnAt(x, LRN_PAPER), divided, 1e-14);
    // and the two AlexNet conventions really differ on activations of this size
    expect(Math.abs(lrnAt(x, LRN_PAPER)[4] - lrnAt(x, LRN_CAFFE)[4])).toBeGreaterThan(1);
  });

  it('odd window of 3 channels with a large alpha, both conventions', () => {
    // windows: c=0 -> {0, 1}, c=1 -> {0, 1, 2}, c=2 -> {1, 2}; squares 1, 4, 9
    const paper = { size: 3, alpha: 0.3, beta: 0.75, k: 2, divideAlphaByN: false };
    expectAllClose('size 3, alpha', lrnAt([1, 2, 3], paper), [1 / (2 + 0.3 * 5) ** 0.75, 2 / (2 + 0.3 * 14) ** 0.75, 3 / (2 + 0.3 * 13) ** 0.75], 1e-15);
    const divided = { ...paper, divideAlphaByN: true };
    expectAllClose('size 3, alpha/n', lrnAt([1, 2, 3], divided), [1 / (2 + 0.1 * 5) ** 0.75, 2 / (2 + 0.1 * 14) ** 0.75, 3 / (2 + 0.1 * 13) ** 0.75], 1e-15);
  });

  it('even windows follow PyTorch: n/2 channels before c, n/2 - 1 after', () => {
    const p2 = { size: 2, alpha: 1, beta: 1, k: 1, divideAlphaByN: false };
    // n = 2: window [c-1, c] -> sums 1, 1+4, 4+9
    expectAllClose('size 2', lrnAt([1, 2, 3], p2), [1 / (1 + 1), 2 / (1 + 5), 3 / (1 + 13)], 1e-15);
    // n = 4: window [c-2, c+1] -> sums 1+4, 1+4+9, 1+4+9
    const p4 = { ...p2, size: 4 };
    expectAllClose('size 4', lrnAt([1, 2, 3], p4), [1 / (1 + 5), 2 / (1 + 14), 3 / (1 + 14)], 1e-15);
  });

  it('positions and images are normalised independently', () => {
    // [2, 2, 1, 2]: pixel values differ per image and position; size 2 window [c-1, c]
    const x = { data: Float64Array.from([1, 2, 3, 4, 5, 6, 7, 8]), shape: [2, 2, 1, 2] };
    const { y } = lrnForward(x, { size: 2, alpha: 1, beta: 1, k: 1, divideAlphaByN: false });
    expectAllClose('independent', y.data, [1 / 2, 2 / 5, 3 / (1 + 1 + 9), 4 / (1 + 4 + 16), 5 / 26, 6 / 37, 7 / (1 + 25 + 49), 8 / (1 + 36 + 64)], 1e-15);
  });

  it('equals the formula written in the test for random shapes and params', () => {
    checkProperty(
      fc.property(lrnCaseArb, (c) => {
        const x = randn(new Rng(c.seed), [c.N, c.C, c.H, c.W], 3);
        expectAllClose(`lrn ${JSON.stringify(c)}`, lrnForward(x, c.params).y.data, naiveLrn(x, c.params), 1e-14);
      }),
      100,
    );
  });
});

describe('lrn backward', () => {
  it('hand case, one channel: dy/dx = s^-beta - 2 a beta x^2 s^(-beta-1), s = k + a x^2', () => {
    const [x, k, a, beta] = [1.5, 2, 0.5, 0.75];
    const p = { size: 1, alpha: a, beta, k, divideAlphaByN: false };
    const { cache } = lrnForward({ data: Float64Array.from([x]), shape: [1, 1, 1, 1] }, p);
    const { dx } = lrnBackward(cache, { data: Float64Array.from([1]), shape: [1, 1, 1, 1] });
    const s = k + a * x * x;
    expect(dx.data[0]).toBeCloseTo(s ** -beta - 2 * a * beta * x * x * s ** (-beta - 1), 14);
  });

  it('gradient matches float64 central differences', () => {
    let checked = 0;
    let skipped = 0;
    checkProperty(
      fc.property(lrnCaseArb, (c) => {
        const x = randn(new Rng(c.seed), [c.N, c.C, c.H, c.W]);
        const r = gradcheck({
          op: 'lrn',
          params: c,
          inputs: { x },
          seed: c.seed,
          forward: (t) => lrnForward(t.x, c.params).y,
          backward: (t, dy) => ({ x: lrnBackward(lrnForward(t.x, c.params).cache, dy).dx }),
        });
        checked += r.checked;
        skipped += r.skipped;
      }),
      150,
    );
    expect(skipped).toBe(0);
    expect(checked).toBeGreaterThan(1500);
  });

  it('gradient check at AlexNet conventions and activation sizes (n = 5, |x| ~ 30)', () => {
    for (const params of [LRN_PAPER, LRN_CAFFE]) {
      const x = randn(new Rng(11), [1, 12, 2, 2], 30);
      gradcheck({
        op: 'lrn',
        params,
        inputs: { x },
        forward: (t) => lrnForward(t.x, params).y,
        backward: (t, dy) => ({ x: lrnBackward(lrnForward(t.x, params).cache, dy).dx }),
      });
    }
  });
});

describe('lrn float32 vs float64', () => {
  it('float32 forward and backward are the float64 results rounded once; types kept', () => {
    checkProperty(
      fc.property(lrnCaseArb, (c) => {
        const rng = new Rng(c.seed);
        const x = roundedToFloat32(randn(rng, [c.N, c.C, c.H, c.W], 2));
        const dy = roundedToFloat32(randn(rng, x.shape));
        const f64 = lrnForward(x, c.params);
        const f32 = lrnForward(toFloat32(x), c.params);
        expectFloat32Rounding('lrn y', f32.y.data, f64.y.data, 0.5);
        expectFloat32Rounding('lrn dx', lrnBackward(f32.cache, toFloat32(dy)).dx.data, lrnBackward(f64.cache, dy).dx.data, 0.5);
      }),
      50,
    );
  });
});
