/**
 * An ONNX model of any architecture in src/model/architectures.ts with given weights, encoded in
 * memory by hand (no onnx package, no protobuf library), so that onnxruntime-node and
 * onnxruntime-web can run exactly the network and weights the reference runs.
 *
 *   const bytes = alexnetOnnx(architecture('torchvision'), syntheticWeights(arch, 1000));
 *   const session = await ort.InferenceSession.create(bytes);
 *
 * The graph: input "input" float32 [N, C, S, S] (N symbolic, so one model serves every batch size),
 * output "logits" float32 [N, classes] (the layer before `prob`; the softmax is left out), and one
 * node per layer spec:
 *
 *   conv             Conv(x, W, B)  kernel_shape, strides, pads, group
 *   relu             Relu
 *   lrn              LRN size, alpha, beta, bias = k. ONNX divides alpha by size (as PyTorch and
 *                    Caffe do), so the paper's convention (divideAlphaByN false) passes alpha * size.
 *   maxpool          MaxPool kernel_shape, strides, pads [top, left, bottom, right], ceil_mode
 *   adaptiveavgpool  nothing when the input is already OH x OW (torchvision at 224); otherwise, as
 *                    the pooling is linear, Reshape to [N, C, H*W], MatMul by the [H*W, OH*OW]
 *                    averaging matrix, Reshape to [N, C, OH, OW]
 *   flatten          Flatten axis 1
 *   linear           Gemm(x, W, B) transB = 1 (W is [out, in] as in PyTorch)
 *   dropout          nothing (inference)
 *   softmax          ends the graph: its input is the output "logits"
 *
 * Weights are initializers with raw_data (little-endian float32), named by their weight-file keys.
 *
 * ModelProto, by field number (https://github.com/onnx/onnx/blob/v1.14.0/onnx/onnx.proto):
 *   ModelProto        1 ir_version (int64) 2 producer_name 3 producer_version 7 graph 8 opset_import
 *   OperatorSetIdProto 1 domain 2 version (int64)
 *   GraphProto        1 node 2 name 5 initializer 11 input 12 output
 *   NodeProto         1 input 2 output 3 name 4 op_type 5 attribute
 *   AttributeProto    1 name 2 f (float) 3 i (int64) 8 ints (int64) 20 type (FLOAT 1, INT 2, INTS 7)
 *   TensorProto       1 dims (int64) 2 data_type (FLOAT 1, INT64 7) 8 name 9 raw_data
 *   ValueInfoProto    1 name 2 type;  TypeProto 1 tensor_type;  TypeProto.Tensor 1 elem_type 2 shape
 *   TensorShapeProto  1 dim;  Dimension 1 dim_value (int64) 2 dim_param (string)
 * onnx.proto is proto2: repeated scalars are written unpacked, one field per value.
 */

import { adaptiveWindow } from '../src/geometry.js';
import type { Architecture } from '../src/model/architectures.js';
import type { Weights } from '../src/model/network.js';
import { inferShapes } from '../src/model/shapes.js';

export const ONNX_IR_VERSION = 8;
export const ONNX_OPSET = 13;

// ---------------------------------------------------------------------------------------------
// Protobuf wire format, writing side (the reading side is src/formats/protobuf.ts).

const WIRE_VARINT = 0;
const WIRE_LEN = 2;
const WIRE_I32 = 5;

function varintBytes(value: number | bigint): Uint8Array {
  let v = BigInt.asUintN(64, BigInt(value)); // negative int64: 64-bit two's complement, 10 bytes
  const out: number[] = [];
  do {
    let b = Number(v & 0x7fn);
    v >>= 7n;
    if (v) b |= 0x80;
    out.push(b);
  } while (v);
  return Uint8Array.from(out);
}

const utf8 = new TextEncoder();

/**
 * A message under construction: a list of byte chunks. Large payloads (weights) are kept as views,
 * never copied, until finish() lays everything out once.
 */
export class ProtoMessage {
  readonly chunks: Uint8Array[] = [];
  byteLength = 0;

  private push(bytes: Uint8Array): void {
    this.chunks.push(bytes);
    this.byteLength += bytes.byteLength;
  }

  private tag(field: number, wire: number): void {
    this.push(varintBytes((field << 3) | wire));
  }

  varint(field: number, value: number | bigint): this {
    this.tag(field, WIRE_VARINT);
    this.push(varintBytes(value));
    return this;
  }

