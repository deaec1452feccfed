/**
 * Network weights in the project's own format: safetensors, float32, little-endian, keyed as
 * PyTorch's state_dict (torchvision: `features.0.weight` ... `classifier.6.bias`; the other
 * architectures: `conv1.weight` ... `fc8.bias`), conv weights [OC, C/groups, KH, KW], fc [OUT, IN].
 */

import { UserError } from '../errors.js';
import type { Weights } from '../model/network.js';
import type { Tensor } from '../tensor.js';
import { fromFloatTensor, parseSafetensors, toFloatTensor, writeSafetensors } from './safetensors.js';

export function weightsFromSafetensors(bytes: Uint8Array): Weights<Float32Array> {
  const file = parseSafetensors(bytes);
  const weights: Weights<Float32Array> = new Map();
  for (const [key, stored] of file.tensors) {
    const t = toFloatTensor(stored, key);
    if (!(t.data instanceof Float32Array)) {
      throw new UserError(`tensor "${key}" is ${stored.dtype}; weights must be F32`);
    }
    weights.set(key, t as Tensor<Float32Array>);
  }
  return weights;
}

export function weightsToSafetensors(weights: Weights<Float32Array>, metadata: Record<string, string> = {}): Uint8Array {
  return writeSafetensors([...weights].map(([k, t]) => [k, fromFloatTensor(t)] as const), metadata);
}
