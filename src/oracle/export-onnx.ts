/**
 * The network as an ONNX graph with its weights, so other runtimes (onnxruntime, TensorRT, a
 * WebGPU port's loader) run exactly what the reference computes. Encoded by hand in
 * src/formats/onnx-write.ts; opset 13, IR version 7.
 *
 * One value per layer, named as in a trace, so any of them can be made a graph output:
 *
 *   input            [N, C, S, S] float32, N symbolic
 *   conv             Conv  kernel_shape, strides, pads (symmetric), group
 *   relu             Relu
 *   lrn              LRN   size, alpha, beta, bias = k. ONNX always divides alpha by size (as PyTorch
 *                    and Caffe do), so the paper's convention (alpha not divided) exports alpha * size.
 *                    ONNX centres an even window differently from PyTorch: even sizes are refused.
 *   maxpool          MaxPool kernel_shape, strides, pads. Ceil rounding becomes explicit padding at
 *                    the end (the zoo's encoding of Caffe's pooling; padding never wins a max), so
 *                    every runtime gets the same windows without relying on ceil_mode.
 *   adaptiveavgpool  Identity when the input is already outH x outW (AlexNet at 224); AveragePool with
 *                    kernel = stride when the sizes divide; otherwise (windows of varying size that
 *                    may overlap) Reshape to [N, C, H*W], MatMul by the [H*W, outH*outW] averaging
 *                    matrix, Reshape to [N, C, outH, outW].
 *   flatten          Flatten axis 1 (channel-major, as the reference)
 *   linear           Gemm transB = 1 (weights [out, in] as PyTorch stores them)
 *   dropout          Identity (inference)
 *   softmax          Softmax axis 1
 *
 * Graph outputs: `prob` and the logits (`fc8`), or every layer with `allOutputs`. Initializers are
 * named by their weight-file keys. Only the reference's float32 weights are exported.
 */

import { adaptiveWindow, windowCount } from '../geometry.js';
import { type OnnxInitializerSpec, type OnnxNodeSpec, type OnnxValueSpec, encodeOnnxModel } from '../formats/onnx-write.js';
import type { Architecture } from '../model/architectures.js';
import type { Weights } from '../model/network.js';
import { inferShapes } from '../model/shapes.js';
import { type Tensor, cast } from '../tensor.js';

export const EXPORT_OPSET = 13;
export const EXPORT_IR_VERSION = 7;

export interface ExportOptions {
  /** Square input size the graph is built for (default: the architecture's). */
  inputSize?: number;
  /** Every layer's output as a graph output (to trace another runtime), not only prob and the logits. */
  allOutputs?: boolean;
  /** producer_version and model metadata. */
  producerVersion?: string;
  metadata?: Record<string, string>;
}

/** The [H*W, OH*OW] matrix whose column (i, j) averages adaptive window (i, j) (geometry.ts adaptiveWindow). */
export function adaptiveAvgPoolMatrix(H: number, W: number, OH: number, OW: number): Float32Array {
  const m = new Float32Array(H * W * OH * OW);
  for (let i = 0; i < OH; i++) {
    const [h0, h1] = adaptiveWindow(i, H, OH);
    for (let j = 0; j < OW; j++) {
      const [w0, w1] = adaptiveWindow(j, W, OW);
      const share = 1 / ((h1 - h0) * (w1 - w0));
      for (let h = h0; h < h1; h++) for (let w = w0; w < w1; w++) m[(h * W + w) * OH * OW + i * OW + j] = share;
    }
  }
  return m;
}

/**
 * Padding after the input that makes floor rounding give the windows `rounding` gives with pads
 * [before, after]: for ceil, enough for the last window to fit; it never starts in the padding.
 */
function floorPadAfter(size: number, kernel: number, stride: number, before: number, after: number, rounding: 'floor' | 'ceil'): number {
  if (rounding === 'floor') return after;
  const count = windowCount(size, kernel, stride, before, after, 'ceil');
  return Math.max(after, (count - 1) * stride + kernel - size - before);
}

