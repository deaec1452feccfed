/**
 * conv2d, im2col and col2im (src/ops/conv2d.ts), proved by themselves:
 *   - im2col equals the direct formula exactly, and col2im is its adjoint: <im2col(x), y> = <x, col2im(y)>;
 *   - forward equals a plain 7-loop convolution written here (exactly, on integer data);
 *   - float64 central-difference gradient checks of x, w and b over fast-check shapes
 *     (N 1-2, groups 1-3, H W 1-9, rectangular kernels 1-5, stride 1-3, pad 0-2);
 *   - hand cases (a 3x3 Sobel kernel; groups isolate channel halves);
 *   - float32 results are the float64 results rounded once (the op sums in float64), types kept.
 */

import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { type Conv2dParams, col2im, conv2dBackward, conv2dForward, convGeometry, im2col } from '../../src/ops/conv2d.js';
import { Rng } from '../../src/rng.js';
import type { Tensor } from '../../src/tensor.js';
import { type Inputs, expectExactlyEqual, expectFloat32Rounding, gradcheck } from '../helpers/gradcheck.js';
import { type ConvCase, convCaseArb, checkProperty, randint, randn, roundedToFloat32, toFloat32 } from '../helpers/random.js';

function paramsOf(c: ConvCase): Conv2dParams {
  return { stride: c.stride, pad: c.pad, groups: c.groups };
}

/**
 * Plain-loop convolution, the formula of the doc comment with nothing factored out. The output
 * size is found by counting window positions that fit in the padded input (not from geometry.ts).
 */
function naiveConv(x: Tensor, w: Tensor, b: Tensor | null, p: Conv2dParams): { data: Float64Array; shape: number[] } {
  const [N, C, H, W] = x.shape;
  const [OC, Cg, KH, KW] = w.shape;
  let OH = 0;
  while (OH * p.stride + KH <= H + 2 * p.pad) OH++;
  let OW = 0;
  while (OW * p.stride + KW <= W + 2 * p.pad) OW++;
  const OCg = OC / p.groups;
  const y = new Float64Array(N * OC * OH * OW);
  const at = (n: number, c: number, h: number, ww: number) => (h < 0 || h >= H || ww < 0 || ww >= W ? 0 : x.data[((n * C + c) * H + h) * W + ww]);
  for (let n = 0; n < N; n++)
    for (let o = 0; o < OC; o++) {
      const g = Math.floor(o / OCg);
      for (let i = 0; i < OH; i++)
        for (let j = 0; j < OW; j++) {
          let s = b ? b.data[o] : 0;
          for (let c = 0; c < Cg; c++)
            for (let u = 0; u < KH; u++)
              for (let v = 0; v < KW; v++)
                s += w.data[((o * Cg + c) * KH + u) * KW + v] * at(n, g * Cg + c, i * p.stride - p.pad + u, j * p.stride - p.pad + v);
          y[((n * OC + o) * OH + i) * OW + j] = s;
        }
    }
  return { data: y, shape: [N, OC, OH, OW] };
}

function shapesOf(c: ConvCase) {
  return { x: [c.N, c.C, c.H, c.W], w: [c.OC, c.C / c.groups, c.KH, c.KW], b: [c.OC] };
}

