/**
 * Fully connected layer (fc6, fc7, fc8).
 *
 * Shapes: x [N, IN], w [OUT, IN], b [OUT], y [N, OUT].
 *
 * Forward:   y[n, o] = b[o] + sum_i x[n, i] * w[o, i]          (y = x W^T + b)
 * Backward:  dx[n, i] = sum_o dy[n, o] * w[o, i]                (dx = dy W)
 *            dw[o, i] = sum_n dy[n, o] * x[n, i]                (dW = dy^T x)
 *            db[o]    = sum_n dy[n, o]
 *
 * Sums run in float64 and are rounded once. The weight layout [OUT, IN] is PyTorch's and Caffe's
 * (InnerProduct); ONNX Gemm stores it that way when transB = 1.
 *
 * Reference: torch.nn.Linear (https://pytorch.org/docs/1.13/generated/torch.nn.Linear.html).
 */

import { type FloatArray, type Tensor, allocLike, assertSameDtype, dims, formatShape } from '../tensor.js';

export interface LinearCache<A extends FloatArray> {
  x: Tensor<A>;
  w: Tensor<A>;
}

export function linearForward<A extends FloatArray>(
  x: Tensor<A>,
  w: Tensor<A>,
  b: Tensor<A> | null,
): { y: Tensor<A>; cache: LinearCache<A> } {
  const [N, IN] = dims('linear: x', x, 2);
  const [OUT, wIN] = dims('linear: w', w, 2);
  if (wIN !== IN) throw new Error(`linear: x ${formatShape(x.shape)} does not fit w ${formatShape(w.shape)}`);
  if (b && (b.shape.length !== 1 || b.shape[0] !== OUT)) throw new Error(`linear: bias must be [${OUT}], got ${formatShape(b.shape)}`);
  assertSameDtype('linear', x.data, w.data, ...(b ? [b.data] : []));
  const y = allocLike(x.data, N * OUT);
  for (let n = 0; n < N; n++) {
    for (let o = 0; o < OUT; o++) {
      let sum = b ? b.data[o] : 0;
      for (let i = 0; i < IN; i++) sum += x.data[n * IN + i] * w.data[o * IN + i];
      y[n * OUT + o] = sum;
    }
  }
  return { y: { data: y, shape: [N, OUT] }, cache: { x, w } };
}

export function linearBackward<A extends FloatArray>(
  cache: LinearCache<A>,
  dy: Tensor<A>,
): { dx: Tensor<A>; dw: Tensor<A>; db: Tensor<A> } {
  const { x, w } = cache;
  const [N, IN] = x.shape;
  const [OUT] = w.shape;
  const [dN, dOUT] = dims('linear backward: dy', dy, 2);
  if (dN !== N || dOUT !== OUT) throw new Error(`linear backward: dy is ${formatShape(dy.shape)}, expected [${N}, ${OUT}]`);
  const acc = new Float64Array(IN);

  // dx[n, :] = sum_o dy[n, o] * w[o, :]
  const dx = allocLike(x.data, N * IN);
  for (let n = 0; n < N; n++) {
    acc.fill(0);
    for (let o = 0; o < OUT; o++) {
      const g = dy.data[n * OUT + o];
      for (let i = 0; i < IN; i++) acc[i] += g * w.data[o * IN + i];
    }
    dx.set(acc, n * IN);
  }

  // dw[o, :] = sum_n dy[n, o] * x[n, :];  db[o] = sum_n dy[n, o]
  const dw = allocLike(x.data, OUT * IN);
  const db = allocLike(x.data, OUT);
  for (let o = 0; o < OUT; o++) {
    acc.fill(0);
    let bias = 0;
    for (let n = 0; n < N; n++) {
      const g = dy.data[n * OUT + o];
      bias += g;
      for (let i = 0; i < IN; i++) acc[i] += g * x.data[n * IN + i];
    }
    dw.set(acc, o * IN);
    db[o] = bias;
  }
  return { dx: { data: dx, shape: [N, IN] }, dw: { data: dw, shape: [OUT, IN] }, db: { data: db, shape: [OUT] } };
}
