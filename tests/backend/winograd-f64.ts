/**
 * Winograd's F(2x2, 3x3) convolution (assembly/winograd.ts) in float64, forward and both gradients,
 * with the transform matrices as a parameter. Two uses:
 *
 *   - with the true matrices it is the convolution: the tests hold it to src/ops/conv2d.ts, which
 *     checks the algorithm (tiling, padding, the adjoint transforms) apart from the kernels;
 *   - with the matrices' absolute values, on absolute inputs, each result is the sum of the
 *     magnitudes the float32 kernels add up on the way to it. A float32 computation that rounds at
 *     most n times along any path from the inputs to a result is within gamma_n times that sum of
 *     the exact value (Higham, "Accuracy and Stability of Numerical Algorithms", ch. 3), which is
 *     the bound the Winograd path is tested against. It is wider than the direct convolution's
 *     bound: the transforms add and subtract values that cancel in exact arithmetic.
 *
 * Loops follow the math, not speed: tile by tile, channel by channel.
 */

import type { Conv2dParams } from '../../src/ops/conv2d.js';
import type { Tensor } from '../../src/tensor.js';

/** B^T (4x4), G (4x3), A^T (2x4) of F(2x2, 3x3). */
export interface WinogradMatrices {
  BT: number[][];
  G: number[][];
  AT: number[][];
}

export const F2X2_3X3: WinogradMatrices = {
  BT: [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]],
  G: [[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]],
  AT: [[1, 1, 1, 0], [0, 1, -1, -1]],
};

export function absMatrices(m: WinogradMatrices): WinogradMatrices {
  const abs = (a: number[][]): number[][] => a.map((row) => row.map(Math.abs));
  return { BT: abs(m.BT), G: abs(m.G), AT: abs(m.AT) };
}

type Mat = number[][];
const transpose = (a: Mat): Mat => a[0].map((_, j) => a.map((row) => row[j]));
function mul(a: Mat, b: Mat): Mat {
  return a.map((row) => b[0].map((_, j) => row.reduce((s, v, k) => s + v * b[k][j], 0)));
}
/** L X R for small matrices. */
const sandwich = (l: Mat, x: Mat, r: Mat): Mat => mul(mul(l, x), r);
const zeros = (rows: number, cols: number): Mat => Array.from({ length: rows }, () => new Array<number>(cols).fill(0));

export interface WinogradResult {
  y: Float64Array;
  dx: Float64Array;
  dw: Float64Array;
}

/**
 * y = conv(x, w) + b, and for the given dy the gradients dx and dw, all through F(2x2, 3x3) with
 * the matrices `m`. x [N, C, H, W], w [OC, C/groups, 3, 3], dy [N, OC, OH, OW]; stride 1.
 */
