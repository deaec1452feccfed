/**
 * Rectified linear unit, elementwise on any shape (paper section 3.1).
 *
 * Forward:   y = max(0, x)
 * Backward:  dx = dy * [x > 0]
 *
 * Convention at the kink: the derivative at x = 0 is taken as 0, as PyTorch does
 * (`threshold_backward` passes the gradient only where x > 0) and Caffe does (`bottom_data > 0`).
 *
 * Reference: torch.nn.ReLU (https://pytorch.org/docs/1.13/generated/torch.nn.ReLU.html).
 */

import { type FloatArray, type Tensor, allocLike, shapeEquals, formatShape } from '../tensor.js';

export interface ReluCache<A extends FloatArray> {
  x: Tensor<A>;
}

export function reluForward<A extends FloatArray>(x: Tensor<A>): { y: Tensor<A>; cache: ReluCache<A> } {
  const y = allocLike(x.data, x.data.length);
  for (let i = 0; i < y.length; i++) y[i] = x.data[i] > 0 ? x.data[i] : 0;
  return { y: { data: y, shape: [...x.shape] }, cache: { x } };
}

export function reluBackward<A extends FloatArray>(cache: ReluCache<A>, dy: Tensor<A>): { dx: Tensor<A> } {
  const { x } = cache;
  if (!shapeEquals(x.shape, dy.shape)) throw new Error(`relu backward: dy ${formatShape(dy.shape)} != x ${formatShape(x.shape)}`);
  const dx = allocLike(x.data, x.data.length);
  for (let i = 0; i < dx.length; i++) dx[i] = x.data[i] > 0 ? dy.data[i] : 0;
  return { dx: { data: dx, shape: [...x.shape] } };
}