describe('im2col / col2im', () => {
  it('im2col writes every entry of the patch matrix, equal to the direct formula', () => {
    checkProperty(
      fc.property(convCaseArb, (c) => {
        const s = shapesOf(c);
        const x = randn(new Rng(c.seed), s.x);
        const geo = convGeometry(s.x, s.w, paramsOf(c));
        const { H, W, KH, KW, stride, pad, OW, Cg, K, P } = geo;
        for (let n = 0; n < c.N; n++) {
          for (let g = 0; g < c.groups; g++) {
            const cols = new Float64Array(K * P).fill(NaN); // NaN left behind = an entry im2col skipped
            im2col(x.data, geo, n, g, cols);
            const expected = new Float64Array(K * P);
            for (let row = 0; row < K; row++) {
              const cc = Math.floor(row / (KH * KW));
              const u = Math.floor(row / KW) % KH;
              const v = row % KW;
              for (let col = 0; col < P; col++) {
                const h = Math.floor(col / OW) * stride - pad + u;
                const w = (col % OW) * stride - pad + v;
                const inside = h >= 0 && h < H && w >= 0 && w < W;
                expected[row * P + col] = inside ? x.data[((n * c.C + g * Cg + cc) * H + h) * W + w] : 0;
              }
            }
            expectExactlyEqual(`im2col n=${n} g=${g} ${JSON.stringify(c)}`, cols, expected);
          }
        }
      }),
      100,
    );
  });

  it('col2im is the adjoint of im2col: <im2col(x), y> = <x, col2im(y)> exactly on integers, to 1e-13 on reals', () => {
    checkProperty(
      fc.property(convCaseArb, fc.boolean(), (c, integers) => {
        const s = shapesOf(c);
        const rng = new Rng(c.seed);
        const geo = convGeometry(s.x, s.w, paramsOf(c));
        const x = integers ? randint(rng, s.x, -9, 9) : randn(rng, s.x);
        for (let n = 0; n < c.N; n++) {
          for (let g = 0; g < c.groups; g++) {
            const y = integers ? randint(rng, [geo.K, geo.P], -9, 9) : randn(rng, [geo.K, geo.P]);
            const cols = new Float64Array(geo.K * geo.P);
            im2col(x.data, geo, n, g, cols);
            const dx = new Float64Array(x.data.length);
            col2im(y.data, geo, n, g, dx);
            let lhs = 0;
            let lhsAbs = 0;
            for (let i = 0; i < cols.length; i++) {
              lhs += cols[i] * y.data[i];
              lhsAbs += Math.abs(cols[i] * y.data[i]);
            }
            let rhs = 0;
            for (let i = 0; i < dx.length; i++) rhs += x.data[i] * dx[i];
            const bound = integers ? 0 : 1e-13 * Math.max(1, lhsAbs);
            if (!(Math.abs(lhs - rhs) <= bound)) {
              throw new Error(`adjoint identity fails for n=${n} g=${g}: <im2col(x), y> = ${lhs}, <x, col2im(y)> = ${rhs} (${JSON.stringify(c)})`);
            }
            // col2im only touches image n, channel group g
            for (let i = 0; i < dx.length; i++) {
              const plane = Math.floor(i / (geo.H * geo.W));
              const inGroup = Math.floor(plane / geo.C) === n && Math.floor((plane % geo.C) / geo.Cg) === g;
              if (!inGroup && dx[i] !== 0) throw new Error(`col2im n=${n} g=${g} wrote outside its image/group at ${i}`);
            }
          }
        }
      }),
      100,
    );
  });

  it('col2im accumulates onto dx instead of overwriting it', () => {
    const geo = convGeometry([1, 1, 3, 3], [1, 1, 2, 2], { stride: 1, pad: 0, groups: 1 });
    const cols = new Float64Array(geo.K * geo.P).fill(1);
    const dx = new Float64Array(9).fill(100);
    col2im(cols, geo, 0, 0, dx);
    // each input sample is covered by (number of 2x2 windows containing it) windows:
    //   corners 1, edge middles 2, centre 4
    expect(Array.from(dx)).toEqual([101, 102, 101, 102, 104, 102, 101, 102, 101]);
  });
});

