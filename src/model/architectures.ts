/**
 * The five AlexNets as data: an ordered list of layer specs each. One walker (network.ts) runs
 * any of them forward and backward; summary.ts prints their shapes, parameters and MACs.
 *
 * Layer names follow Caffe's bvlc_alexnet for every architecture (conv1, relu1, norm1, pool1, ...,
 * fc8, prob), so traces of different variants line up. A conv layer's output is before its ReLU.
 * torchvision's extra adaptive pool is `avgpool`; its dropouts, which come *before* fc6 and fc7,
 * are named drop6 and drop7 like Caffe's (which come after relu6 and relu7).
 *
 *   torchvision  torchvision.models.alexnet: 64-192-384-256-256, no LRN, no groups, floor pooling,
 *                AdaptiveAvgPool(6, 6), dropout before fc6 and fc7. 224 input, RGB normalised.
 *   caffe        BVLC bvlc_alexnet (= ONNX zoo bvlcalexnet): 96-256-384-384-256, groups 2 on
 *                conv2/4/5, conv-ReLU-LRN-pool with LRN k=1 and alpha/n, ceil pooling. 227 input.
 *   caffenet     as caffe with pooling before LRN (BVLC bvlc_reference_caffenet).
 *   paper        Krizhevsky et al. 2012 as written: caffe's layers with the paper's LRN (k=2, alpha
 *                1e-4 not divided by n), floor pooling. 227 input (224 as stated does not give 55).
 *   mini         a small AlexNet for 1x28x28 Fashion-MNIST with the same structure (LRN, groups,
 *                overlapping pooling, dropout): 48-128-192-192-128, fc 512-512-10.
 */

import type { Pads, Rounding } from '../geometry.js';
import { symmetricPads } from '../geometry.js';
import { LRN_CAFFE, LRN_PAPER, type LrnParams } from '../ops/lrn.js';

export const ARCH_NAMES = ['torchvision', 'caffe', 'caffenet', 'paper', 'mini'] as const;
export type ArchName = (typeof ARCH_NAMES)[number];

export type LayerSpec =
  | { kind: 'conv'; name: string; param: string; outChannels: number; kernel: number; stride: number; pad: number; groups: number }
  | { kind: 'relu'; name: string }
  | { kind: 'lrn'; name: string; lrn: LrnParams }
  | { kind: 'maxpool'; name: string; kernel: number; stride: number; pads: Pads; rounding: Rounding }
  | { kind: 'adaptiveavgpool'; name: string; outH: number; outW: number }
  | { kind: 'flatten'; name: string }
  | { kind: 'linear'; name: string; param: string; outFeatures: number }
  | { kind: 'dropout'; name: string; p: number }
  | { kind: 'softmax'; name: string };

export type LayerKind = LayerSpec['kind'];

export interface Architecture {
  name: ArchName;
  /** Input channels (3, or 1 for mini) and the default square input size. */
  inputChannels: number;
  inputSize: number;
  numClasses: number;
  /**
   * 1 for the real network; 8 for the reduced-width fixtures (every channel count divided by 8);
   * 0 when the widths were read from weights that are no uniform reduction (fitWidthsTo).
   */
  widthDivisor: number;
  layers: LayerSpec[];
}

export interface ArchOptions {
  /** Divide every conv channel count and fc6/fc7 width by this (fixtures use 8). Default 1. */
  widthDivisor?: number;
  /** Outputs of fc8. Default 1000 (10 for mini). */
  numClasses?: number;
}

export function isArchName(s: string): s is ArchName {
  return (ARCH_NAMES as readonly string[]).includes(s);
}

