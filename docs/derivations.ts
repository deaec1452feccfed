/**
 * The backward passes derived in docs/derivations.md, written here straight from the formulas on
 * that page (not copied from src/ops), and checked two ways:
 *
 *   1. against float64 central differences of the forward pass in src/ops:
 *        dL/dx_j ~ (L(x + h e_j) - L(x - h e_j)) / 2h,   L(x) = sum_i dy_i * y_i(x), dy random
 *      which needs nothing but the forward pass, so it also checks the derivation itself;
 *   2. against the backward pass in src/ops (lrnBackward, maxPoolBackward, conv2dBackward).
 * Winograd's F(2x2, 3x3), which src/ops does not use (the WebAssembly kernels do), is checked on one
 * tile: against the correlation it replaces, and its gradients against central differences.
 *
 * Errors are |a - b| / max(1, |a|, |b|), Caffe's gradient checker's measure: relative for large
 * values, absolute for small ones. One line per check; exit status 1 if any fails.
 *
 *   npx tsx docs/derivations.ts
 *
 * tests/docs/derivations.test.ts runs it.
 */

import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { outputSize2d, type Pads, type Rounding } from '../src/geometry.js';
import { type Conv2dParams, col2im, conv2dBackward, conv2dForward, convGeometry, im2col } from '../src/ops/conv2d.js';
import { LRN_CAFFE, LRN_PAPER, type LrnParams, lrnBackward, lrnForward } from '../src/ops/lrn.js';
import { type MaxPoolParams, maxPoolBackward, maxPoolForward } from '../src/ops/maxpool.js';
import { Rng } from '../src/rng.js';
import { type Tensor, formatShape, sizeOf } from '../src/tensor.js';

export interface CheckResult {
  op: 'lrn' | 'maxpool' | 'conv2d' | 'winograd';
  /** The configuration: convention, shapes. */
  config: string;
  /** What was compared with what. */
  what: string;
  error: number;
  tolerance: number;
  /** 'agree': error must be below tolerance. 'differ': a deliberately wrong formula must be caught. */
  expect: 'agree' | 'differ';
  ok: boolean;
}

/** Below this, a formula and central differences agree (float64, h ~ 1e-5: truncation ~1e-10). */
const TOL_NUMERIC = 1e-7;
/** Below this, two float64 evaluations of the same formula agree (they differ only in summation order). */
const TOL_EXACT = 1e-12;

type F64 = Tensor<Float64Array>;

function f64(data: Float64Array, shape: readonly number[]): F64 {
  return { data, shape: [...shape] };
}

function uniform(rng: Rng, shape: readonly number[], lo: number, hi: number): F64 {
  const n = sizeOf(shape);
  const data = new Float64Array(n);
  for (let i = 0; i < n; i++) data[i] = lo + (hi - lo) * rng.uniform();
  return f64(data, shape);
}

/** max_i |a_i - b_i| / max(1, |a_i|, |b_i|) */
export function maxError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`comparing ${a.length} values with ${b.length}`);
  let e = 0;
  for (let i = 0; i < a.length; i++) e = Math.max(e, Math.abs(a[i] - b[i]) / Math.max(1, Math.abs(a[i]), Math.abs(b[i])));
  return e;
}

/**
 * dL/dv for L(v) = sum_i dy_i * f(v)_i, by central differences in float64, one coordinate at a
 * time with a step of 1e-5 scaled to the coordinate's size.
 */
export function centralDifferences(f: (v: Float64Array) => ArrayLike<number>, v: Float64Array, dy: ArrayLike<number>): Float64Array {
  const loss = (u: Float64Array): number => {
    const y = f(u);
    let s = 0;
    for (let i = 0; i < y.length; i++) s += dy[i] * y[i];
    return s;
  };
  const g = new Float64Array(v.length);
  const u = Float64Array.from(v);
  for (let j = 0; j < v.length; j++) {
    const h = 1e-5 * Math.max(1, Math.abs(v[j]));
    u[j] = v[j] + h;
    const plus = loss(u);
    u[j] = v[j] - h;
    const minus = loss(u);
    u[j] = v[j];
    g[j] = (plus - minus) / (2 * h);
  }
  return g;
}