  float(field: number, value: number): this {
    this.tag(field, WIRE_I32);
    this.push(new Uint8Array(Float32Array.of(value).buffer));
    return this;
  }

  bytes(field: number, data: Uint8Array): this {
    this.tag(field, WIRE_LEN);
    this.push(varintBytes(data.byteLength));
    this.push(data);
    return this;
  }

  string(field: number, s: string): this {
    return this.bytes(field, utf8.encode(s));
  }

  message(field: number, m: ProtoMessage): this {
    this.tag(field, WIRE_LEN);
    this.push(varintBytes(m.byteLength));
    for (const c of m.chunks) this.push(c);
    return this;
  }

  finish(): Uint8Array {
    const out = new Uint8Array(this.byteLength);
    let at = 0;
    for (const c of this.chunks) {
      out.set(c, at);
      at += c.byteLength;
    }
    return out;
  }
}

// ---------------------------------------------------------------------------------------------
// ONNX messages.

const FLOAT = 1; // TensorProto.DataType and AttributeProto type FLOAT share the number 1
const INT64 = 7;
const ATTR_INT = 2;
const ATTR_INTS = 7;

type Attr = { name: string; f: number } | { name: string; i: number } | { name: string; ints: readonly number[] };

function attribute(a: Attr): ProtoMessage {
  const m = new ProtoMessage().string(1, a.name);
  if ('f' in a) m.float(2, a.f).varint(20, FLOAT);
  else if ('i' in a) m.varint(3, a.i).varint(20, ATTR_INT);
  else {
    for (const v of a.ints) m.varint(8, v);
    m.varint(20, ATTR_INTS);
  }
  return m;
}

function node(opType: string, name: string, inputs: string[], outputs: string[], attrs: Attr[] = []): ProtoMessage {
  const m = new ProtoMessage();
  for (const i of inputs) m.string(1, i);
  for (const o of outputs) m.string(2, o);
  m.string(3, name).string(4, opType);
  for (const a of attrs) m.message(5, attribute(a));
  return m;
}

