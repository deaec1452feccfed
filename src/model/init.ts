/**
 * Initial weights, three ways, all drawn from one seeded generator in parameter order.
 *
 *   paper  Krizhevsky et al. 2012, section 5: weights ~ N(0, 0.01^2); biases 1 in conv2, conv4,
 *          conv5, fc6 and fc7 ("accelerates the early stages of learning by providing the ReLUs
 *          with positive inputs"), 0 elsewhere.
 *   he     He et al. 2015: weights ~ N(0, 2 / fan_in), biases 0. Trains the deep small networks
 *          (mini) from the first epoch.
 *   torch  PyTorch's default for Conv2d and Linear (kaiming_uniform_ with a = sqrt(5)):
 *          weights and biases ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
 *
 * fan_in = C/groups * KH * KW for convolutions, IN for fully connected layers.
 */

import { Rng } from '../rng.js';
import type { Architecture } from './architectures.js';
import type { Weights } from './network.js';
import { inferShapes } from './shapes.js';
import { sizeOf } from '../tensor.js';

export const INIT_SCHEMES = ['paper', 'he', 'torch'] as const;
export type InitScheme = (typeof INIT_SCHEMES)[number];

/** Layers whose biases the paper initialises to 1. */
const PAPER_BIAS_ONE = new Set(['conv2', 'conv4', 'conv5', 'fc6', 'fc7']);

export function initWeights(arch: Architecture, scheme: InitScheme, seed: number, inputSize = arch.inputSize): Weights<Float32Array> {
  const rng = new Rng(seed);
  const weights: Weights<Float32Array> = new Map();
  for (const layer of inferShapes(arch, [1, arch.inputChannels, inputSize, inputSize])) {
    for (const p of layer.params) {
      const data = new Float32Array(sizeOf(p.shape));
      const bound = 1 / Math.sqrt(p.fanIn);
      for (let i = 0; i < data.length; i++) {
        if (scheme === 'torch') data[i] = (2 * rng.uniform() - 1) * bound;
        else if (p.role === 'bias') data[i] = scheme === 'paper' && PAPER_BIAS_ONE.has(layer.spec.name) ? 1 : 0;
        else data[i] = rng.normal() * (scheme === 'paper' ? 0.01 : Math.sqrt(2 / p.fanIn));
      }
      weights.set(p.key, { data, shape: p.shape });
    }
  }
  return weights;
}
