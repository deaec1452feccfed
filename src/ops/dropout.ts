/**
 * Dropout, inverted (paper section 4.2; Srivastava et al. 2014).
 *
 * Shapes: x, y, mask of the same size, any shape.
 *
 * Training:  keep each unit with probability 1 - p:   mask[i] ~ Bernoulli(1 - p)
 *            y[i] = x[i] * mask[i] / (1 - p)
 * Backward:  dx[i] = dy[i] * mask[i] / (1 - p)
 * Test time: y = x (the identity; the network walker simply skips the op).
 *
 * Convention: the paper multiplies outputs by 0.5 at test time instead; Caffe and PyTorch scale
 * by 1/(1 - p) during training, which gives the same expected activations and leaves inference
 * untouched. We do the latter. At p = 0.5 a wrong factor (p instead of 1 - p) is invisible,
 * so the tests use p = 0.1 and 0.3.
 *
 * The mask is an explicit input, drawn by `dropoutMask` from a seeded generator passed in, so
 * a run can be replayed exactly and a mask taken from another framework can be applied.
 *
 * Reference: torch.nn.Dropout (https://pytorch.org/docs/1.13/generated/torch.nn.Dropout.html).
 */

import type { Rng } from '../rng.js';
import { type FloatArray, type Tensor, allocLike, formatShape } from '../tensor.js';

/** 1 where the unit is kept, 0 where it is dropped; each kept with probability 1 - p. */
export function dropoutMask(rng: Rng, size: number, p: number): Uint8Array {
  const mask = new Uint8Array(size);
  for (let i = 0; i < size; i++) mask[i] = rng.uniform() >= p ? 1 : 0;
  return mask;
}

export interface DropoutCache {
  mask: Uint8Array;
  p: number;
}

function scaled<A extends FloatArray>(v: Tensor<A>, mask: Uint8Array, p: number): Tensor<A> {
  if (mask.length !== v.data.length) throw new Error(`dropout: mask has ${mask.length} entries for a tensor of ${formatShape(v.shape)}`);
  if (!(p >= 0 && p < 1)) throw new Error(`dropout: p must be in [0, 1), got ${p}`);
  const scale = 1 / (1 - p);
  const out = allocLike(v.data, v.data.length);
  for (let i = 0; i < out.length; i++) out[i] = mask[i] ? v.data[i] * scale : 0;
  return { data: out, shape: [...v.shape] };
}

export function dropoutForward<A extends FloatArray>(x: Tensor<A>, p: number, mask: Uint8Array): { y: Tensor<A>; cache: DropoutCache } {
  return { y: scaled(x, mask, p), cache: { mask, p } };
}

export function dropoutBackward<A extends FloatArray>(cache: DropoutCache, dy: Tensor<A>): { dx: Tensor<A> } {
  return { dx: scaled(dy, cache.mask, cache.p) };
}
