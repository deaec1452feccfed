/**
 * 2-d convolution (cross-correlation, as every framework computes it), with stride, zero padding
 * and groups; computed as im2col + matrix product, the way Caffe and darknet do it.
 *
 * Shapes: x [N, C, H, W], w [OC, C/G, KH, KW], b [OC], y [N, OC, OH, OW] with G = groups,
 * OH = floor((H + 2*pad - KH) / stride) + 1 (see geometry.ts), likewise OW.
 *
 * Forward:
 *   y[n, o, i, j] = b[o] + sum_{c < C/G, u < KH, v < KW} w[o, c, u, v] * x[n, g*C/G + c, i*stride - pad + u, j*stride - pad + v]
 *   where g = floor(o / (OC/G)) is the group of output channel o: with groups, output-channel
 *   group g sees only input-channel group g (AlexNet's two-GPU split, paper section 3.2).
 *   Samples outside the image are zero.
 *
 * As matrices, per image n and group g (K = C/G*KH*KW rows, P = OH*OW columns):
 *   cols = im2col(x[n], g)          [K, P]     cols[(c*KH + u)*KW + v, i*OW + j] = x[n, g*C/G + c, i*s - p + u, j*s - p + v]
 *   Y_g  = W_g . cols + b_g         [OC/G, P]  W_g = w[g*OC/G : (g+1)*OC/G] viewed as [OC/G, K]
 *
 * Backward (dy = dL/dy):
 *   db[o]  = sum_{n, i, j} dy[n, o, i, j]
 *   dW_g  += dY_g . cols^T                      (one product per image, accumulated over the batch)
 *   dx[n]  = col2im(W_g^T . dY_g)               col2im is the adjoint of im2col: it adds each column
 *                                               entry back onto the input sample it was copied from.
 *
 * Sums are accumulated in float64 whatever the input type and rounded once at the end, so the
 * float32 result is as close to exact as one rounding allows; PyTorch's own float32 result
 * differs from it by its accumulated rounding error (~1e-6 relative).
 *
 * Reference: torch.nn.Conv2d (https://pytorch.org/docs/1.13/generated/torch.nn.Conv2d.html);
 * Caffe `ConvolutionLayer` and `im2col_cpu`; Krizhevsky et al. 2012, section 3.5.
 */

import { windowCount } from '../geometry.js';
import { type FloatArray, type Tensor, allocLike, assertSameDtype, dims, formatShape } from '../tensor.js';

export interface Conv2dParams {
  stride: number;
  /** Zero padding added on all four sides. */
  pad: number;
  groups: number;
}

/** Every size the convolution loops need, derived once from the operand shapes. */
export interface ConvGeometry {
  N: number; C: number; H: number; W: number;
  OC: number; KH: number; KW: number;
  stride: number; pad: number; groups: number;
  OH: number; OW: number;
  /** Input channels per group, C/G. */
  Cg: number;
  /** Output channels per group, OC/G. */
  OCg: number;
  /** Rows of the patch matrix: Cg*KH*KW. */
  K: number;
  /** Columns of the patch matrix: OH*OW. */
  P: number;
}

export function convGeometry(xShape: readonly number[], wShape: readonly number[], params: Conv2dParams): ConvGeometry {
  const { stride, pad, groups } = params;
  if (xShape.length !== 4 || wShape.length !== 4) {
    throw new Error(`conv2d: x must be [N, C, H, W] and w [OC, C/G, KH, KW], got ${formatShape(xShape)} and ${formatShape(wShape)}`);
  }
  const [N, C, H, W] = xShape;
  const [OC, Cg, KH, KW] = wShape;
  if (!(stride >= 1 && pad >= 0 && groups >= 1)) throw new Error(`conv2d: bad params ${JSON.stringify(params)}`);
  if (C % groups !== 0 || OC % groups !== 0 || Cg !== C / groups) {
    throw new Error(`conv2d: x ${formatShape(xShape)} and w ${formatShape(wShape)} do not fit groups=${groups}`);
  }
  const OH = windowCount(H, KH, stride, pad, pad);
  const OW = windowCount(W, KW, stride, pad, pad);
  if (OH < 1 || OW < 1) throw new Error(`conv2d: a ${KH}x${KW} kernel does not fit input ${formatShape(xShape)} with pad ${pad}`);
  return { N, C, H, W, OC, KH, KW, stride, pad, groups, OH, OW, Cg, OCg: OC / groups, K: Cg * KH * KW, P: OH * OW };
}

/**
 * Copies the receptive fields of image `n`, channel group `g` into the patch matrix
 * `cols` [K, P] (row (c*KH + u)*KW + v, column i*OW + j); samples in the padding are 0.
 */
export function im2col(x: FloatArray, geo: ConvGeometry, n: number, g: number, cols: FloatArray): void {
  const { C, H, W, KH, KW, stride, pad, OH, OW, Cg, P } = geo;
  for (let c = 0; c < Cg; c++) {
    const plane = (n * C + g * Cg + c) * H * W;
    for (let u = 0; u < KH; u++) {
      for (let v = 0; v < KW; v++) {
        const row = ((c * KH + u) * KW + v) * P;
        for (let i = 0; i < OH; i++) {
          const h = i * stride - pad + u;
          for (let j = 0; j < OW; j++) {
            const w = j * stride - pad + v;
            const inside = h >= 0 && h < H && w >= 0 && w < W;
            cols[row + i * OW + j] = inside ? x[plane + h * W + w] : 0;
          }
        }
      }
    }
  }
}