export function winogradConv(x: Tensor, w: Tensor, b: Tensor | null, dy: Tensor, params: Conv2dParams, m: WinogradMatrices): WinogradResult {
  const [N, C, H, W] = x.shape;
  const [OC, Cg, KH, KW] = w.shape;
  const { pad, groups, stride } = params;
  if (KH !== 3 || KW !== 3 || stride !== 1) throw new Error('winogradConv: 3x3 kernels of stride 1 only');
  const OCg = OC / groups;
  const OH = H + 2 * pad - 2, OW = W + 2 * pad - 2;
  const TH = Math.ceil(OH / 2), TW = Math.ceil(OW / 2);
  const B = transpose(m.BT), GT = transpose(m.G), A = transpose(m.AT);
  const X = (n: number, c: number, h: number, v: number): number => (h >= 0 && h < H && v >= 0 && v < W ? x.data[((n * C + c) * H + h) * W + v] : 0);
  const DY = (n: number, o: number, h: number, v: number): number => (h < OH && v < OW ? dy.data[((n * OC + o) * OH + h) * OW + v] : 0);

  // U = G g G^T per filter; V = B^T d B per (image, channel, tile); dM = A dY A^T per (image, channel, tile)
  const U: Mat[][] = [];
  for (let o = 0; o < OC; o++) {
    U.push([]);
    for (let c = 0; c < Cg; c++) {
      const g = [0, 1, 2].map((r) => [0, 1, 2].map((s) => w.data[((o * Cg + c) * 3 + r) * 3 + s]));
      U[o].push(sandwich(m.G, g, GT));
    }
  }
  const V = (n: number, c: number, th: number, tw: number): Mat => {
    const d = [0, 1, 2, 3].map((r) => [0, 1, 2, 3].map((s) => X(n, c, 2 * th - pad + r, 2 * tw - pad + s)));
    return sandwich(m.BT, d, B);
  };
  const dM = (n: number, o: number, th: number, tw: number): Mat => {
    const t = [0, 1].map((r) => [0, 1].map((s) => DY(n, o, 2 * th + r, 2 * tw + s)));
    return sandwich(A, t, m.AT);
  };

  const y = new Float64Array(N * OC * OH * OW);
  const dx = new Float64Array(N * C * H * W);
  const dU: Mat[][] = Array.from({ length: OC }, () => Array.from({ length: Cg }, () => zeros(4, 4)));
  for (let n = 0; n < N; n++) {
    for (let g = 0; g < groups; g++) {
      for (let th = 0; th < TH; th++) {
        for (let tw = 0; tw < TW; tw++) {
          const Vs = Array.from({ length: Cg }, (_, c) => V(n, g * Cg + c, th, tw));
          const dMs = Array.from({ length: OCg }, (_, o) => dM(n, g * OCg + o, th, tw));
          // forward
          for (let o = 0; o < OCg; o++) {
            const M = zeros(4, 4);
            for (let c = 0; c < Cg; c++) {
              for (let i = 0; i < 4; i++) for (let j = 0; j < 4; j++) M[i][j] += U[g * OCg + o][c][i][j] * Vs[c][i][j];
            }
            const Y = sandwich(m.AT, M, A);
            for (let r = 0; r < 2; r++) {
              for (let s = 0; s < 2; s++) {
                const oh = 2 * th + r, ow = 2 * tw + s;
                if (oh < OH && ow < OW) y[((n * OC + g * OCg + o) * OH + oh) * OW + ow] = Y[r][s] + (b ? b.data[g * OCg + o] : 0);
              }
            }
          }
          // dx: B dV B^T added into the block (inside the image)
          for (let c = 0; c < Cg; c++) {
            const dV = zeros(4, 4);
            for (let o = 0; o < OCg; o++) {
              for (let i = 0; i < 4; i++) for (let j = 0; j < 4; j++) dV[i][j] += U[g * OCg + o][c][i][j] * dMs[o][i][j];
            }
            const dd = sandwich(B, dV, m.BT);
            for (let r = 0; r < 4; r++) {
              for (let s = 0; s < 4; s++) {
                const h = 2 * th - pad + r, v = 2 * tw - pad + s;
                if (h >= 0 && h < H && v >= 0 && v < W) dx[((n * C + g * Cg + c) * H + h) * W + v] += dd[r][s];
              }
            }
          }
          // dU += dM (.) V
          for (let o = 0; o < OCg; o++) {
            for (let c = 0; c < Cg; c++) {
              const acc = dU[g * OCg + o][c];
              for (let i = 0; i < 4; i++) for (let j = 0; j < 4; j++) acc[i][j] += dMs[o][i][j] * Vs[c][i][j];
            }
          }
        }
      }
    }
  }
  const dw = new Float64Array(OC * Cg * 9);
  for (let o = 0; o < OC; o++) {
    for (let c = 0; c < Cg; c++) {
      const k = sandwich(GT, dU[o][c], m.G);
      for (let r = 0; r < 3; r++) for (let s = 0; s < 3; s++) dw[((o * Cg + c) * 3 + r) * 3 + s] = k[r][s];
    }
  }
  return { y, dx, dw };
}

/**
 * Most roundings along any path from the inputs to one result in assembly/winograd.ts (each add,
 * subtract or multiply rounds once; halving is exact; an FMA rounds once where two are counted):
 *   y    U: 4 (two sums of 3 per side), V: 2, product 1, Cg sums, A^T M A: 4, bias 1
 *   dx   U: 4, dM: 2, product 1, OCg sums, B dV B^T: 4, overlap-add of up to 4 blocks: 3
 *   dw   dM: 2, V: 2, product 1, one sum per tile of the batch, the chunks' partials added: up to
 *        `chunks`, G^T dU G: 4
 */
export function winogradRoundings(geo: { N: number; Cg: number; OCg: number; OH: number; OW: number }, chunks: number): { y: number; dx: number; dw: number } {
  const tiles = geo.N * Math.ceil(geo.OH / 2) * Math.ceil(geo.OW / 2);
  return { y: geo.Cg + 12, dx: geo.OCg + 14, dw: tiles + chunks + 9 };
}
