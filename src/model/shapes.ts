/**
 * Walks an architecture's layer specs with a given input shape and derives, for every layer, its
 * output shape, the shapes of its parameters, and its multiply-accumulates. The summary table,
 * weight validation, initialisation and the benchmarks all read their shapes from here.
 */

import { outputSize2d, windowCount } from '../geometry.js';
import { formatShape, sizeOf } from '../tensor.js';
import type { Architecture, LayerSpec } from './architectures.js';

export interface ParamInfo {
  /** Key in the weight file, e.g. `conv1.weight` or `features.0.weight`. */
  key: string;
  shape: number[];
  role: 'weight' | 'bias';
  /** Inputs feeding one output unit (C/groups*KH*KW, or IN): what initialisers scale by. */
  fanIn: number;
}

export interface LayerInfo {
  spec: LayerSpec;
  inShape: number[];
  outShape: number[];
  params: ParamInfo[];
  /** Multiply-accumulates of one forward pass for the whole batch (conv and fc only). */
  macs: number;
}

export class ShapeError extends Error {}

export function inferShapes(arch: Architecture, inputShape: readonly number[]): LayerInfo[] {
  if (inputShape.length !== 4) throw new ShapeError(`input must be [N, C, H, W], got ${formatShape(inputShape)}`);
  if (inputShape[1] !== arch.inputChannels) {
    throw new ShapeError(`${arch.name} takes ${arch.inputChannels}-channel input, got ${formatShape(inputShape)}`);
  }
  let shape = [...inputShape];
  const infos: LayerInfo[] = [];
  for (const spec of arch.layers) {
    const inShape = shape;
    let params: ParamInfo[] = [];
    let macs = 0;
    const [N, C, H, W] = inShape;
    switch (spec.kind) {
      case 'conv': {
        const { outChannels: OC, kernel: K, stride, pad, groups } = spec;
        if (C % groups !== 0) throw new ShapeError(`${spec.name}: ${C} input channels do not split into ${groups} groups`);
        const OH = windowCount(H, K, stride, pad, pad);
        const OW = windowCount(W, K, stride, pad, pad);
        if (OH < 1 || OW < 1) throw new ShapeError(`${spec.name}: input ${formatShape(inShape)} is too small for a ${K}x${K} kernel`);
        const fanIn = (C / groups) * K * K;
        params = [
          { key: `${spec.param}.weight`, shape: [OC, C / groups, K, K], role: 'weight', fanIn },
          { key: `${spec.param}.bias`, shape: [OC], role: 'bias', fanIn },
        ];
        shape = [N, OC, OH, OW];
        macs = N * OC * OH * OW * fanIn;
        break;
      }
      case 'maxpool': {
        const [OH, OW] = outputSize2d(H, W, spec.kernel, spec.stride, spec.pads, spec.rounding);
        if (OH < 1 || OW < 1) throw new ShapeError(`${spec.name}: input ${formatShape(inShape)} is too small for a ${spec.kernel}x${spec.kernel} window`);
        shape = [N, C, OH, OW];
        break;
      }
      case 'adaptiveavgpool':
        shape = [N, C, spec.outH, spec.outW];
        break;
      case 'flatten':
        shape = [N, sizeOf(inShape) / N];
        break;
      case 'linear': {
        if (inShape.length !== 2) throw new ShapeError(`${spec.name}: expects [N, features], got ${formatShape(inShape)}`);
        const IN = inShape[1];
        params = [
          { key: `${spec.param}.weight`, shape: [spec.outFeatures, IN], role: 'weight', fanIn: IN },
          { key: `${spec.param}.bias`, shape: [spec.outFeatures], role: 'bias', fanIn: IN },
        ];
        shape = [N, spec.outFeatures];
        macs = N * spec.outFeatures * IN;
        break;
      }
      case 'relu':
      case 'lrn':
      case 'dropout':
      case 'softmax':
        break;
    }
    infos.push({ spec, inShape: [...inShape], outShape: [...shape], params, macs });
  }
  return infos;
}

/** Every parameter of the architecture in layer order, for the given input size. */
export function parameterList(arch: Architecture, inputSize = arch.inputSize): ParamInfo[] {
  return inferShapes(arch, [1, arch.inputChannels, inputSize, inputSize]).flatMap((l) => l.params);
}