const HOST_IS_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function tensorProto(name: string, dims: readonly number[], data: Float32Array | BigInt64Array): ProtoMessage {
  if (!HOST_IS_LITTLE_ENDIAN) throw new Error('alexnetOnnx: raw_data is little-endian; this host is big-endian');
  const m = new ProtoMessage();
  for (const d of dims) m.varint(1, d);
  m.varint(2, data instanceof Float32Array ? FLOAT : INT64).string(8, name);
  return m.bytes(9, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
}

/** A float32 tensor value with the given dims; a string dim is symbolic (dim_param). */
function valueInfo(name: string, dims: ReadonlyArray<number | string>): ProtoMessage {
  const shape = new ProtoMessage();
  for (const d of dims) shape.message(1, typeof d === 'string' ? new ProtoMessage().string(2, d) : new ProtoMessage().varint(1, d));
  const tensorType = new ProtoMessage().varint(1, FLOAT).message(2, shape);
  return new ProtoMessage().string(1, name).message(2, new ProtoMessage().message(1, tensorType));
}

/** The [H*W, OH*OW] matrix whose column (i, j) averages the window of output (i, j) (geometry.ts adaptiveWindow). */
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

export interface OnnxModelOptions {
  /** Square input size (default: the architecture's). */
  inputSize?: number;
  /** producer_name (default 'alexnet-ts bench/onnx-model.ts'). */
  producer?: string;
}

/** The serialised ModelProto (ir_version 8, default-domain opset 13) of `arch` with `weights`. */
export function alexnetOnnx(arch: Architecture, weights: Weights<Float32Array>, options: OnnxModelOptions = {}): Uint8Array {
  const size = options.inputSize ?? arch.inputSize;
  const layers = inferShapes(arch, [1, arch.inputChannels, size, size]);
  const graph = new ProtoMessage();
  const initializers: ProtoMessage[] = [];
  const weight = (key: string): string => {
    const t = weights.get(key);
    if (!t) throw new Error(`alexnetOnnx: weights have no tensor "${key}"`);
    if (!(t.data instanceof Float32Array)) throw new Error(`alexnetOnnx: "${key}" is not float32`);
    initializers.push(tensorProto(key, t.shape, t.data));
    return key;
  };

  let h = 'input';
  let logits: string | undefined;
  for (const { spec, inShape } of layers) {
    if (spec.kind === 'softmax') {
      logits = h;
      break;
    }
    const out = spec.name;
    const add = (opType: string, inputs: string[], attrs: Attr[] = [], name = spec.name, output = out): void => {
      graph.message(1, node(opType, name, inputs, [output], attrs));
    };
    switch (spec.kind) {
      case 'conv':
        add('Conv', [h, weight(`${spec.param}.weight`), weight(`${spec.param}.bias`)], [
          { name: 'kernel_shape', ints: [spec.kernel, spec.kernel] },
          { name: 'strides', ints: [spec.stride, spec.stride] },
          { name: 'pads', ints: [spec.pad, spec.pad, spec.pad, spec.pad] }, // [top, left, bottom, right]
          { name: 'group', i: spec.groups },
        ]);
        break;
      case 'relu':
        add('Relu', [h]);
        break;
      case 'lrn':
        add('LRN', [h], [
          { name: 'size', i: spec.lrn.size },
          { name: 'alpha', f: spec.lrn.divideAlphaByN ? spec.lrn.alpha : spec.lrn.alpha * spec.lrn.size },
          { name: 'beta', f: spec.lrn.beta },
          { name: 'bias', f: spec.lrn.k },
        ]);
        break;
      case 'maxpool': {
        const [top, left, bottom, right] = spec.pads;
        add('MaxPool', [h], [
          { name: 'kernel_shape', ints: [spec.kernel, spec.kernel] },
          { name: 'strides', ints: [spec.stride, spec.stride] },
          { name: 'pads', ints: [top, left, bottom, right] },
          { name: 'ceil_mode', i: spec.rounding === 'ceil' ? 1 : 0 },
        ]);
        break;
      }
      case 'adaptiveavgpool': {
        const [, C, H, W] = inShape;
        if (H === spec.outH && W === spec.outW) continue; // the identity: no node
        const shapeIn = `${spec.name}.shape_in`;
        const shapeOut = `${spec.name}.shape_out`;
        const matrix = `${spec.name}.matrix`;
        // Reshape: 0 copies the batch dimension from the input (allowzero 0, the default).
        initializers.push(tensorProto(shapeIn, [3], BigInt64Array.of(0n, BigInt(C), BigInt(H * W))));
        initializers.push(tensorProto(shapeOut, [4], BigInt64Array.of(0n, BigInt(C), BigInt(spec.outH), BigInt(spec.outW))));
        initializers.push(tensorProto(matrix, [H * W, spec.outH * spec.outW], adaptiveAvgPoolMatrix(H, W, spec.outH, spec.outW)));
        add('Reshape', [h, shapeIn], [], `${spec.name}/reshape_in`, `${spec.name}/planes`);
        add('MatMul', [`${spec.name}/planes`, matrix], [], `${spec.name}/average`, `${spec.name}/averaged`);
        add('Reshape', [`${spec.name}/averaged`, shapeOut], [], `${spec.name}/reshape_out`);
        break;
      }
      case 'flatten':
        add('Flatten', [h], [{ name: 'axis', i: 1 }]);
        break;
      case 'linear':
        add('Gemm', [h, weight(`${spec.param}.weight`), weight(`${spec.param}.bias`)], [{ name: 'transB', i: 1 }]);
        break;
      case 'dropout':
        continue; // identity at inference
    }
    h = out;
  }
  if (!logits) throw new Error(`alexnetOnnx: ${arch.name} has no softmax layer to end the graph at`);
  // The output must be produced by a node: rename by an Identity so the output is called "logits".
  graph.message(1, node('Identity', 'logits', [logits], ['logits']));

  graph.string(2, `${arch.name}${arch.widthDivisor === 1 ? '' : `/${arch.widthDivisor}`} at ${size}`);
  for (const t of initializers) graph.message(5, t);
  graph.message(11, valueInfo('input', ['N', arch.inputChannels, size, size]));
  graph.message(12, valueInfo('logits', ['N', arch.numClasses]));

  return new ProtoMessage()
    .varint(1, ONNX_IR_VERSION)
    .string(2, options.producer ?? 'alexnet-ts bench/onnx-model.ts')
    .string(3, '0.1.0')
    .message(7, graph)
    .message(8, new ProtoMessage().string(1, '').varint(2, ONNX_OPSET))
    .finish();
}