describe('conv2d forward', () => {
  it('equals a plain-loop convolution exactly on integer data', () => {
    checkProperty(
      fc.property(convCaseArb, (c) => {
        const s = shapesOf(c);
        const rng = new Rng(c.seed);
        const x = randint(rng, s.x, -5, 5);
        const w = randint(rng, s.w, -5, 5);
        const b = c.bias ? randint(rng, s.b, -5, 5) : null;
        const { y } = conv2dForward(x, w, b, paramsOf(c));
        const expected = naiveConv(x, w, b, paramsOf(c));
        expect(y.shape).toEqual(expected.shape);
        expectExactlyEqual(`conv2d ${JSON.stringify(c)}`, y.data, expected.data);
      }),
      100,
    );
  });

  it('hand case: 3x3 Sobel kernel on 1..9, valid, padded, strided', () => {
    const x = { data: Float64Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9]), shape: [1, 1, 3, 3] };
    const w = { data: Float64Array.from([1, 0, -1, 2, 0, -2, 1, 0, -1]), shape: [1, 1, 3, 3] };
    const b = { data: Float64Array.from([0.5]), shape: [1] };

    // valid: one output, the whole image
    const valid = conv2dForward(x, w, b, { stride: 1, pad: 0, groups: 1 }).y;
    expect(valid.shape).toEqual([1, 1, 1, 1]);
    expect(valid.data[0]).toBe(1 * 1 - 1 * 3 + 2 * 4 - 2 * 6 + 1 * 7 - 1 * 9 + 0.5);

    // pad 1: y[i][j] = sum_u a_u (x[i-1+u][j-1] - x[i-1+u][j+1]) + 0.5, a = (1, 2, 1), x outside = 0
    const padded = conv2dForward(x, w, b, { stride: 1, pad: 1, groups: 1 }).y;
    expect(padded.shape).toEqual([1, 1, 3, 3]);
    expect(Array.from(padded.data)).toEqual([
      -(2 * 2 + 1 * 5) + 0.5, 2 * (1 - 3) + 1 * (4 - 6) + 0.5, 2 * 2 + 1 * 5 + 0.5,
      -(1 * 2 + 2 * 5 + 1 * 8) + 0.5, 1 * (1 - 3) + 2 * (4 - 6) + 1 * (7 - 9) + 0.5, 1 * 2 + 2 * 5 + 1 * 8 + 0.5,
      -(1 * 5 + 2 * 8) + 0.5, 1 * (4 - 6) + 2 * (7 - 9) + 0.5, 1 * 5 + 2 * 8 + 0.5,
    ]);

    // stride 2, pad 1: the four corners of the padded result
    const strided = conv2dForward(x, w, b, { stride: 2, pad: 1, groups: 1 }).y;
    expect(strided.shape).toEqual([1, 1, 2, 2]);
    expect(Array.from(strided.data)).toEqual([padded.data[0], padded.data[2], padded.data[6], padded.data[8]]);
  });

  it('hand case: backward of the valid 3x3 case is dx = dy*w, dw = dy*x, db = dy', () => {
    const x = { data: Float64Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9]), shape: [1, 1, 3, 3] };
    const w = { data: Float64Array.from([1, 0, -1, 2, 0, -2, 1, 0, -1]), shape: [1, 1, 3, 3] };
    const { cache } = conv2dForward(x, w, null, { stride: 1, pad: 0, groups: 1 });
    const { dx, dw, db } = conv2dBackward(cache, { data: Float64Array.from([3]), shape: [1, 1, 1, 1] });
    expect(Array.from(dx.data)).toEqual(Array.from(w.data, (v) => 3 * v));
    expect(Array.from(dw.data)).toEqual(Array.from(x.data, (v) => 3 * v));
    expect(Array.from(db.data)).toEqual([3]);
  });

  it('hand case: with groups = 2 output channel g sees only input channel g', () => {
    // x: channel 0 all 1, channel 1 all 10; 1x1 kernels 2 (group 0) and 3 (group 1)
    const x = { data: Float64Array.from([1, 1, 1, 1, 10, 10, 10, 10]), shape: [1, 2, 2, 2] };
    const w = { data: Float64Array.from([2, 3]), shape: [2, 1, 1, 1] };
    const { y } = conv2dForward(x, w, null, { stride: 1, pad: 0, groups: 2 });
    expect(Array.from(y.data)).toEqual([2 * 1, 2 * 1, 2 * 1, 2 * 1, 3 * 10, 3 * 10, 3 * 10, 3 * 10]);
    // and with groups = 1 the same channels would mix: w [2, 2, 1, 1]
    const w1 = { data: Float64Array.from([2, 0, 0, 3]), shape: [2, 2, 1, 1] };
    expect(Array.from(conv2dForward(x, w1, null, { stride: 1, pad: 0, groups: 1 }).y.data)).toEqual(Array.from(y.data));
  });

  it('rejects shapes that do not fit groups, naming the shapes', () => {
    const x = { data: new Float64Array(3 * 4), shape: [1, 3, 2, 2] };
    const w = { data: new Float64Array(2 * 1), shape: [2, 1, 1, 1] };
    expect(() => conv2dForward(x, w, null, { stride: 1, pad: 0, groups: 2 })).toThrow(/\[1, 3, 2, 2\].*groups=2/);
  });
});

