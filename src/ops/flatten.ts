/**
 * Flatten [N, C, H, W] to [N, C*H*W] before the first fully connected layer.
 *
 * Forward:   y[n, c*H*W + h*W + w] = x[n, c, h, w]      (channel-major, as NCHW memory already is)
 * Backward:  dx = dy reshaped to [N, C, H, W]
 *
 * The order matters: fc6 weights trained in PyTorch or Caffe expect channel-major features.
 * A backend that stores activations NHWC must permute before flattening, or its logits are
 * plausible but wrong. Both directions are views of the same data here (no copy).
 *
 * Reference: torch.flatten(x, 1) (https://pytorch.org/docs/1.13/generated/torch.flatten.html).
 */

import { type FloatArray, type Tensor, reshape } from '../tensor.js';

export interface FlattenCache {
  xShape: readonly number[];
}

export function flattenForward<A extends FloatArray>(x: Tensor<A>): { y: Tensor<A>; cache: FlattenCache } {
  const N = x.shape[0];
  return { y: reshape(x, [N, x.data.length / N]), cache: { xShape: [...x.shape] } };
}

export function flattenBackward<A extends FloatArray>(cache: FlattenCache, dy: Tensor<A>): { dx: Tensor<A> } {
  return { dx: reshape(dy, cache.xShape) };
}
