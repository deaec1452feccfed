/**
 * Deterministic synthetic weights and inputs, written identically in NumPy by
 * fixtures/make_fixtures.py, so full-size fixtures need only commit their outputs.
 *
 *   tensor(seed, shape, bound)[i] = float32((2 * u_i - 1) * bound),   u_i = Rng(seed) draw i (rng.ts)
 *
 *   weights(arch, seed): the k-th parameter of parameterList(arch) (k = 0, 1, ...) is
 *     tensor(seed + 1 + k, shape, bound) with bound = sqrt(6 / fanIn) for weights (He-uniform: keeps
 *     activations of order 1 through the ReLUs) and 0.1 for biases.
 *   input(seed, shape) = tensor(seed, shape, 1)
 *   labels(seed, N, K)[n] = floor(u_n * K) with u_n = Rng(seed) draw n
 */

import { Rng } from '../rng.js';
import { type Tensor, sizeOf } from '../tensor.js';
import type { Architecture } from './architectures.js';
import type { Weights } from './network.js';
import { parameterList } from './shapes.js';

/** Where a tensor's floats go: a fresh array by default; say, a backend's resident memory. */
export type FloatAllocator = (length: number) => Float32Array;

const fresh: FloatAllocator = (length) => new Float32Array(length);

export function syntheticTensor(seed: number, shape: readonly number[], bound: number, allocate = fresh): Tensor<Float32Array> {
  const rng = new Rng(seed);
  const data = allocate(sizeOf(shape));
  for (let i = 0; i < data.length; i++) data[i] = (2 * rng.uniform() - 1) * bound;
  return { data, shape: [...shape] };
}

export function syntheticWeights(arch: Architecture, seed: number, inputSize = arch.inputSize, allocate = fresh): Weights<Float32Array> {
  const weights: Weights<Float32Array> = new Map();
  parameterList(arch, inputSize).forEach((p, k) => {
    const bound = p.role === 'weight' ? Math.sqrt(6 / p.fanIn) : 0.1;
    weights.set(p.key, syntheticTensor(seed + 1 + k, p.shape, bound, allocate));
  });
  return weights;
}

export function syntheticInput(seed: number, shape: readonly number[]): Tensor<Float32Array> {
  return syntheticTensor(seed, shape, 1);
}

export function syntheticLabels(seed: number, N: number, K: number): Int32Array {
  const rng = new Rng(seed);
  return Int32Array.from({ length: N }, () => rng.below(K));
}
