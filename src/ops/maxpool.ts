/**
 * Max pooling over square windows, each channel separately (paper section 3.4: overlapping
 * pooling, kernel 3 stride 2).
 *
 * Shapes: x [N, C, H, W], y [N, C, OH, OW]; OH, OW from geometry.ts with the given pads and rounding.
 *
 * Forward:   y[n, c, i, j] = max over u, v < kernel of x[n, c, i*stride - top + u, j*stride - left + v]
 *            taken over the samples inside the image only: padding never wins (it is -Infinity).
 * Backward:  the whole of dy[n, c, i, j] goes to the sample that was the maximum; overlapping
 *            windows add up there.
 *
 * Conventions:
 *   - Ties go to the first maximum in row-major scan of the window (PyTorch and Caffe both keep
 *     the first and route the whole gradient to it); all-zero windows after ReLU are common.
 *   - Pads may be asymmetric [top, left, bottom, right] (ONNX MaxPool `pads`), and rounding
 *     'floor' (PyTorch default, the paper) or 'ceil' (Caffe, PyTorch ceil_mode=True).
 *   - A window is clipped to the image; with ceil rounding the last one may hang over the end.
 *
 * Reference: torch.nn.MaxPool2d (https://pytorch.org/docs/1.13/generated/torch.nn.MaxPool2d.html);
 * Caffe `PoolingLayer` (MAX); ONNX MaxPool.
 */

import { type Pads, type Rounding, outputSize2d } from '../geometry.js';
import { type FloatArray, type Tensor, allocLike, dims, formatShape } from '../tensor.js';

export interface MaxPoolParams {
  kernel: number;
  stride: number;
  /** [top, left, bottom, right] */
  pads: Pads;
  rounding: Rounding;
}

export interface MaxPoolCache {
  xShape: readonly number[];
  /** For every output element, the index within its input plane (h*W + w) of the maximum. */
  argmax: Int32Array;
}

export function maxPoolForward<A extends FloatArray>(x: Tensor<A>, params: MaxPoolParams): { y: Tensor<A>; cache: MaxPoolCache } {
  const [N, C, H, W] = dims('maxpool', x, 4);
  const { kernel, stride, pads, rounding } = params;
  const [OH, OW] = outputSize2d(H, W, kernel, stride, pads, rounding);
  if (OH < 1 || OW < 1) throw new Error(`maxpool: a ${kernel}x${kernel} window does not fit input ${formatShape(x.shape)}`);
  const [top, left] = pads;
  const y = allocLike(x.data, N * C * OH * OW);
  const argmax = new Int32Array(y.length);
  for (let plane = 0; plane < N * C; plane++) {
    const xBase = plane * H * W;
    for (let i = 0; i < OH; i++) {
      const h0 = Math.max(0, i * stride - top);
      const h1 = Math.min(H, i * stride - top + kernel);
      for (let j = 0; j < OW; j++) {
        const w0 = Math.max(0, j * stride - left);
        const w1 = Math.min(W, j * stride - left + kernel);
        let best = -Infinity;
        let bestIndex = h0 * W + w0;
        for (let h = h0; h < h1; h++) {
          for (let w = w0; w < w1; w++) {
            const v = x.data[xBase + h * W + w];
            // strictly greater: the first maximum in scan order wins; NaN propagates as in PyTorch
            if (v > best || Number.isNaN(v)) {
              best = v;
              bestIndex = h * W + w;
              if (Number.isNaN(v)) break;
            }
          }
          if (Number.isNaN(best)) break;
        }
        const o = (plane * OH + i) * OW + j;
        y[o] = best;
        argmax[o] = bestIndex;
      }
    }
  }
  return { y: { data: y, shape: [N, C, OH, OW] }, cache: { xShape: [N, C, H, W], argmax } };
}

export function maxPoolBackward<A extends FloatArray>(cache: MaxPoolCache, dy: Tensor<A>): { dx: Tensor<A> } {
  const [N, C, H, W] = cache.xShape;
  const [dN, dC, OH, OW] = dims('maxpool backward: dy', dy, 4);
  if (dN !== N || dC !== C || dN * dC * OH * OW !== cache.argmax.length) {
    throw new Error(`maxpool backward: dy ${formatShape(dy.shape)} does not match the forward pass`);
  }
  const dx = allocLike(dy.data, N * C * H * W);
  for (let plane = 0; plane < N * C; plane++) {
    for (let q = 0; q < OH * OW; q++) {
      const o = plane * OH * OW + q;
      dx[plane * H * W + cache.argmax[o]] += dy.data[o];
    }
  }
  return { dx: { data: dx, shape: [N, C, H, W] } };
}