function check(op: CheckResult['op'], config: string, what: string, a: ArrayLike<number>, b: ArrayLike<number>, tolerance: number, expect: CheckResult['expect'] = 'agree'): CheckResult {
  const error = maxError(a, b);
  return { op, config, what, error, tolerance, expect, ok: expect === 'agree' ? error < tolerance : error > tolerance };
}

// ---------------------------------------------------------------------------------------------
// Local response normalisation (docs/derivations.md, "LRN").
//
//   s_c = k + a * sum_{c' in win(c)} x_{c'}^2      win(c) = [c - floor(n/2), c + floor((n-1)/2)] ∩ [0, C)
//   y_c = x_c * s_c^(-beta)
//   dx_j = dy_j * s_j^(-beta)  -  2 a beta x_j * sum_{i : j in win(i)} dy_i x_i s_i^(-beta-1)

/** The derived LRN gradient, written as a scatter: each output i sends its share to every j in win(i). */
export function lrnGradientFormula(x: F64, dy: F64, p: LrnParams, crossTerm = true): Float64Array {
  const [N, C, H, W] = x.shape;
  const a = p.divideAlphaByN ? p.alpha / p.size : p.alpha;
  const HW = H * W;
  const at = (n: number, c: number, q: number): number => (n * C + c) * HW + q;
  const win = (c: number): [number, number] => [Math.max(0, c - Math.floor(p.size / 2)), Math.min(C - 1, c + Math.floor((p.size - 1) / 2))];
  const dx = new Float64Array(x.data.length);
  for (let n = 0; n < N; n++) {
    for (let q = 0; q < HW; q++) {
      const s = new Float64Array(C);
      for (let c = 0; c < C; c++) {
        const [lo, hi] = win(c);
        let sum = 0;
        for (let c2 = lo; c2 <= hi; c2++) sum += x.data[at(n, c2, q)] ** 2;
        s[c] = p.k + a * sum;
      }
      for (let i = 0; i < C; i++) {
        // the direct term: y_i depends on x_i through the numerator
        dx[at(n, i, q)] += dy.data[at(n, i, q)] * s[i] ** -p.beta;
        if (!crossTerm) continue;
        // the cross-channel term: y_i depends on every x_j, j in win(i), through s_i
        const share = dy.data[at(n, i, q)] * x.data[at(n, i, q)] * s[i] ** (-p.beta - 1);
        const [lo, hi] = win(i);
        for (let j = lo; j <= hi; j++) dx[at(n, j, q)] -= 2 * a * p.beta * x.data[at(n, j, q)] * share;
      }
    }
  }
  return dx;
}