/** The ONNX model (bytes) of `arch` with `weights`. Programming errors (missing weights) throw Error. */
export function exportOnnx(arch: Architecture, weights: Weights, options: ExportOptions = {}): Uint8Array {
  const size = options.inputSize ?? arch.inputSize;
  const layers = inferShapes(arch, [1, arch.inputChannels, size, size]);
  const nodes: OnnxNodeSpec[] = [];
  const initializers: OnnxInitializerSpec[] = [];
  const values = new Map<string, (number | string)[]>([['input', ['N', arch.inputChannels, size, size]]]);
  const param = (key: string): string => {
    const t = weights.get(key);
    if (!t) throw new Error(`exportOnnx: weights have no tensor "${key}"`);
    const f32 = (t.data instanceof Float32Array ? t : cast(t, 'float32')) as Tensor<Float32Array>;
    initializers.push({ name: key, dims: [...f32.shape], data: f32.data });
    return key;
  };

  let h = 'input';
  for (const { spec, inShape, outShape } of layers) {
    const name = spec.name;
    const add = (opType: string, inputs: string[], attributes: OnnxNodeSpec['attributes'] = [], output = name, nodeName = name): void => {
      nodes.push({ opType, name: nodeName, inputs, outputs: [output], attributes });
    };
    switch (spec.kind) {
      case 'conv':
        add('Conv', [h, param(`${spec.param}.weight`), param(`${spec.param}.bias`)], [
          { name: 'kernel_shape', ints: [spec.kernel, spec.kernel] },
          { name: 'strides', ints: [spec.stride, spec.stride] },
          { name: 'pads', ints: [spec.pad, spec.pad, spec.pad, spec.pad] },
          { name: 'group', i: spec.groups },
        ]);
        break;
      case 'relu':
        add('Relu', [h]);
        break;
      case 'lrn': {
        const p = spec.lrn;
        if (p.size % 2 === 0) throw new Error(`exportOnnx: ${name} has an even LRN size ${p.size}; ONNX centres even windows differently`);
        add('LRN', [h], [
          { name: 'size', i: p.size },
          { name: 'alpha', f: p.divideAlphaByN ? p.alpha : p.alpha * p.size },
          { name: 'beta', f: p.beta },
          { name: 'bias', f: p.k },
        ]);
        break;
      }
      case 'maxpool': {
        const [, , H, W] = inShape;
        const [top, left, bottom, right] = spec.pads;
        const pads = [top, left, floorPadAfter(H, spec.kernel, spec.stride, top, bottom, spec.rounding), floorPadAfter(W, spec.kernel, spec.stride, left, right, spec.rounding)];
        add('MaxPool', [h], [
          { name: 'kernel_shape', ints: [spec.kernel, spec.kernel] },
          { name: 'strides', ints: [spec.stride, spec.stride] },
          { name: 'pads', ints: pads },
        ]);
        break;
      }
      case 'adaptiveavgpool': {
        const [, C, H, W] = inShape;
        const { outH: OH, outW: OW } = spec;
        if (H === OH && W === OW) {
          add('Identity', [h]);
        } else if (H % OH === 0 && W % OW === 0) {
          add('AveragePool', [h], [
            { name: 'kernel_shape', ints: [H / OH, W / OW] },
            { name: 'strides', ints: [H / OH, W / OW] },
          ]);
        } else {
          // Reshape's 0 copies that dimension (the batch) from the input.
          initializers.push({ name: `${name}.planes_shape`, dims: [3], data: BigInt64Array.of(0n, BigInt(C), BigInt(H * W)) });
          initializers.push({ name: `${name}.matrix`, dims: [H * W, OH * OW], data: adaptiveAvgPoolMatrix(H, W, OH, OW) });
          initializers.push({ name: `${name}.out_shape`, dims: [4], data: BigInt64Array.of(0n, BigInt(C), BigInt(OH), BigInt(OW)) });
          add('Reshape', [h, `${name}.planes_shape`], [], `${name}/planes`, `${name}/reshape_in`);
          add('MatMul', [`${name}/planes`, `${name}.matrix`], [], `${name}/averaged`, `${name}/average`);
          add('Reshape', [`${name}/averaged`, `${name}.out_shape`], [], name, `${name}/reshape_out`);
        }
        break;
      }
      case 'flatten':
        add('Flatten', [h], [{ name: 'axis', i: 1 }]);
        break;
      case 'linear':
        add('Gemm', [h, param(`${spec.param}.weight`), param(`${spec.param}.bias`)], [
          { name: 'alpha', f: 1 },
          { name: 'beta', f: 1 },
          { name: 'transB', i: 1 },
        ]);
        break;
      case 'dropout':
        add('Identity', [h]);
        break;
      case 'softmax':
        add('Softmax', [h], [{ name: 'axis', i: 1 }]);
        break;
    }
    values.set(name, ['N', ...outShape.slice(1)]);
    h = name;
  }

  const probIndex = arch.layers.findIndex((l) => l.kind === 'softmax');
  const logits = arch.layers[probIndex - 1].name;
  const outputNames = options.allOutputs ? arch.layers.map((l) => l.name) : [arch.layers[probIndex].name, logits];
  const outputs: OnnxValueSpec[] = outputNames.map((n) => ({ name: n, shape: values.get(n)! }));
  const width = arch.widthDivisor === 1 ? '' : ` at 1/${arch.widthDivisor} width`;
  return encodeOnnxModel({
    irVersion: EXPORT_IR_VERSION,
    opset: EXPORT_OPSET,
    producer: 'alexnet-ts',
    producerVersion: options.producerVersion,
    metadata: { arch: arch.name, widthDivisor: String(arch.widthDivisor), numClasses: String(arch.numClasses), inputSize: String(size), ...options.metadata },
    graph: {
      name: `${arch.name}${width}, ${arch.numClasses} classes, ${size}x${size} input`,
      doc: 'Exported by alexnet-ts (src/oracle/export-onnx.ts): one value per layer, named as in a trace.',
      nodes,
      initializers,
      inputs: [{ name: 'input', shape: values.get('input')! }],
      outputs,
    },
  });
}
