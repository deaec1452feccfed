/**
 * The numbers every reader asks for, computed from the layer specs: each layer's output shape,
 * parameters, multiply-accumulates and activation memory, and the totals.
 *
 * MACs count the multiply-accumulates of convolutions and fully connected layers only (the
 * convention of the published figures: 714,188,480 for torchvision at 224, 724,406,816 for
 * Caffe's AlexNet at 227); ReLU, LRN, pooling and softmax are not counted.
 */

import { sizeOf } from '../tensor.js';
import type { Architecture } from './architectures.js';
import { inferShapes } from './shapes.js';

export interface SummaryRow {
  name: string;
  op: string;
  /** Output shape of one image (without the batch dimension). */
  outShape: number[];
  params: number;
  macs: number;
  /** Bytes of this layer's float32 output for one image. */
  activationBytes: number;
}

export interface Summary {
  arch: string;
  inputShape: number[];
  layers: SummaryRow[];
  totalParams: number;
  totalMacs: number;
  totalActivationBytes: number;
}

export function summarize(arch: Architecture, inputSize = arch.inputSize): Summary {
  const layers = inferShapes(arch, [1, arch.inputChannels, inputSize, inputSize]).map((l) => ({
    name: l.spec.name,
    op: l.spec.kind,
    outShape: l.outShape.slice(1),
    params: l.params.reduce((s, p) => s + sizeOf(p.shape), 0),
    macs: l.macs,
    activationBytes: 4 * sizeOf(l.outShape),
  }));
  return {
    arch: arch.name,
    inputShape: [arch.inputChannels, inputSize, inputSize],
    layers,
    totalParams: layers.reduce((s, l) => s + l.params, 0),
    totalMacs: layers.reduce((s, l) => s + l.macs, 0),
    totalActivationBytes: layers.reduce((s, l) => s + l.activationBytes, 0),
  };
}
