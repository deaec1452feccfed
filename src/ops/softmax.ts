/**
 * Softmax over the classes of each row (the `prob` layer).
 *
 * Shapes: x, y [N, K].
 *
 * Forward:   y[n, k] = exp(x[n, k] - m) / sum_j exp(x[n, j] - m),   m = max_j x[n, j]
 *            (subtracting the row maximum changes nothing mathematically and keeps exp finite)
 * Backward:  dx[n, k] = y[n, k] * (dy[n, k] - sum_j dy[n, j] * y[n, j])
 *
 * Reference: torch.nn.Softmax(dim=1) (https://pytorch.org/docs/1.13/generated/torch.nn.Softmax.html).
 */

import { type FloatArray, type Tensor, allocLike, dims, formatShape, shapeEquals } from '../tensor.js';

export interface SoftmaxCache<A extends FloatArray> {
  y: Tensor<A>;
}

/** Softmax of row `n` of a [N, K] array, in float64. */
export function softmaxRow(x: FloatArray, n: number, K: number): Float64Array {
  let m = -Infinity;
  for (let k = 0; k < K; k++) m = Math.max(m, x[n * K + k]);
  const e = new Float64Array(K);
  let sum = 0;
  for (let k = 0; k < K; k++) {
    e[k] = Math.exp(x[n * K + k] - m);
    sum += e[k];
  }
  for (let k = 0; k < K; k++) e[k] /= sum;
  return e;
}

export function softmaxForward<A extends FloatArray>(x: Tensor<A>): { y: Tensor<A>; cache: SoftmaxCache<A> } {
  const [N, K] = dims('softmax', x, 2);
  const y = allocLike(x.data, N * K);
  for (let n = 0; n < N; n++) y.set(softmaxRow(x.data, n, K), n * K);
  const out = { data: y, shape: [N, K] };
  return { y: out, cache: { y: out } };
}

export function softmaxBackward<A extends FloatArray>(cache: SoftmaxCache<A>, dy: Tensor<A>): { dx: Tensor<A> } {
  const { y } = cache;
  if (!shapeEquals(y.shape, dy.shape)) throw new Error(`softmax backward: dy ${formatShape(dy.shape)} != y ${formatShape(y.shape)}`);
  const [N, K] = y.shape;
  const dx = allocLike(y.data, N * K);
  for (let n = 0; n < N; n++) {
    let dot = 0;
    for (let k = 0; k < K; k++) dot += dy.data[n * K + k] * y.data[n * K + k];
    for (let k = 0; k < K; k++) dx[n * K + k] = y.data[n * K + k] * (dy.data[n * K + k] - dot);
  }
  return { dx: { data: dx, shape: [N, K] } };
}