export function architecture(name: ArchName, options: ArchOptions = {}): Architecture {
  const div = options.widthDivisor ?? 1;
  const ch = (c: number): number => {
    if (c % div !== 0) throw new Error(`${name}: width ${c} is not divisible by ${div}`);
    return c / div;
  };
  const numClasses = options.numClasses ?? (name === 'mini' ? 10 : 1000);
  const conv = (i: number, param: string, outChannels: number, kernel: number, stride: number, pad: number, groups = 1): LayerSpec => ({
    kind: 'conv', name: `conv${i}`, param, outChannels: ch(outChannels), kernel, stride, pad, groups,
  });
  const relu = (i: number): LayerSpec => ({ kind: 'relu', name: `relu${i}` });
  const pool = (i: number, rounding: Rounding): LayerSpec => ({
    kind: 'maxpool', name: `pool${i}`, kernel: 3, stride: 2, pads: symmetricPads(0), rounding,
  });
  const norm = (i: number, lrn: LrnParams): LayerSpec => ({ kind: 'lrn', name: `norm${i}`, lrn });
  const fc = (i: number, param: string, outFeatures: number): LayerSpec => ({ kind: 'linear', name: `fc${i}`, param, outFeatures });
  const drop = (i: number): LayerSpec => ({ kind: 'dropout', name: `drop${i}`, p: 0.5 });
  const flatten: LayerSpec = { kind: 'flatten', name: 'flatten' };
  const prob: LayerSpec = { kind: 'softmax', name: 'prob' };

  const base = { name, numClasses, widthDivisor: div };
  switch (name) {
    case 'torchvision':
      return {
        ...base, inputChannels: 3, inputSize: 224,
        layers: [
          conv(1, 'features.0', 64, 11, 4, 2), relu(1), pool(1, 'floor'),
          conv(2, 'features.3', 192, 5, 1, 2), relu(2), pool(2, 'floor'),
          conv(3, 'features.6', 384, 3, 1, 1), relu(3),
          conv(4, 'features.8', 256, 3, 1, 1), relu(4),
          conv(5, 'features.10', 256, 3, 1, 1), relu(5), pool(5, 'floor'),
          { kind: 'adaptiveavgpool', name: 'avgpool', outH: 6, outW: 6 },
          flatten,
          drop(6), fc(6, 'classifier.1', ch(4096)), relu(6),
          drop(7), fc(7, 'classifier.4', ch(4096)), relu(7),
          fc(8, 'classifier.6', numClasses), prob,
        ],
      };
    case 'caffe':
    case 'caffenet':
    case 'paper': {
      const lrn = name === 'paper' ? LRN_PAPER : LRN_CAFFE;
      const rounding: Rounding = name === 'paper' ? 'floor' : 'ceil';
      // Caffe's AlexNet normalises then pools; CaffeNet pools then normalises.
      const normPool = (i: number): LayerSpec[] =>
        name === 'caffenet' ? [pool(i, rounding), norm(i, lrn)] : [norm(i, lrn), pool(i, rounding)];
      return {
        ...base, inputChannels: 3, inputSize: 227,
        layers: [
          conv(1, 'conv1', 96, 11, 4, 0), relu(1), ...normPool(1),
          conv(2, 'conv2', 256, 5, 1, 2, 2), relu(2), ...normPool(2),
          conv(3, 'conv3', 384, 3, 1, 1), relu(3),
          conv(4, 'conv4', 384, 3, 1, 1, 2), relu(4),
          conv(5, 'conv5', 256, 3, 1, 1, 2), relu(5), pool(5, rounding),
          flatten,
          fc(6, 'fc6', ch(4096)), relu(6), drop(6),
          fc(7, 'fc7', ch(4096)), relu(7), drop(7),
          fc(8, 'fc8', numClasses), prob,
        ],
      };
    }
    case 'mini':
      return {
        ...base, inputChannels: 1, inputSize: 28,
        layers: [
          conv(1, 'conv1', 48, 5, 1, 2), relu(1), norm(1, LRN_PAPER), pool(1, 'floor'),
          conv(2, 'conv2', 128, 5, 1, 2, 2), relu(2), norm(2, LRN_PAPER), pool(2, 'floor'),
          conv(3, 'conv3', 192, 3, 1, 1), relu(3),
          conv(4, 'conv4', 192, 3, 1, 1, 2), relu(4),
          conv(5, 'conv5', 128, 3, 1, 1, 2), relu(5), pool(5, 'floor'),
          flatten,
          fc(6, 'fc6', ch(512)), relu(6), drop(6),
          fc(7, 'fc7', ch(512)), relu(7), drop(7),
          fc(8, 'fc8', numClasses), prob,
        ],
      };
  }
}

/**
 * The architecture with its channel counts and fc widths read from a set of weights: each conv
 * layer gets the output channels of its weight tensor, each fully connected layer its outputs.
 * Everything else (kernels, strides, padding, groups, LRN, pooling) stays as the architecture
 * defines it, and the weights are still checked against the result (checkWeights), so only the
 * widths can differ: pruned, narrowed or re-headed variants (e.g. 10 classes) load as they are.
 * Layers whose weights are missing keep their width (checkWeights then names the missing tensor).
 */
export function fitWidthsTo(arch: Architecture, weights: ReadonlyMap<string, { shape: readonly number[] }>): Architecture {
  const layers = arch.layers.map((spec): LayerSpec => {
    if (spec.kind !== 'conv' && spec.kind !== 'linear') return spec;
    const w = weights.get(`${spec.param}.weight`);
    if (!w || w.shape.length === 0) return spec;
    return spec.kind === 'conv' ? { ...spec, outChannels: w.shape[0] } : { ...spec, outFeatures: w.shape[0] };
  });
  const last = [...layers].reverse().find((l) => l.kind === 'linear');
  const conv1 = layers.find((l) => l.kind === 'conv');
  const full = architecture(arch.name).layers.find((l) => l.kind === 'conv');
  const ratio = conv1?.kind === 'conv' && full?.kind === 'conv' ? full.outChannels / conv1.outChannels : 1;
  return {
    ...arch,
    layers,
    numClasses: last?.kind === 'linear' ? last.outFeatures : arch.numClasses,
    widthDivisor: Number.isInteger(ratio) ? ratio : 0,
  };
}