function lrnChecks(rng: Rng): CheckResult[] {
  const cases: [string, LrnParams, number][] = [
    ['paper (k=2, alpha=1e-4, n=5)', LRN_PAPER, 50],
    ['caffe (k=1, alpha/n=2e-5, n=5)', LRN_CAFFE, 100],
    ['even window (n=4, k=1, alpha/n=2.5e-4)', { size: 4, alpha: 1e-3, beta: 0.75, k: 1, divideAlphaByN: true }, 20],
  ];
  const out: CheckResult[] = [];
  for (const [name, p, scale] of cases) {
    const shape = [2, 7, 3, 3]; // 7 channels: windows are cut at both ends
    const x = uniform(rng, shape, -scale, scale);
    const dy = uniform(rng, shape, -1, 1);
    const config = `${name} x ${formatShape(shape)}`;
    const formula = lrnGradientFormula(x, dy, p);
    const numeric = centralDifferences((v) => lrnForward(f64(v, shape), p).y.data, x.data, dy.data);
    out.push(check('lrn', config, 'dx: formula vs central differences', formula, numeric, TOL_NUMERIC));
    out.push(check('lrn', config, 'dx: formula vs lrnBackward', formula, lrnBackward(lrnForward(x, p).cache, dy).dx.data, TOL_EXACT));
    out.push(check('lrn', config, 'dx without the cross-channel term vs central differences', lrnGradientFormula(x, dy, p, false), numeric, 1e-3, 'differ'));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Max pooling (docs/derivations.md, "Max pooling").
//
//   y_o = x_{m(o)},   m(o) = the first maximum of window o in row-major order
//   dx_p = sum_{o : m(o) = p} dy_o

/** The derived max-pool gradient: each output's gradient goes to its window's first maximum. */
export function maxPoolGradientFormula(x: F64, dy: F64, p: MaxPoolParams): Float64Array {
  const [N, C, H, W] = x.shape;
  const [OH, OW] = outputSize2d(H, W, p.kernel, p.stride, p.pads, p.rounding);
  const [top, left] = p.pads;
  const dx = new Float64Array(x.data.length);
  for (let plane = 0; plane < N * C; plane++) {
    for (let i = 0; i < OH; i++) {
      for (let j = 0; j < OW; j++) {
        let best = -Infinity;
        let where = -1;
        for (let h = Math.max(0, i * p.stride - top); h < Math.min(H, i * p.stride - top + p.kernel); h++) {
          for (let w = Math.max(0, j * p.stride - left); w < Math.min(W, j * p.stride - left + p.kernel); w++) {
            const v = x.data[(plane * H + h) * W + w];
            if (v > best) {
              best = v;
              where = (plane * H + h) * W + w;
            }
          }
        }
        dx[where] += dy.data[(plane * OH + i) * OW + j];
      }
    }
  }
  return dx;
}

/** Distinct values at least 0.01 apart, so that no step of central differences changes a window's maximum. */
function distinct(rng: Rng, shape: readonly number[]): F64 {
  const n = sizeOf(shape);
  const order = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = rng.below(i + 1);
    [order[i], order[j]] = [order[j], order[i]];
  }
  return f64(Float64Array.from(order, (k) => 0.01 * k - 0.005 * n), shape);
}

function maxPoolChecks(rng: Rng): CheckResult[] {
  const pool = (pads: Pads, rounding: Rounding): MaxPoolParams => ({ kernel: 3, stride: 2, pads, rounding });
  const cases: [string, number[], MaxPoolParams][] = [
    ['overlapping 3x3 stride 2, floor (paper, torchvision)', [2, 3, 9, 9], pool([0, 0, 0, 0], 'floor')],
    ['3x3 stride 2, ceil: the last window hangs over (Caffe)', [1, 2, 8, 8], pool([0, 0, 0, 0], 'ceil')],
    ['3x3 stride 2, pads [0, 0, 1, 1] (the ONNX zoo graph)', [1, 2, 8, 8], pool([0, 0, 1, 1], 'floor')],
  ];
  const out: CheckResult[] = [];
  for (const [name, shape, p] of cases) {
    const x = distinct(rng, shape);
    const { y, cache } = maxPoolForward(x, p);
    const dy = uniform(rng, y.shape, -1, 1);
    const config = `${name} x ${formatShape(shape)}`;
    const formula = maxPoolGradientFormula(x, dy, p);
    const numeric = centralDifferences((v) => maxPoolForward(f64(v, shape), p).y.data, x.data, dy.data);
    out.push(check('maxpool', config, 'dx: formula vs central differences', formula, numeric, TOL_NUMERIC));
    out.push(check('maxpool', config, 'dx: formula vs maxPoolBackward', formula, maxPoolBackward(cache, dy).dx.data, TOL_EXACT));
  }
  // Ties: max is not differentiable there, so no central differences; the convention (first
  // maximum, as PyTorch and Caffe) is checked against src/ops on an all-zero map, common after ReLU.
  const shape = [1, 1, 7, 7];
  const zeros = f64(new Float64Array(49), shape);
  const p = pool([0, 0, 0, 0], 'floor');
  const { y, cache } = maxPoolForward(zeros, p);
  const dy = uniform(rng, y.shape, -1, 1);
  out.push(check('maxpool', `ties: all-zero input ${formatShape(shape)}`, 'dx: first-maximum rule vs maxPoolBackward', maxPoolGradientFormula(zeros, dy, p), maxPoolBackward(cache, dy).dx.data, TOL_EXACT));
  return out;
}

// ---------------------------------------------------------------------------------------------
// Convolution as im2col + GEMM (docs/derivations.md, "Convolution").
//
// Per image n and group g, with cols = im2col(x[n], g) [K, P] and W_g [OC/G, K]:
//   Y_g = W_g cols + b          dW_g += dY_g cols^T        db = sum over n, p of dY
//   dcols = W_g^T dY_g          dx[n] += col2im(dcols)      (col2im = im2col^T, the adjoint)

/** C [M, N] = A [M, K] . B [K, N], with optional transposes, in float64: the plain loop. */
function matmul(a: ArrayLike<number>, b: ArrayLike<number>, M: number, N: number, K: number, aT = false, bT = false): Float64Array {
  const c = new Float64Array(M * N);
  for (let m = 0; m < M; m++) {
    for (let n = 0; n < N; n++) {
      let s = 0;
      for (let k = 0; k < K; k++) s += (aT ? a[k * M + m] : a[m * K + k]) * (bT ? b[n * K + k] : b[k * N + n]);
      c[m * N + n] = s;
    }
  }
  return c;
}

/** The derived convolution gradients in matrix form: two products and a col2im per image and group. */
export function convGradientMatrixForm(x: F64, w: F64, dy: F64, params: Conv2dParams): { dx: Float64Array; dw: Float64Array; db: Float64Array } {
  const geo = convGeometry(x.shape, w.shape, params);
  const { N, OC, groups, OCg, K, P } = geo;
  const dx = new Float64Array(x.data.length);
  const dw = new Float64Array(w.data.length);
  const db = new Float64Array(OC);
  const cols = new Float64Array(K * P);
  for (let n = 0; n < N; n++) {
    for (let g = 0; g < groups; g++) {
      im2col(x.data, geo, n, g, cols);
      const dY = dy.data.subarray((n * OC + g * OCg) * P, (n * OC + (g + 1) * OCg) * P); // [OCg, P]
      const Wg = w.data.subarray(g * OCg * K, (g + 1) * OCg * K); //                       [OCg, K]
      const dWg = matmul(dY, cols, OCg, K, P, false, true); //   dY_g . cols^T   [OCg, K]
      for (let i = 0; i < dWg.length; i++) dw[g * OCg * K + i] += dWg[i];
      for (let o = 0; o < OCg; o++) for (let p = 0; p < P; p++) db[g * OCg + o] += dY[o * P + p];
      const dcols = matmul(Wg, dY, K, P, OCg, true, false); //   W_g^T . dY_g    [K, P]
      col2im(dcols, geo, n, g, dx);
    }
  }
  return { dx, dw, db };
}

/** The same gradients from the index form of the forward sum, as plain scatters (no matrices). */
export function convGradientIndexForm(x: F64, w: F64, dy: F64, params: Conv2dParams): { dx: Float64Array; dw: Float64Array; db: Float64Array } {
  const { N, C, H, W, OC, KH, KW, stride, pad, OH, OW, Cg, OCg } = convGeometry(x.shape, w.shape, params);
  const dx = new Float64Array(x.data.length);
  const dw = new Float64Array(w.data.length);
  const db = new Float64Array(OC);
  for (let n = 0; n < N; n++) {
    for (let o = 0; o < OC; o++) {
      const g = Math.floor(o / OCg);
      for (let i = 0; i < OH; i++) {
        for (let j = 0; j < OW; j++) {
          const d = dy.data[((n * OC + o) * OH + i) * OW + j];
          db[o] += d;
          for (let c = 0; c < Cg; c++) {
            for (let u = 0; u < KH; u++) {
              const h = i * stride - pad + u;
              if (h < 0 || h >= H) continue;
              for (let v = 0; v < KW; v++) {
                const ww = j * stride - pad + v;
                if (ww < 0 || ww >= W) continue;
                const xi = ((n * C + g * Cg + c) * H + h) * W + ww;
                const wi = ((o * Cg + c) * KH + u) * KW + v;
                dw[wi] += d * x.data[xi]; // y depends on w[o, c, u, v] through x at the tap
                dx[xi] += d * w.data[wi]; // ... and on x at the tap through w[o, c, u, v]
              }
            }
          }
        }
      }
    }
  }
  return { dx, dw, db };
}

function convChecks(rng: Rng): CheckResult[] {
  const cases: [string, number[], number[], Conv2dParams][] = [
    ['conv1-like: 11x11 stride 4, no padding', [1, 3, 23, 23], [4, 3, 11, 11], { stride: 4, pad: 0, groups: 1 }],
    ['conv2-like: 5x5, pad 2, groups 2', [2, 4, 7, 7], [6, 2, 5, 5], { stride: 1, pad: 2, groups: 2 }],
    ['3x3 stride 2, pad 1, groups 2', [2, 4, 9, 9], [4, 2, 3, 3], { stride: 2, pad: 1, groups: 2 }],
  ];
  const out: CheckResult[] = [];
  for (const [name, xShape, wShape, params] of cases) {
    const x = uniform(rng, xShape, -1, 1);
    const w = uniform(rng, wShape, -1, 1);
    const b = uniform(rng, [wShape[0]], -1, 1);
    const { y, cache } = conv2dForward(x, w, b, params);
    const dy = uniform(rng, y.shape, -1, 1);
    const config = `${name}, x ${formatShape(xShape)} w ${formatShape(wShape)}`;
    const matrix = convGradientMatrixForm(x, w, dy, params);
    const index = convGradientIndexForm(x, w, dy, params);
    const ops = conv2dBackward(cache, dy);
    const numeric = {
      dx: centralDifferences((v) => conv2dForward(f64(v, xShape), w, b, params).y.data, x.data, dy.data),
      dw: centralDifferences((v) => conv2dForward(x, f64(v, wShape), b, params).y.data, w.data, dy.data),
      db: centralDifferences((v) => conv2dForward(x, w, f64(v, [wShape[0]]), params).y.data, b.data, dy.data),
    };
    for (const key of ['dx', 'dw', 'db'] as const) {
      out.push(check('conv2d', config, `${key}: im2col + GEMM form vs central differences`, matrix[key], numeric[key], TOL_NUMERIC));
      out.push(check('conv2d', config, `${key}: im2col + GEMM form vs index form`, matrix[key], index[key], TOL_EXACT));
      out.push(check('conv2d', config, `${key}: im2col + GEMM form vs conv2dBackward`, matrix[key], ops[key].data, TOL_EXACT));
    }
    // col2im is the adjoint of im2col: <im2col(x), Z> = <x, col2im(Z)> for every x and Z.
    const geo = convGeometry(xShape, wShape, params);
    const cols = new Float64Array(geo.K * geo.P);
    im2col(x.data, geo, 0, 0, cols);
    const z = uniform(rng, [geo.K * geo.P], -1, 1).data;
    const back = new Float64Array(x.data.length);
    col2im(z, geo, 0, 0, back);
    let left = 0;
    let right = 0;
    for (let i = 0; i < cols.length; i++) left += cols[i] * z[i];
    for (let i = 0; i < back.length; i++) right += x.data[i] * back[i];
    out.push(check('conv2d', config, '<im2col(x), Z> vs <x, col2im(Z)>', [left], [right], TOL_EXACT));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Winograd's F(2x2, 3x3), one tile and one pair of channels (the page's last section).

type Mat = number[][];
const BT: Mat = [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]];
const G: Mat = [[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]];
const AT: Mat = [[1, 1, 1, 0], [0, 1, -1, -1]];
const T = (a: Mat): Mat => a[0].map((_, j) => a.map((row) => row[j]));
const mm = (a: Mat, b: Mat): Mat => a.map((row) => b[0].map((_, j) => row.reduce((acc, v, k) => acc + v * b[k][j], 0)));
const had = (a: Mat, b: Mat): Mat => a.map((row, i) => row.map((v, j) => v * b[i][j]));
const toMat = (v: ArrayLike<number>, rows: number, cols: number): Mat => Array.from({ length: rows }, (_, i) => Array.from({ length: cols }, (_, j) => v[i * cols + j]));
const flat = (m: Mat): number[] => m.flat();

/** y = A^T [ (G g G^T) (.) (B^T d B) ] A: the 2x2 outputs of a 3x3 filter g on a 4x4 block d. */
export function winogradTile(d: Mat, g: Mat): Mat {
  return mm(mm(AT, had(mm(mm(G, g), T(G)), mm(mm(BT, d), T(BT)))), T(AT));
}

/** The same 2x2 outputs by the definition: y[i][j] = sum_{u,v} d[i+u][j+v] g[u][v]. */
function correlateTile(d: Mat, g: Mat): Mat {
  return [0, 1].map((i) => [0, 1].map((j) => {
    let acc = 0;
    for (let u = 0; u < 3; u++) for (let v = 0; v < 3; v++) acc += d[i + u][j + v] * g[u][v];
    return acc;
  }));
}

/**
 * The gradients of winogradTile as the page derives them, each step's adjoint in reverse order:
 *   dM = A dY A^T;  dd = B [ (G g G^T) (.) dM ] B^T;  dg = G^T [ (B^T d B) (.) dM ] G
 * With `wrong`, dd applies the forward transform again (B^T ... B) instead of its transpose.
 */
export function winogradTileGradients(d: Mat, g: Mat, dY: Mat, wrong = false): { dd: Mat; dg: Mat } {
  const dM = mm(mm(T(AT), dY), AT);
  const U = mm(mm(G, g), T(G)), V = mm(mm(BT, d), T(BT));
  const dV = had(U, dM);
  const dd = wrong ? mm(mm(BT, dV), T(BT)) : mm(mm(T(BT), dV), BT);
  return { dd, dg: mm(mm(T(G), had(V, dM)), G) };
}

function winogradChecks(rng: Rng): CheckResult[] {
  const out: CheckResult[] = [];
  // one dimension, F(2, 3): four products instead of six
  const d1 = uniform(rng, [4], -1, 1).data, g1 = uniform(rng, [3], -1, 1).data;
  const m1 = (d1[0] - d1[2]) * g1[0];
  const m2 = (d1[1] + d1[2]) * (g1[0] + g1[1] + g1[2]) / 2;
  const m3 = (d1[2] - d1[1]) * (g1[0] - g1[1] + g1[2]) / 2;
  const m4 = (d1[1] - d1[3]) * g1[2];
  const direct1 = [d1[0] * g1[0] + d1[1] * g1[1] + d1[2] * g1[2], d1[1] * g1[0] + d1[2] * g1[1] + d1[3] * g1[2]];
  out.push(check('winograd', 'F(2, 3), d [4] g [3]', 'y: m1 + m2 + m3, m2 - m3 - m4 vs the correlation', [m1 + m2 + m3, m2 - m3 - m4], direct1, TOL_EXACT));
  // two dimensions, one tile
  const config = 'F(2x2, 3x3), d [4, 4] g [3, 3]';
  const d = uniform(rng, [16], -1, 1).data, g = uniform(rng, [9], -1, 1).data, dY = uniform(rng, [4], -1, 1).data;
  const tileOf = (dv: ArrayLike<number>, gv: ArrayLike<number>): number[] => flat(winogradTile(toMat(dv, 4, 4), toMat(gv, 3, 3)));
  out.push(check('winograd', config, 'y: A^T [(G g G^T) (.) (B^T d B)] A vs the correlation', tileOf(d, g), flat(correlateTile(toMat(d, 4, 4), toMat(g, 3, 3))), TOL_EXACT));
  const grads = winogradTileGradients(toMat(d, 4, 4), toMat(g, 3, 3), toMat(dY, 2, 2));
  out.push(check('winograd', config, 'dd: B [U (.) A dY A^T] B^T vs central differences', flat(grads.dd), centralDifferences((v) => tileOf(v, g), d, dY), TOL_NUMERIC));
  out.push(check('winograd', config, 'dg: G^T [V (.) A dY A^T] G vs central differences', flat(grads.dg), centralDifferences((v) => tileOf(d, v), g, dY), TOL_NUMERIC));
  const wrong = winogradTileGradients(toMat(d, 4, 4), toMat(g, 3, 3), toMat(dY, 2, 2), true);
  out.push(check('winograd', config, 'dd with the forward transform B^T [..] B instead of its transpose vs central differences', flat(wrong.dd), centralDifferences((v) => tileOf(v, g), d, dY), 1e-3, 'differ'));
  return out;
}

// ---------------------------------------------------------------------------------------------

/** Every check, from a fixed seed. */
export function runChecks(seed = 2012): CheckResult[] {
  const rng = new Rng(seed);
  return [...lrnChecks(rng), ...maxPoolChecks(rng), ...convChecks(rng), ...winogradChecks(rng)];
}

export function formatCheck(r: CheckResult): string {
  const relation = r.expect === 'agree' ? `< ${r.tolerance.toExponential(0)}` : `> ${r.tolerance.toExponential(0)}: the check catches this mistake`;
  return `${r.ok ? 'ok  ' : 'FAIL'}  ${r.op.padEnd(8)}  ${r.config}  |  ${r.what}: max error ${r.error.toExponential(1)} (want ${relation})`;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const results = runChecks();
  for (const r of results) console.log(formatCheck(r));
  const failed = results.filter((r) => !r.ok).length;
  console.log(failed === 0 ? `all ${results.length} checks pass` : `${failed} of ${results.length} checks FAIL`);
  process.exitCode = failed === 0 ? 0 : 1;
}
