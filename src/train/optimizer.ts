/**
 * Stochastic gradient descent with momentum and weight decay (paper section 5), in the two forms
 * that differ right after a learning-rate change:
 *
 *   paper (also Caffe):  v <- mu * v - wd * lr * w - lr * g ;   w <- w + v
 *   pytorch (torch.optim.SGD, dampening 0, no Nesterov):
 *                        v <- mu * v + (g + wd * w)          ;   w <- w - lr * v
 *
 * With a constant learning rate the two give the same weights (the paper's v is -lr times
 * PyTorch's). Weight decay applies to every parameter, biases included, as torch.optim.SGD does.
 * (Caffe's bvlc_alexnet solver also doubles the bias learning rate and exempts biases from decay;
 * that is not modelled here.)
 *
 * Arithmetic per element in float64, stored to float32. Weights and momenta that fall below the
 * smallest normal float32 are flushed to zero: WebAssembly has no flush-to-zero mode, and
 * subnormal operands make SIMD arithmetic about 100x slower.
 */

import type { Backend } from '../backend/backend.js';
import type { Weights } from '../model/network.js';
import type { Tensor } from '../tensor.js';

export type UpdateForm = 'paper' | 'pytorch';

export interface SgdOptions {
  momentum: number;
  weightDecay: number;
  update: UpdateForm;
}

/** The smallest positive normal float32, 2^-126. */
const MIN_NORMAL_F32 = 1.1754943508222875e-38;

function flush(v: number): number {
  return Math.abs(v) < MIN_NORMAL_F32 ? 0 : v;
}

/** Momentum buffers, one per parameter, zero to start. */
export function zeroMomentum(weights: Weights<Float32Array>): Map<string, Float32Array> {
  return new Map([...weights].map(([k, t]) => [k, new Float32Array(t.data.length)]));
}

/** One SGD step on every parameter, in place. */
export function sgdStep(
  weights: Weights<Float32Array>,
  grads: Map<string, Tensor>,
  momentum: Map<string, Float32Array>,
  lr: number,
  options: SgdOptions,
): void {
  const { momentum: mu, weightDecay: wd, update } = options;
  for (const [key, param] of weights) {
    const g = grads.get(key);
    const v = momentum.get(key);
    if (!g || !v) throw new Error(`sgd: no gradient or momentum for "${key}"`);
    const w = param.data;
    const gd = g.data;
    if (update === 'paper') {
      for (let i = 0; i < w.length; i++) {
        const vi = flush(mu * v[i] - wd * lr * w[i] - lr * gd[i]);
        v[i] = vi;
        w[i] = flush(w[i] + v[i]);
      }
    } else {
      for (let i = 0; i < w.length; i++) {
        const vi = flush(mu * v[i] + (gd[i] + wd * w[i]));
        v[i] = vi;
        w[i] = flush(w[i] - lr * v[i]);
      }
    }
  }
}

/** sgdStep through the backend's own update when it has one (the same bits, faster), else the loop above. */
export function sgdStepOn(
  backend: Pick<Backend, 'sgdStep'>,
  weights: Weights<Float32Array>,
  grads: Map<string, Tensor>,
  momentum: Map<string, Float32Array>,
  lr: number,
  options: SgdOptions,
): void {
  if (backend.sgdStep) backend.sgdStep(weights, grads, momentum, lr, options);
  else sgdStep(weights, grads, momentum, lr, options);
}

/**
 * The weights and momenta copied into one region of the backend's own memory, when it has such
 * memory (Backend.allocateResident): the wasm backend's update then works on them where they lie,
 * and its fc forward reads the weights there. For a backend that lives as long as the training run
 * (`alexnet train`): the region is never freed. A backend without such memory gets the same maps back.
 */
export function residentTrainingState(
  backend: Pick<Backend, 'allocateResident'>,
  weights: Weights<Float32Array>,
  momentum: Map<string, Float32Array>,
): { weights: Weights<Float32Array>; momentum: Map<string, Float32Array> } {
  if (!backend.allocateResident) return { weights, momentum };
  const arrays = [...[...weights.values()].map((t) => t.data), ...momentum.values()];
  // each array rounded up to 16 floats (64 bytes), as the backend's own regions are aligned
  const floats = arrays.reduce((sum, a) => sum + Math.ceil(a.length / 16) * 16, 0);
  const region = backend.allocateResident(4 * floats);
  let offset = region.byteOffset;
  const place = (a: Float32Array): Float32Array => {
    const copy = new Float32Array(region.buffer, offset, a.length);
    copy.set(a);
    offset += 4 * Math.ceil(a.length / 16) * 16;
    return copy;
  };
  return {
    weights: new Map([...weights].map(([k, t]) => [k, { data: place(t.data), shape: t.shape }])),
    momentum: new Map([...momentum].map(([k, v]) => [k, place(v)])),
  };
}
