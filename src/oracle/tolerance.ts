/**
 * Default tolerances for comparing traces, from how float rounding grows through the network.
 *
 * Every rounded operation on the way to a value adds a relative error of at most u (unit
 * roundoff: u = 2^-24 in float32, 2^-53 in float64). A sum of k terms computed in any order adds
 * k roundings; with round-to-nearest their errors have random signs, so in practice they grow as
 * sqrt(k) (Higham, "Accuracy and Stability of Numerical Algorithms", 2nd ed., sections 3.1 and
 * 4.2: the worst-case bound is k u, the typical error sqrt(k) u). Errors of earlier layers reach
 * later ones through the same sums and add up the same way. So for each tensor of a trace we count
 *
 *   K = the number of roundings on the way to one of its elements, summed over every layer before it
 *
 * and accept a float32 implementation's tensor T against the reference R when
 *
 *   max |T - R|  <=  C * u * sqrt(K) * max |R|          (C = SAFETY, u of the less precise side)
 *
 * Errors are measured against the tensor's largest value, not element by element: an element
 * that is a near-cancelling sum has a large relative error in any correct float32 implementation.
 * After the logits, the softmax magnifies their error by up to max |logits| (more for the gradients
 * of a confident prediction): softmaxAmplification multiplies those tolerances by its factors.
 *
 * Local counts k per element (forward; backward in brackets, for the gradient of the layer's input):
 *
 *   conv     C/groups * KH * KW products + bias      [OC/groups * ceil(KH/s) * ceil(KW/s) terms]
 *            dW, db: N * OH * OW terms over the batch and positions
 *   linear   IN + 1                                  [OUT]; dW, db: N
 *   lrn      size squares + scale, power, division   [size + 6: two terms of the quotient rule]
 *   softmax  classes + 3 (exp, sum, divide); cross-entropy and dL/dlogits likewise
 *   adaptive average pool: window area + 1           [windows overlapping an input sample + 1]
 *   dropout (train) 1 multiplication                 [1]
 *   relu, max pool, flatten: 0 (data movement)       [max pool: overlapping windows add, ceil(k/s)^2]
 *
 * SAFETY = 16 was chosen from measurements against float64 golden traces: PyTorch 1.13's float32
 * CPU results (every activation and gradient of the five reduced-width architectures) reach at
 * most 0.75 u sqrt(K) max|R| (mini conv1), and a deliberately naive backend that sums every
 * convolution and fully connected layer sequentially in float32 at most 0.95 (full-size
 * torchvision prob). So a careful float32 implementation uses about 1/16 of the tolerance, while a
 * wrong convention (LRN alpha, dropout scale, pooling rounding) or a lost term is off by far more.
 * tests/oracle/trace-vs-pytorch.test.ts prints the measured ratios; docs/oracle.md explains.
 * Integer tensors (labels, masks) must be equal.
 */

import { adaptiveWindow } from '../geometry.js';
import type { Architecture } from '../model/architectures.js';
import { inferShapes } from '../model/shapes.js';
import type { DType } from '../tensor.js';

/** Unit roundoff. */
export const UNIT_ROUNDOFF: Record<DType, number> = { float32: 2 ** -24, float64: 2 ** -53 };

/** C in C * u * sqrt(K): the margin over a careful float32 implementation (see the header). */
export const SAFETY = 16;

/** Rounding counts K of every tensor name a trace of this architecture and input shape can hold. */
export function roundingCounts(arch: Architecture, inputShape: readonly number[], mode: 'eval' | 'train' = 'eval'): Map<string, number> {
  const layers = inferShapes(arch, inputShape);
  const N = inputShape[0];
  const K = new Map<string, number>();
  K.set('input', 0);
  K.set('labels', 0);
  let k = 0;
  for (const { spec, inShape, outShape } of layers) {
    switch (spec.kind) {
      case 'conv':
        k += (inShape[1] / spec.groups) * spec.kernel * spec.kernel + 1;
        break;
      case 'linear':
        k += inShape[1] + 1;
        break;
      case 'lrn':
        k += spec.lrn.size + 3;
        break;
      case 'softmax':
        k += inShape[1] + 3;
        break;
      case 'adaptiveavgpool':
        k += maxWindowArea(inShape[2], inShape[3], spec.outH, spec.outW) + 1;
        break;
      case 'dropout':
        K.set(`${spec.name}.mask`, 0);
        if (mode === 'train') k += 1;
        break;
      case 'relu':
      case 'maxpool':
      case 'flatten':
        break;
    }
    K.set(spec.name, k);
    void outShape;
  }

  // Backward: the loss and dL/dlogits go through a softmax of the logits.
  const probIndex = layers.findIndex((l) => l.spec.kind === 'softmax');
  const logits = layers[probIndex - 1];
  let g = K.get(logits.spec.name)! + logits.outShape[1] + 3;
  K.set('loss', g);
  for (let i = probIndex - 1; i >= 0; i--) {
    const { spec, inShape, outShape } = layers[i];
    K.set(`${spec.name}.grad`, g);
    switch (spec.kind) {
      case 'conv': {
        const [, OC, OH, OW] = outShape;
        const positions = N * OH * OW;
        K.set(`${spec.param}.weight.grad`, g + positions);
        K.set(`${spec.param}.bias.grad`, g + positions);
        const taps = Math.ceil(spec.kernel / spec.stride) ** 2;
        g += (OC / spec.groups) * taps;
        break;
      }
      case 'linear':
        K.set(`${spec.param}.weight.grad`, g + N);
        K.set(`${spec.param}.bias.grad`, g + N);
        g += outShape[1];
        break;
      case 'lrn':
        g += spec.lrn.size + 6;
        break;
      case 'maxpool':
        g += Math.ceil(spec.kernel / spec.stride) ** 2;
        break;
      case 'adaptiveavgpool':
        g += maxOverlap(inShape[2], spec.outH) * maxOverlap(inShape[3], spec.outW) + 1;
        break;
      case 'dropout':
        if (mode === 'train') g += 1;
        break;
      case 'relu':
      case 'flatten':
      case 'softmax':
        break;
    }
  }
  K.set('input.grad', g);
  return K;
}

