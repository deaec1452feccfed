/**
 * Local response normalisation across channels (paper section 3.3).
 *
 * Shapes: x, y [N, C, H, W].
 *
 * Forward, for every position (n, h, w):
 *   s[c] = k + a * sum_{c' in win(c)} x[c']^2        win(c) = [c - floor(n/2), c + floor((n-1)/2)] ∩ [0, C)
 *   y[c] = x[c] / s[c]^beta
 *   with a = alpha / n when `divideAlphaByN` (PyTorch, Caffe, ONNX), a = alpha otherwise (the paper's text).
 *
 * Backward: since y[i] depends on x[j] for every j in win(i),
 *   dx[j] = dy[j] / s[j]^beta  -  2 a beta x[j] * sum_{i : j in win(i)} dy[i] x[i] / s[i]^(beta+1)
 *   (for odd n the window is symmetric, so {i : j in win(i)} = win(j)).
 *
 * The four conventions in use (see the project's alexnet.md):
 *   paper text          k=2, alpha=1e-4, beta=0.75, n=5, alpha not divided by n
 *   Caffe bvlc_alexnet  k=1, alpha=1e-4, beta=0.75, n=5, alpha divided by n   (= torch.nn.LocalResponseNorm(5, 1e-4, 0.75, 1))
 *   PyTorch and ONNX    alpha divided by n; PyTorch divides by s^beta, Caffe multiplies by s^-beta (ulp-level difference)
 *   TensorFlow          depth_radius r (n = 2r+1), alpha not divided
 * Windows are zero outside [0, C); for even n the window has n/2 channels before c and n/2 - 1
 * after, as PyTorch pads the squares (n/2 before, (n-1)/2 after).
 *
 * Reference: torch.nn.LocalResponseNorm (https://pytorch.org/docs/1.13/generated/torch.nn.LocalResponseNorm.html);
 * Caffe `LRNLayer` (across channels); Krizhevsky et al. 2012, section 3.3.
 */

import { type FloatArray, type Tensor, allocLike, dims, formatShape, shapeEquals } from '../tensor.js';

export interface LrnParams {
  /** Number of channels in the window (n). */
  size: number;
  alpha: number;
  beta: number;
  k: number;
  /** True for PyTorch/Caffe/ONNX (alpha/n multiplies the sum), false for the paper's text. */
  divideAlphaByN: boolean;
}

/** LRN as written in the paper: k=2, n=5, alpha=1e-4 (not divided by n), beta=0.75. */
export const LRN_PAPER: LrnParams = { size: 5, alpha: 1e-4, beta: 0.75, k: 2, divideAlphaByN: false };
/** LRN of Caffe's bvlc_alexnet: local_size 5, alpha 1e-4 (divided by n), beta 0.75, k 1. */
export const LRN_CAFFE: LrnParams = { size: 5, alpha: 1e-4, beta: 0.75, k: 1, divideAlphaByN: true };

export interface LrnCache<A extends FloatArray> {
  x: Tensor<A>;
  params: LrnParams;
}

/** First and last channel (inclusive) of the window centred on channel c. */
function window(c: number, C: number, size: number): [number, number] {
  return [Math.max(0, c - Math.floor(size / 2)), Math.min(C - 1, c + Math.floor((size - 1) / 2))];
}

/** s[c] = k + a * sum of squares over the window, for every element of x (in float64). */
function scales(x: Tensor, p: LrnParams): Float64Array {
  const [N, C, H, W] = x.shape;
  const a = p.divideAlphaByN ? p.alpha / p.size : p.alpha;
  const HW = H * W;
  const s = new Float64Array(x.data.length);
  for (let n = 0; n < N; n++) {
    for (let c = 0; c < C; c++) {
      const [lo, hi] = window(c, C, p.size);
      for (let q = 0; q < HW; q++) {
        let sum = 0;
        for (let c2 = lo; c2 <= hi; c2++) {
          const v = x.data[(n * C + c2) * HW + q];
          sum += v * v;
        }
        s[(n * C + c) * HW + q] = p.k + a * sum;
      }
    }
  }
  return s;
}

export function lrnForward<A extends FloatArray>(x: Tensor<A>, params: LrnParams): { y: Tensor<A>; cache: LrnCache<A> } {
  dims('lrn', x, 4);
  const s = scales(x, params);
  const y = allocLike(x.data, x.data.length);
  for (let i = 0; i < y.length; i++) y[i] = x.data[i] / Math.pow(s[i], params.beta);
  return { y: { data: y, shape: [...x.shape] }, cache: { x, params } };
}

export function lrnBackward<A extends FloatArray>(cache: LrnCache<A>, dy: Tensor<A>): { dx: Tensor<A> } {
  const { x, params } = cache;
  if (!shapeEquals(x.shape, dy.shape)) throw new Error(`lrn backward: dy ${formatShape(dy.shape)} != x ${formatShape(x.shape)}`);
  const [N, C, H, W] = x.shape;
  const { size, beta } = params;
  const a = params.divideAlphaByN ? params.alpha / size : params.alpha;
  const HW = H * W;
  const s = scales(x, params); // recomputed rather than cached, so the cache stays just the input
  // t[i] = dy[i] * x[i] / s[i]^(beta+1)
  const t = new Float64Array(x.data.length);
  for (let i = 0; i < t.length; i++) t[i] = (dy.data[i] * x.data[i]) / Math.pow(s[i], beta + 1);
  const dx = allocLike(x.data, x.data.length);
  for (let n = 0; n < N; n++) {
    for (let j = 0; j < C; j++) {
      // channels i whose window contains j: i - floor(size/2) <= j <= i + floor((size-1)/2)
      const lo = Math.max(0, j - Math.floor((size - 1) / 2));
      const hi = Math.min(C - 1, j + Math.floor(size / 2));
      for (let q = 0; q < HW; q++) {
        const idx = (n * C + j) * HW + q;
        let sum = 0;
        for (let i = lo; i <= hi; i++) sum += t[(n * C + i) * HW + q];
        dx[idx] = dy.data[idx] / Math.pow(s[idx], beta) - 2 * a * beta * x.data[idx] * sum;
      }
    }
  }
  return { dx: { data: dx, shape: [...x.shape] } };
}