/**
 * The adjoint of im2col: adds every entry of `cols` [K, P] onto the sample of image `n`, channel
 * group `g` of `dx` it was copied from (entries that came from padding are dropped).
 * Sums here are in the element type of dx: call it with a float64 dx to keep them exact.
 */
export function col2im(cols: FloatArray, geo: ConvGeometry, n: number, g: number, dx: FloatArray): void {
  const { C, H, W, KH, KW, stride, pad, OH, OW, Cg, P } = geo;
  for (let c = 0; c < Cg; c++) {
    const plane = (n * C + g * Cg + c) * H * W;
    for (let u = 0; u < KH; u++) {
      for (let v = 0; v < KW; v++) {
        const row = ((c * KH + u) * KW + v) * P;
        for (let i = 0; i < OH; i++) {
          const h = i * stride - pad + u;
          if (h < 0 || h >= H) continue;
          for (let j = 0; j < OW; j++) {
            const w = j * stride - pad + v;
            if (w >= 0 && w < W) dx[plane + h * W + w] += cols[row + i * OW + j];
          }
        }
      }
    }
  }
}

export interface Conv2dCache<A extends FloatArray> {
  x: Tensor<A>;
  w: Tensor<A>;
  params: Conv2dParams;
}

export function conv2dForward<A extends FloatArray>(
  x: Tensor<A>,
  w: Tensor<A>,
  b: Tensor<A> | null,
  params: Conv2dParams,
): { y: Tensor<A>; cache: Conv2dCache<A> } {
  const geo = convGeometry(x.shape, w.shape, params);
  const { N, OC, OH, OW, groups, OCg, K, P } = geo;
  assertSameDtype('conv2d', x.data, w.data, ...(b ? [b.data] : []));
  if (b && (b.shape.length !== 1 || b.shape[0] !== OC)) throw new Error(`conv2d: bias must be [${OC}], got ${formatShape(b.shape)}`);

  const y = allocLike(x.data, N * OC * P);
  const cols = allocLike(x.data, K * P); // [K, P] patch matrix of one image and group
  const acc = new Float64Array(P); //       one output row, summed in float64
  for (let n = 0; n < N; n++) {
    for (let g = 0; g < groups; g++) {
      im2col(x.data, geo, n, g, cols);
      for (let oo = 0; oo < OCg; oo++) {
        const o = g * OCg + oo;
        acc.fill(b ? b.data[o] : 0);
        for (let k = 0; k < K; k++) {
          const wk = w.data[o * K + k]; // w viewed as [OC, K]
          const row = k * P;
          for (let p = 0; p < P; p++) acc[p] += wk * cols[row + p];
        }
        y.set(acc, (n * OC + o) * P);
      }
    }
  }
  return { y: { data: y, shape: [N, OC, OH, OW] }, cache: { x, w, params } };
}

export function conv2dBackward<A extends FloatArray>(
  cache: Conv2dCache<A>,
  dy: Tensor<A>,
): { dx: Tensor<A>; dw: Tensor<A>; db: Tensor<A> } {
  const { x, w, params } = cache;
  const geo = convGeometry(x.shape, w.shape, params);
  const { N, C, H, W, OC, OH, OW, groups, OCg, K, P } = geo;
  const [dN, dC, dH, dW] = dims('conv2d backward: dy', dy, 4);
  if (dN !== N || dC !== OC || dH !== OH || dW !== OW) {
    throw new Error(`conv2d backward: dy is ${formatShape(dy.shape)}, expected [${N}, ${OC}, ${OH}, ${OW}]`);
  }

  const db = new Float64Array(OC);
  const dw = new Float64Array(OC * K); //         [OC, K], summed over the batch in float64
  const dx = new Float64Array(N * C * H * W); //  col2im accumulates here in float64
  const cols = new Float64Array(K * P);
  const dcols = new Float64Array(K * P);
  const acc = new Float64Array(P);
  for (let n = 0; n < N; n++) {
    for (let g = 0; g < groups; g++) {
      im2col(x.data, geo, n, g, cols);
      dcols.fill(0);
      for (let oo = 0; oo < OCg; oo++) {
        const o = g * OCg + oo;
        const dyRow = (n * OC + o) * P; // dY_g row oo
        // db[o] += sum_p dY[o, p]
        let s = 0;
        for (let p = 0; p < P; p++) s += dy.data[dyRow + p];
        db[o] += s;
        // dW[o, k] += sum_p dY[o, p] * cols[k, p]
        for (let k = 0; k < K; k++) {
          let dot = 0;
          const row = k * P;
          for (let p = 0; p < P; p++) dot += dy.data[dyRow + p] * cols[row + p];
          dw[o * K + k] += dot;
        }
      }
      // dcols[k, p] = sum_o W[o, k] * dY[o, p]   (W_g^T . dY_g)
      for (let k = 0; k < K; k++) {
        acc.fill(0);
        for (let oo = 0; oo < OCg; oo++) {
          const o = g * OCg + oo;
          const wk = w.data[o * K + k];
          const dyRow = (n * OC + o) * P;
          for (let p = 0; p < P; p++) acc[p] += wk * dy.data[dyRow + p];
        }
        dcols.set(acc, k * P);
      }
      col2im(dcols, geo, n, g, dx);
    }
  }
  const out = (a: Float64Array, shape: number[]): Tensor<A> => {
    const d = allocLike(x.data, a.length);
    d.set(a);
    return { data: d, shape };
  };
  return { dx: out(dx, [N, C, H, W]), dw: out(dw, [...w.shape]), db: out(db, [OC]) };
}