/** The largest window area of adaptive average pooling from H x W to OH x OW. */
export function maxWindowArea(H: number, W: number, OH: number, OW: number): number {
  let h = 0;
  let w = 0;
  for (let i = 0; i < OH; i++) h = Math.max(h, adaptiveWindow(i, H, OH)[1] - adaptiveWindow(i, H, OH)[0]);
  for (let j = 0; j < OW; j++) w = Math.max(w, adaptiveWindow(j, W, OW)[1] - adaptiveWindow(j, W, OW)[0]);
  return h * w;
}

/** The largest number of adaptive windows (out of `out`) that contain one input index. */
export function maxOverlap(size: number, out: number): number {
  const count = new Array<number>(size).fill(0);
  for (let i = 0; i < out; i++) {
    const [a, b] = adaptiveWindow(i, size, out);
    for (let x = a; x < b; x++) count[x]++;
  }
  return Math.max(...count);
}

/**
 * How much the softmax and the loss magnify errors already in the logits z, from the reference's
 * values. The rounding counts treat an error as relative to its tensor's largest value, so the
 * logits may be off by e = (their relative error) * max |z| in absolute terms, and with
 * p = softmax(z), label l of each sample:
 *
 *   prob      dp_i = p_i (dz_i - sum_j p_j dz_j), |dp_i| <= 2 e p_i: relative to max p, 2e.
 *             Factor Z = max(1, max |z|).
 *   loss      d(lse(z) - z_l) = sum_{j != l} p_j (dz_j - dz_l), at most 2e (1 - p_l), against
 *             -log p_l >= 1 - p_l. Factor Z * mean(1 - p_l) / loss (at most Z).
 *   dL/dz     (p - onehot)/N: |d(p_i)| <= 2e p_i for i != l and 2e p_l (1 - p_l) for l, against
 *             max(1 - p_l, max_{i != l} p_i): factor Z * max_n q_n / max_n s_n with q_n, s_n those
 *             two maxima (at most Z; far less for a confident prediction, whose gradient is small
 *             but whose errors shrink with it). Every gradient before the logits inherits it.
 *
 * Every factor is at least 1. Without labels, loss and gradients get Z.
 */
export function softmaxAmplification(logits: ArrayLike<number>, classes: number, labels?: ArrayLike<number>): { prob: number; loss: number; grad: number } {
  const N = Math.floor(logits.length / classes);
  let zmax = 0;
  for (let i = 0; i < N * classes; i++) zmax = Math.max(zmax, Math.abs(logits[i]));
  const Z = Math.max(1, zmax);
  if (!labels || labels.length !== N) return { prob: Z, loss: Z, grad: Z };
  let loss = 0;
  let missing = 0; // sum of 1 - p_l
  let qmax = 0;
  let smax = 0;
  for (let n = 0; n < N; n++) {
    const l = labels[n];
    let m = -Infinity;
    for (let k = 0; k < classes; k++) m = Math.max(m, logits[n * classes + k]);
    let sum = 0;
    for (let k = 0; k < classes; k++) sum += Math.exp(logits[n * classes + k] - m);
    let other = 0; // max_{i != l} p_i
    for (let k = 0; k < classes; k++) if (k !== l) other = Math.max(other, Math.exp(logits[n * classes + k] - m) / sum);
    const pl = Math.exp(logits[n * classes + l] - m) / sum;
    const rest = -Math.expm1(logits[n * classes + l] - m - Math.log(sum)); // 1 - p_l without cancellation
    loss += Math.log(sum) + m - logits[n * classes + l];
    missing += rest;
    qmax = Math.max(qmax, pl * rest, other);
    smax = Math.max(smax, rest, other);
  }
  return {
    prob: Z,
    loss: loss > 0 ? Math.max(1, (Z * missing) / loss) : Z,
    grad: smax > 0 ? Math.max(1, (Z * qmax) / smax) : Z,
  };
}

/** The default relative tolerance C * u * sqrt(K), measured against max |reference|. */
export function defaultTolerance(K: number, dtype: DType): number {
  return SAFETY * UNIT_ROUNDOFF[dtype] * Math.sqrt(Math.max(K, 1));
}