describe('conv2d gradients', () => {
  it('match float64 central differences for x, w and b', () => {
    let checked = 0;
    let skipped = 0;
    checkProperty(
      fc.property(convCaseArb, (c) => {
        const s = shapesOf(c);
        const rng = new Rng(c.seed);
        const params = paramsOf(c);
        const inputs: Inputs = { x: randn(rng, s.x), w: randn(rng, s.w) };
        if (c.bias) inputs.b = randn(rng, s.b);
        const report = gradcheck({
          op: 'conv2d',
          params: c,
          inputs,
          seed: c.seed,
          maxPerInput: 80,
          forward: (t) => conv2dForward(t.x, t.w, t.b ?? null, params).y,
          backward: (t, dy) => {
            const g = conv2dBackward(conv2dForward(t.x, t.w, t.b ?? null, params).cache, dy);
            return { x: g.dx, w: g.dw, b: g.db };
          },
        });
        checked += report.checked;
        skipped += report.skipped;
      }),
      120,
    );
    expect(skipped).toBe(0); // convolution is smooth everywhere
    expect(checked).toBeGreaterThan(1000);
  });

  it('match central differences on AlexNet-shaped layers (conv1: k11 s4; conv2: k5 pad 2 groups 2), 200-element subsets', () => {
    const layers = [
      { name: 'conv1-like', x: [1, 3, 19, 19], w: [4, 3, 11, 11], params: { stride: 4, pad: 0, groups: 1 } },
      { name: 'conv2-like', x: [2, 4, 7, 7], w: [6, 2, 5, 5], params: { stride: 1, pad: 2, groups: 2 } },
      { name: 'conv4-like', x: [1, 6, 5, 5], w: [4, 3, 3, 3], params: { stride: 1, pad: 1, groups: 2 } },
    ];
    for (const [k, layer] of layers.entries()) {
      const rng = new Rng(100 + k);
      const inputs = { x: randn(rng, layer.x), w: randn(rng, layer.w, 0.1), b: randn(rng, [layer.w[0]]) };
      const report = gradcheck({
        op: 'conv2d',
        params: layer,
        inputs,
        seed: 100 + k,
        forward: (t) => conv2dForward(t.x, t.w, t.b, layer.params).y,
        backward: (t, dy) => {
          const g = conv2dBackward(conv2dForward(t.x, t.w, t.b, layer.params).cache, dy);
          return { x: g.dx, w: g.dw, b: g.db };
        },
      });
      // inputs larger than 200 elements are checked on a 200-element subset, smaller ones entirely
      expect(report.inputs.x.checked).toBe(Math.min(200, inputs.x.data.length));
      expect(report.inputs.w.checked).toBe(Math.min(200, inputs.w.data.length));
      expect(report.inputs.b.checked).toBe(layer.w[0]);
    }
  });

  it('db is the sum of dy over batch and positions, with or without a bias in the forward', () => {
    const rng = new Rng(5);
    const x = randn(rng, [2, 2, 4, 4]);
    const w = randn(rng, [3, 2, 3, 3]);
    const dy = randn(rng, [2, 3, 2, 2]);
    const { db } = conv2dBackward(conv2dForward(x, w, null, { stride: 1, pad: 0, groups: 1 }).cache, dy);
    for (let o = 0; o < 3; o++) {
      let s = 0;
      for (let n = 0; n < 2; n++) for (let p = 0; p < 4; p++) s += dy.data[(n * 3 + o) * 4 + p];
      expect(db.data[o]).toBeCloseTo(s, 14);
    }
  });
});

describe('conv2d float32 vs float64', () => {
  it('float32 forward and backward are the float64 results rounded once; array types are kept', () => {
    checkProperty(
      fc.property(convCaseArb, (c) => {
        const s = shapesOf(c);
        const rng = new Rng(c.seed);
        const params = paramsOf(c);
        const x = roundedToFloat32(randn(rng, s.x));
        const w = roundedToFloat32(randn(rng, s.w));
        const b = c.bias ? roundedToFloat32(randn(rng, s.b)) : null;
        const f64 = conv2dForward(x, w, b, params);
        const f32 = conv2dForward(toFloat32(x), toFloat32(w), b ? toFloat32(b) : null, params);
        expectFloat32Rounding('conv2d y', f32.y.data, f64.y.data, 0.5);
        const dy = roundedToFloat32(randn(rng, f64.y.shape));
        const g64 = conv2dBackward(f64.cache, dy);
        const g32 = conv2dBackward(f32.cache, toFloat32(dy));
        expectFloat32Rounding('conv2d dx', g32.dx.data, g64.dx.data, 0.5);
        expectFloat32Rounding('conv2d dw', g32.dw.data, g64.dw.data, 0.5);
        expectFloat32Rounding('conv2d db', g32.db.data, g64.db.data, 0.5);
      }),
      50,
    );
  });
});
