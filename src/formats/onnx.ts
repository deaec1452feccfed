/**
 * ONNX models: the graph and its initializers read from bytes (parseOnnx), and an AlexNet graph
 * mapped onto this project's layer specs and weight names (onnxToAlexnet).
 *
 * An .onnx file is one protobuf message, ModelProto (https://github.com/onnx/onnx/blob/main/onnx/onnx.proto):
 *
 *   ModelProto        ir_version 1, producer_name 2, graph 7, opset_import 8 {domain 1, version 2}
 *   GraphProto        node 1, name 2, initializer 5, input 11, output 12
 *   NodeProto         input 1, output 2, name 3, op_type 4, attribute 5, domain 7
 *   AttributeProto    name 1, f 2, i 3, s 4, t 5, floats 7, ints 8, strings 9, type 20
 *                     (type: FLOAT 1, INT 2, STRING 3, TENSOR 4, FLOATS 6, INTS 7, STRINGS 8)
 *   TensorProto       dims 1, data_type 2, segment 3, float_data 4, int32_data 5, int64_data 7,
 *                     name 8, raw_data 9 (little-endian), double_data 10, external_data 13,
 *                     data_location 14 (1 = EXTERNAL)
 *                     data_type: FLOAT 1, UINT8 2, INT8 3, UINT16 4, INT16 5, INT32 6, INT64 7,
 *                     BOOL 9, FLOAT16 10, DOUBLE 11, BFLOAT16 16
 *   ValueInfoProto    name 1, type 2 -> TypeProto tensor_type 1 {elem_type 1, shape 2 {dim 1
 *                     {dim_value 1, dim_param 2}}}
 *
 * Float initializers (FLOAT, DOUBLE, FLOAT16, BFLOAT16) become float32 Tensors, views on the file
 * when they are aligned float32 raw_data; integer ones (the shape operand of Reshape) are kept
 * as numbers. Tensors kept in external files are refused.
 */

import { UserError } from '../errors.js';
import { windowCount } from '../geometry.js';
import { ARCH_NAMES, type ArchName, type LayerSpec, architecture } from '../model/architectures.js';
import { type Tensor, formatShape, sizeOf } from '../tensor.js';
import {
  type ProtoField, WireType, float32, float32Array, int64, lastField, lenBytes, message, readFields,
  repeatedFloat32, repeatedFloat64AsFloat32, repeatedInt64, string,
} from './protobuf.js';
import { halfToFloat } from './pth.js';

export interface OnnxTensorData {
  name: string;
  /** TensorProto.DataType (1 FLOAT, 7 INT64, ...). */
  dataType: number;
  shape: number[];
  /** Float types, as float32. */
  floats?: Float32Array;
  /** Integer and bool types. */
  ints?: number[];
}

export type OnnxAttributeValue = number | string | number[] | string[] | OnnxTensorData | undefined;

export interface OnnxAttribute {
  name: string;
  type: 'float' | 'int' | 'string' | 'tensor' | 'floats' | 'ints' | 'strings' | 'other';
  value: OnnxAttributeValue;
}

export interface OnnxNode {
  opType: string;
  name: string;
  domain: string;
  inputs: string[];
  outputs: string[];
  attributes: Map<string, OnnxAttribute>;
}

export interface OnnxValueInfo {
  name: string;
  /** TensorProto.DataType of the elements, when declared. */
  elemType?: number;
  /** Dimensions: a number, a symbolic name, or null when unknown; undefined when no shape is declared. */
  shape?: (number | string | null)[];
}

export interface OnnxModel {
  irVersion: number;
  /** Version of the default ("" or "ai.onnx") operator set. */
  opset: number;
  producer: string;
  /** Float initializers as float32, by name, in file order. */
  initializers: Map<string, Tensor<Float32Array>>;
  /** Integer initializers (e.g. the shape operand of Reshape), by name. */
  intInitializers: Map<string, { shape: number[]; data: number[] }>;
  nodes: OnnxNode[];
  inputs: OnnxValueInfo[];
  outputs: OnnxValueInfo[];
}

export interface OnnxOptions {
  /** Called as initializers are decoded, with bytes of tensor data done and in total. */
  onProgress?: (done: number, total: number) => void;
}

const DT = { FLOAT: 1, UINT8: 2, INT8: 3, UINT16: 4, INT16: 5, INT32: 6, INT64: 7, STRING: 8, BOOL: 9, FLOAT16: 10, DOUBLE: 11, UINT32: 12, UINT64: 13, BFLOAT16: 16 } as const;
const DT_NAMES = new Map<number, string>(Object.entries(DT).map(([k, v]) => [v, k]));
const INT_TYPES = new Set<number>([DT.UINT8, DT.INT8, DT.UINT16, DT.INT16, DT.INT32, DT.INT64, DT.BOOL, DT.UINT32, DT.UINT64]);
/** Bytes per element in raw_data. */
const ITEMSIZE: Record<number, number> = { 1: 4, 2: 1, 3: 1, 4: 2, 5: 2, 6: 4, 7: 8, 9: 1, 10: 2, 11: 8, 12: 4, 13: 8, 16: 2 };

export function parseOnnx(bytes: Uint8Array, options: OnnxOptions = {}): OnnxModel {
  const top = readFields(bytes);
  const graphField = lastField(top, 7);
  if (!graphField || graphField.wireType !== WireType.Len) throw new UserError('not an ONNX model: no graph (ModelProto field 7)');
  const irField = lastField(top, 1);
  const irVersion = irField && irField.wireType === WireType.Varint ? int64(irField) : 0;
  const producerField = lastField(top, 2);
  const producer = producerField ? string(bytes, producerField) : '';
  let opset = 1;
  for (const f of top) {
    if (f.number !== 8) continue;
    const fields = message(bytes, f);
    const domain = lastField(fields, 1);
    const name = domain ? string(bytes, domain) : '';
    const version = lastField(fields, 2);
    if ((name === '' || name === 'ai.onnx') && version) opset = int64(version);
  }

  const graph = message(bytes, graphField);
  const nodes: OnnxNode[] = [];
  const inputs: OnnxValueInfo[] = [];
  const outputs: OnnxValueInfo[] = [];
  const tensorFields: ProtoField[] = [];
  for (const f of graph) {
    if (f.number === 1) nodes.push(readNode(bytes, f));
    else if (f.number === 5) tensorFields.push(f);
    else if (f.number === 11) inputs.push(readValueInfo(bytes, f));
    else if (f.number === 12) outputs.push(readValueInfo(bytes, f));
    else if (f.number === 15) throw new UserError('ONNX graph has sparse initializers, which are not supported');
  }

  const initializers = new Map<string, Tensor<Float32Array>>();
  const intInitializers = new Map<string, { shape: number[]; data: number[] }>();
  const total = tensorFields.reduce((n, f) => n + (f.end - f.start), 0);
  let done = 0;
  for (const f of tensorFields) {
    const t = readTensor(bytes, message(bytes, f), 'initializer');
    if (t.floats) initializers.set(t.name, { data: t.floats, shape: t.shape });
    else if (t.ints) intInitializers.set(t.name, { shape: t.shape, data: t.ints });
    done += f.end - f.start;
    options.onProgress?.(done, total);
  }
  return { irVersion, opset, producer, initializers, intInitializers, nodes, inputs, outputs };
}

function readNode(bytes: Uint8Array, f: ProtoField): OnnxNode {
  const node: OnnxNode = { opType: '', name: '', domain: '', inputs: [], outputs: [], attributes: new Map() };
  for (const g of message(bytes, f)) {
    switch (g.number) {
      case 1: node.inputs.push(string(bytes, g)); break;
      case 2: node.outputs.push(string(bytes, g)); break;
      case 3: node.name = string(bytes, g); break;
      case 4: node.opType = string(bytes, g); break;
      case 7: node.domain = string(bytes, g); break;
      case 5: {
        const a = readAttribute(bytes, message(bytes, g));
        node.attributes.set(a.name, a);
        break;
      }
    }
  }
  return node;
}

const ATTRIBUTE_TYPES: Record<number, OnnxAttribute['type']> = { 1: 'float', 2: 'int', 3: 'string', 4: 'tensor', 6: 'floats', 7: 'ints', 8: 'strings' };

function readAttribute(bytes: Uint8Array, fields: ProtoField[]): OnnxAttribute {
  const nameField = lastField(fields, 1);
  const name = nameField ? string(bytes, nameField) : '';
  const typeField = lastField(fields, 20);
  let type: OnnxAttribute['type'] | undefined = typeField ? (ATTRIBUTE_TYPES[int64(typeField)] ?? 'other') : undefined;
  if (!type) {
    // IR version 1 had no type field: the value field present says it.
    const present = new Set(fields.map((f) => f.number));
    type = present.has(2) ? 'float' : present.has(3) ? 'int' : present.has(4) ? 'string' : present.has(5) ? 'tensor'
      : present.has(7) ? 'floats' : present.has(8) ? 'ints' : present.has(9) ? 'strings' : 'other';
  }
  let value: OnnxAttributeValue;
  const one = (n: number): ProtoField | undefined => lastField(fields, n);
  switch (type) {
    case 'float': { const f = one(2); value = f ? float32(bytes, f) : 0; break; }
    case 'int': { const f = one(3); value = f ? int64(f) : 0; break; }
    case 'string': { const f = one(4); value = f ? string(bytes, f) : ''; break; }
    case 'tensor': { const f = one(5); value = f ? readTensor(bytes, message(bytes, f), `attribute "${name}"`) : undefined; break; }
    case 'floats': value = Array.from(repeatedFloat32(bytes, fields, 7)); break;
    case 'ints': value = repeatedInt64(bytes, fields, 8); break;
    case 'strings': value = fields.filter((f) => f.number === 9).map((f) => string(bytes, f)); break;
    default: value = undefined;
  }
  return { name, type, value };
}

function readValueInfo(bytes: Uint8Array, f: ProtoField): OnnxValueInfo {
  const fields = message(bytes, f);
  const nameField = lastField(fields, 1);
  const info: OnnxValueInfo = { name: nameField ? string(bytes, nameField) : '' };
  const typeField = lastField(fields, 2);
  const tensorType = typeField && lastField(message(bytes, typeField), 1);
  if (!tensorType) return info;
  const tt = message(bytes, tensorType);
  const elem = lastField(tt, 1);
  if (elem) info.elemType = int64(elem);
  const shapeField = lastField(tt, 2);
  if (shapeField) {
    info.shape = message(bytes, shapeField)
      .filter((d) => d.number === 1)
      .map((d) => {
        const dim = message(bytes, d);
        const value = lastField(dim, 1);
        const param = lastField(dim, 2);
        return value ? int64(value) : param ? string(bytes, param) : null;
      });
  }
  return info;
}

function readTensor(bytes: Uint8Array, fields: ProtoField[], what: string): OnnxTensorData {
  const nameField = lastField(fields, 8);
  const name = nameField ? string(bytes, nameField) : '';
  const label = name ? `${what} "${name}"` : what;
  const typeField = lastField(fields, 2);
  const dataType = typeField ? int64(typeField) : 0;
  const shape = repeatedInt64(bytes, fields, 1);
  if (!shape.every((d) => d >= 0)) throw new UserError(`${label} has dims ${formatShape(shape)}`);
  const location = lastField(fields, 14);
  if ((location && int64(location) === 1) || lastField(fields, 13)) {
    throw new UserError(`${label} keeps its data in an external file (ONNX external data), which is not supported: save the model with its tensors inside the .onnx file`);
  }
  if (lastField(fields, 3)) throw new UserError(`${label} is stored in segments, which is not supported`);
  const n = sizeOf(shape);
  const raw = lastField(fields, 9);
  const typeName = DT_NAMES.get(dataType) ?? `data type ${dataType}`;
  const t: OnnxTensorData = { name, dataType, shape };
  const count = (got: number): void => {
    if (got !== n) throw new UserError(`${label} has dims ${formatShape(shape)} (${n} elements) but ${got} ${typeName} values`);
  };

  if (raw) {
    const data = lenBytes(bytes, raw);
    const itemsize = ITEMSIZE[dataType];
    if (!itemsize) return t; // strings and types we do not read: left without data
    count(data.length / itemsize);
    const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
    switch (dataType) {
      case DT.FLOAT: t.floats = float32Array(bytes, raw.start, data.length); break;
      case DT.DOUBLE: t.floats = Float32Array.from({ length: n }, (_, i) => view.getFloat64(8 * i, true)); break;
      case DT.FLOAT16: t.floats = Float32Array.from({ length: n }, (_, i) => halfToFloat(view.getUint16(2 * i, true))); break;
      case DT.BFLOAT16: t.floats = bfloat16ToFloat32(Uint32Array.from({ length: n }, (_, i) => view.getUint16(2 * i, true))); break;
      case DT.INT64: t.ints = Array.from({ length: n }, (_, i) => safe(view.getBigInt64(8 * i, true), label)); break;
      case DT.UINT64: t.ints = Array.from({ length: n }, (_, i) => safe(view.getBigUint64(8 * i, true), label)); break;
      case DT.INT32: t.ints = Array.from({ length: n }, (_, i) => view.getInt32(4 * i, true)); break;
      case DT.UINT32: t.ints = Array.from({ length: n }, (_, i) => view.getUint32(4 * i, true)); break;
      case DT.INT16: t.ints = Array.from({ length: n }, (_, i) => view.getInt16(2 * i, true)); break;
      case DT.UINT16: t.ints = Array.from({ length: n }, (_, i) => view.getUint16(2 * i, true)); break;
      case DT.INT8: t.ints = Array.from({ length: n }, (_, i) => view.getInt8(i)); break;
      case DT.UINT8: case DT.BOOL: t.ints = Array.from(data); break;
    }
    return t;
  }
  // Typed fields: float_data 4, int32_data 5 (also float16/bfloat16 bits), int64_data 7, double_data 10, uint64_data 11.
  if (dataType === DT.FLOAT) t.floats = repeatedFloat32(bytes, fields, 4);
  else if (dataType === DT.DOUBLE) t.floats = repeatedFloat64AsFloat32(bytes, fields, 10);
  else if (dataType === DT.FLOAT16) t.floats = Float32Array.from(repeatedInt64(bytes, fields, 5), (h) => halfToFloat(h & 0xffff));
  else if (dataType === DT.BFLOAT16) t.floats = bfloat16ToFloat32(Uint32Array.from(repeatedInt64(bytes, fields, 5), (h) => h & 0xffff));
  else if (dataType === DT.INT64) t.ints = repeatedInt64(bytes, fields, 7);
  else if (dataType === DT.UINT64 || dataType === DT.UINT32) t.ints = repeatedInt64(bytes, fields, 11);
  else if (INT_TYPES.has(dataType)) t.ints = repeatedInt64(bytes, fields, 5);
  else return t;
  count((t.floats ?? t.ints ?? []).length);
  return t;
}

function bfloat16ToFloat32(halves: Uint32Array): Float32Array {
  for (let i = 0; i < halves.length; i++) halves[i] <<= 16;
  return new Float32Array(halves.buffer);
}

function safe(v: bigint, label: string): number {
  if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) throw new UserError(`${label} holds the integer ${v}, beyond ±2^53`);
  return Number(v);
}

// ---------------------------------------------------------------------------------------------
// Mapping a graph onto an AlexNet

export interface OnnxAlexnet {
  arch: ArchName;
  /** By this project's keys (`features.0.weight`, `conv1.weight`, ...), in layer order. */
  weights: Map<string, Tensor<Float32Array>>;
  /** Height and width of the graph's declared input, when static. */
  inputSize?: [number, number];
  notes: string[];
}

/** A node on the network's main path, reduced to what the layer specs compare. */
type Step =
  | { kind: 'conv'; node: number; kernel: number; stride: number; pad: number; groups: number; weight: Tensor<Float32Array>; bias: Tensor<Float32Array> }
  | { kind: 'relu'; node: number }
  | { kind: 'lrn'; node: number; size: number; alpha: number; beta: number; bias: number }
  | { kind: 'maxpool'; node: number; kernel: number; stride: number; pads: number[]; ceil: boolean }
  | { kind: 'avgpool'; node: number; kernel: number; stride: number; pads: number[]; ceil: boolean; global: boolean }
  | { kind: 'flatten'; node: number }
  | { kind: 'linear'; node: number; weight: Tensor<Float32Array>; bias: Tensor<Float32Array>; transposed: boolean };

/** Operators an AlexNet's main path is made of. */
const PATH_OPS = new Set(['Conv', 'Relu', 'LRN', 'MaxPool', 'AveragePool', 'GlobalAveragePool', 'Flatten', 'Reshape', 'Gemm', 'Dropout', 'Identity', 'Softmax']);
/** Operators exporters add beside the path to compute Reshape's target shape. */
const SHAPE_OPS = new Set(['Constant', 'Shape', 'Gather', 'Unsqueeze', 'Squeeze', 'Concat', 'Cast', 'Slice', 'ConstantOfShape']);

export function nodeLabel(model: OnnxModel, i: number): string {
  const n = model.nodes[i];
  return n.name ? `node ${i} "${n.name}" (${n.opType})` : `node ${i} (${n.opType})`;
}

/**
 * Recognises the AlexNet a graph computes (torchvision's exports at opsets 9-17, the ONNX zoo's
 * Caffe-derived bvlcalexnet, and our other variants) and returns its weights under our names.
 * Channel counts may be any (reduced-width nets are fine); the layer sequence, kernel sizes,
 * strides, padding, groups, LRN constants and pooling geometry must be those of one of our
 * architectures. Throws UserError naming the first node that does not fit.
 */
export function onnxToAlexnet(graph: OnnxModel): OnnxAlexnet {
  const notes: string[] = [];
  const model = withNodeConstants(graph);
  const label = (i: number): string => nodeLabel(model, i);

  // 1. Every node must be an operator some AlexNet (or its shape plumbing) uses.
  model.nodes.forEach((n, i) => {
    if ((n.domain !== '' && n.domain !== 'ai.onnx') || (!PATH_OPS.has(n.opType) && !SHAPE_OPS.has(n.opType))) {
      throw new UserError(`${label(i)} is not part of any AlexNet`);
    }
  });

  // 2. The main path: from the one graph input that is not an initializer, node after node.
  const isConstant = (name: string): boolean => model.initializers.has(name) || model.intInitializers.has(name);
  const dataInputs = model.inputs.filter((v) => !isConstant(v.name));
  if (dataInputs.length !== 1) {
    throw new UserError(`an AlexNet graph has one input, this one has ${dataInputs.length}${dataInputs.length ? ` (${dataInputs.map((v) => `"${v.name}"`).join(', ')})` : ''}`);
  }
  const input = dataInputs[0];
  const consumers = new Map<string, number[]>();
  model.nodes.forEach((n, i) => n.inputs.forEach((name) => {
    if (name) consumers.set(name, [...(consumers.get(name) ?? []), i]);
  }));
  const path: number[] = [];
  const onPath = new Set<number>();
  let current = input.name;
  for (;;) {
    // A Shape node reading the activations (torch's x.view(x.size(0), -1)) only feeds a Reshape's target.
    const users = (consumers.get(current) ?? []).filter((i) => model.nodes[i].opType !== 'Shape');
    if (users.length === 0) break;
    if (users.length > 1) {
      throw new UserError(`the graph branches: ${users.slice(0, 2).map(label).join(' and ')} both read "${current}", but an AlexNet is a chain`);
    }
    const i = users[0];
    if (model.nodes[i].inputs[0] !== current || onPath.has(i)) throw new UserError(`${label(i)} is not part of any AlexNet (it combines "${current}" with another value)`);
    path.push(i);
    onPath.add(i);
    current = model.nodes[i].outputs[0];
  }
  if (!model.outputs.some((o) => o.name === current)) {
    throw new UserError(`the network's path from "${input.name}" ends at "${current}", which is not a graph output`);
  }
  model.nodes.forEach((n, i) => {
    const constantAlias = n.opType === 'Identity' && isConstant(n.inputs[0] ?? '');
    if (!onPath.has(i) && !SHAPE_OPS.has(n.opType) && !constantAlias) {
      throw new UserError(`${label(i)} is not part of any AlexNet (it is off the network's main path)`);
    }
  });

  // 3. Path nodes as steps (Dropout and Identity are the identity in inference; Softmax only last).
  const steps: Step[] = [];
  path.forEach((i, k) => {
    const step = toStep(model, i, k === path.length - 1, notes);
    if (step) steps.push(step);
  });

  // 4. Match the steps against each architecture's layers; keep the best failure to report.
  const declared = input.shape;
  const inputSize: [number, number] | undefined =
    declared && declared.length === 4 && typeof declared[2] === 'number' && typeof declared[3] === 'number' ? [declared[2], declared[3]] : undefined;
  const inputChannels = declared && declared.length === 4 && typeof declared[1] === 'number' ? declared[1] : undefined;
  let best: { matched: number; message: string } = { matched: -1, message: '' };
  for (const name of ARCH_NAMES) {
    const result = matchArchitecture(model, name, steps, inputSize, inputChannels);
    if ('weights' in result) {
      notes.push(...result.notes);
      return { arch: name, weights: result.weights, inputSize, notes };
    }
    if (result.matched > best.matched) best = result;
  }
  throw new UserError(best.message);
}

/**
 * The model with the outputs of Constant nodes (their `value` tensor) and of Identity nodes on an
 * initializer (torch.onnx's way of sharing one parameter) added to its initializers. The caller's
 * model is not changed.
 */
function withNodeConstants(model: OnnxModel): OnnxModel {
  const initializers = new Map(model.initializers);
  const intInitializers = new Map(model.intInitializers);
  for (const n of model.nodes) {
    const out = n.outputs[0];
    if (!out) continue;
    const value = n.opType === 'Constant' ? attr(n, 'value') : undefined;
    if (value && typeof value === 'object' && !Array.isArray(value)) {
      if (value.floats) initializers.set(out, { data: value.floats, shape: value.shape });
      else if (value.ints) intInitializers.set(out, { shape: value.shape, data: value.ints });
    } else if (n.opType === 'Identity') {
      const source = n.inputs[0] ?? '';
      const f = initializers.get(source);
      const i = intInitializers.get(source);
      if (f) initializers.set(out, f);
      else if (i) intInitializers.set(out, i);
    }
  }
  return { ...model, initializers, intInitializers };
}

function attr(node: OnnxNode, name: string): OnnxAttributeValue {
  return node.attributes.get(name)?.value;
}

function intAttr(node: OnnxNode, name: string, fallback: number): number {
  const v = attr(node, name);
  return typeof v === 'number' ? v : fallback;
}

function floatAttr(node: OnnxNode, name: string, fallback: number): number {
  const v = attr(node, name);
  return typeof v === 'number' ? v : fallback;
}

function intsAttr(node: OnnxNode, name: string, fallback: number[]): number[] {
  const v = attr(node, name);
  return Array.isArray(v) && v.every((x) => typeof x === 'number') ? (v as number[]) : fallback;
}

/** Reads kernel_shape, strides, pads, dilations, auto_pad of a 2-d window op; square kernels only. */
function window2d(model: OnnxModel, i: number, kernelFallback?: number[]): { kernel: number; stride: number; pads: number[] } {
  const node = model.nodes[i];
  const label = nodeLabel(model, i);
  const kernelShape = intsAttr(node, 'kernel_shape', kernelFallback ?? []);
  const strides = intsAttr(node, 'strides', [1, 1]);
  const pads = intsAttr(node, 'pads', [0, 0, 0, 0]);
  const dilations = intsAttr(node, 'dilations', [1, 1]);
  const autoPad = attr(node, 'auto_pad');
  if (autoPad !== undefined && autoPad !== 'NOTSET' && autoPad !== 'VALID') {
    throw new UserError(`${label} has auto_pad ${autoPad}; only explicit pads are supported`);
  }
  if (kernelShape.length !== 2 || kernelShape[0] !== kernelShape[1]) throw new UserError(`${label} has kernel_shape [${kernelShape.join(', ')}]; AlexNet's kernels are square`);
  if (strides.length !== 2 || strides[0] !== strides[1]) throw new UserError(`${label} has strides [${strides.join(', ')}]; AlexNet's strides are equal`);
  if (pads.length !== 4) throw new UserError(`${label} has pads [${pads.join(', ')}], expected 4 values`);
  if (!dilations.every((d) => d === 1)) throw new UserError(`${label} has dilations [${dilations.join(', ')}]; AlexNet has none`);
  return { kernel: kernelShape[0], stride: strides[0], pads };
}

function initializer(model: OnnxModel, i: number, position: number, what: string): Tensor<Float32Array> {
  const name = model.nodes[i].inputs[position];
  const t = name ? model.initializers.get(name) : undefined;
  if (!t) throw new UserError(`${nodeLabel(model, i)} takes its ${what} from "${name ?? ''}", which is not a float initializer`);
  return t;
}

function toStep(model: OnnxModel, i: number, last: boolean, notes: string[]): Step | undefined {
  const node = model.nodes[i];
  const label = nodeLabel(model, i);
  switch (node.opType) {
    case 'Conv': {
      const weight = initializer(model, i, 1, 'weights');
      if (weight.shape.length !== 4) throw new UserError(`${label} has weights ${formatShape(weight.shape)}, expected [OC, C/groups, KH, KW]`);
      const { kernel, stride, pads } = window2d(model, i, weight.shape.slice(2));
      if (weight.shape[2] !== kernel || weight.shape[3] !== kernel) throw new UserError(`${label} has kernel_shape ${kernel} but weights ${formatShape(weight.shape)}`);
      if (!pads.every((p) => p === pads[0])) throw new UserError(`${label} has pads [${pads.join(', ')}]; AlexNet pads its convolutions equally on every side`);
      const OC = weight.shape[0];
      const bias = node.inputs[2] ? initializer(model, i, 2, 'bias') : { data: new Float32Array(OC), shape: [OC] };
      if (bias.data.length !== OC) throw new UserError(`${label} has ${OC} output channels but a bias of ${bias.data.length}`);
      return { kind: 'conv', node: i, kernel, stride, pad: pads[0], groups: intAttr(node, 'group', 1), weight, bias: { data: bias.data, shape: [OC] } };
    }
    case 'Relu':
      return { kind: 'relu', node: i };
    case 'LRN':
      // ONNX defaults (operator LRN-1 and -13): alpha 1e-4, beta 0.75, bias 1; size is required.
      return { kind: 'lrn', node: i, size: intAttr(node, 'size', 0), alpha: floatAttr(node, 'alpha', 1e-4), beta: floatAttr(node, 'beta', 0.75), bias: floatAttr(node, 'bias', 1) };
    case 'MaxPool': {
      if (node.outputs.length > 1 && node.outputs[1]) throw new UserError(`${label} also outputs indices, which AlexNet does not use`);
      const { kernel, stride, pads } = window2d(model, i);
      return { kind: 'maxpool', node: i, kernel, stride, pads, ceil: intAttr(node, 'ceil_mode', 0) === 1 };
    }
    case 'AveragePool': {
      const { kernel, stride, pads } = window2d(model, i);
      return { kind: 'avgpool', node: i, kernel, stride, pads, ceil: intAttr(node, 'ceil_mode', 0) === 1, global: false };
    }
    case 'GlobalAveragePool':
      return { kind: 'avgpool', node: i, kernel: 0, stride: 0, pads: [0, 0, 0, 0], ceil: false, global: true };
    case 'Flatten': {
      const axis = intAttr(node, 'axis', 1);
      if (axis !== 1) throw new UserError(`${label} flattens from axis ${axis}; AlexNet flattens [N, C, H, W] to [N, C*H*W] (axis 1)`);
      return { kind: 'flatten', node: i };
    }
    case 'Reshape': {
      const target = reshapeTarget(model, node.inputs[1]);
      if (target && (target.length !== 2 || !(target[0] === 1 || target[0] === 0 || target[0] === -1))) {
        throw new UserError(`${label} reshapes to [${target.join(', ')}]; AlexNet flattens to [N, C*H*W]`);
      }
      return { kind: 'flatten', node: i };
    }
    case 'Gemm': {
      const alpha = floatAttr(node, 'alpha', 1);
      const beta = floatAttr(node, 'beta', 1);
      if (intAttr(node, 'transA', 0) !== 0 || alpha !== 1 || beta !== 1) {
        throw new UserError(`${label} has transA ${intAttr(node, 'transA', 0)}, alpha ${alpha}, beta ${beta}; a fully connected layer has 0, 1, 1`);
      }
      const B = initializer(model, i, 1, 'weights');
      if (B.shape.length !== 2) throw new UserError(`${label} has weights ${formatShape(B.shape)}, expected a matrix`);
      // transB=1: B is [OUT, IN], PyTorch's layout. transB=0: B is [IN, OUT] and is transposed here.
      const transposed = intAttr(node, 'transB', 0) === 0;
      const weight = transposed ? transpose(B) : B;
      if (transposed) notes.push(`${label} has transB=0: its [IN, OUT] weights were transposed to [OUT, IN]`);
      const OUT = weight.shape[0];
      const C = node.inputs[2] ? initializer(model, i, 2, 'bias') : { data: new Float32Array(OUT), shape: [OUT] };
      if (C.data.length !== OUT) throw new UserError(`${label} has ${OUT} outputs but a bias of ${C.data.length}`);
      return { kind: 'linear', node: i, weight, bias: { data: C.data, shape: [OUT] }, transposed };
    }
    case 'Dropout':
    case 'Identity':
      return undefined;
    case 'Softmax':
      if (!last) throw new UserError(`${label} is not the last layer; AlexNet's softmax is`);
      return undefined;
    default:
      throw new UserError(`${label} is not part of any AlexNet`);
  }
}

/** Reshape's target shape, when it is a constant (an initializer or a Constant node's value). */
function reshapeTarget(model: OnnxModel, name: string | undefined): number[] | undefined {
  if (!name) return undefined;
  const init = model.intInitializers.get(name);
  if (init) return init.data;
  const producer = model.nodes.find((n) => n.opType === 'Constant' && n.outputs[0] === name);
  const value = producer ? attr(producer, 'value') : undefined;
  if (value && typeof value === 'object' && !Array.isArray(value)) return value.ints;
  return undefined; // computed from Shape/Gather/Concat: a flatten by construction of the exporter
}

function transpose(t: Tensor<Float32Array>): Tensor<Float32Array> {
  const [R, C] = t.shape;
  const out = new Float32Array(R * C);
  for (let r = 0; r < R; r++) for (let c = 0; c < C; c++) out[c * R + r] = t.data[r * C + c];
  return { data: out, shape: [C, R] };
}

type MatchResult = { weights: Map<string, Tensor<Float32Array>>; notes: string[] } | { matched: number; message: string };

/**
 * Walks `steps` against architecture `name`'s layer specs (dropout and softmax aside), tracking
 * the spatial size from the declared input (or the architecture's input size) and the channels
 * from the weights. Returns the weights under the spec's keys, or how far it got and why not.
 */
function matchArchitecture(model: OnnxModel, name: ArchName, steps: Step[], inputSize: [number, number] | undefined, inputChannels: number | undefined): MatchResult {
  const arch = architecture(name);
  const specs = arch.layers.filter((l) => l.kind !== 'dropout' && l.kind !== 'softmax');
  const weights = new Map<string, Tensor<Float32Array>>();
  const notes: string[] = [];
  let [H, W] = inputSize ?? [arch.inputSize, arch.inputSize];
  let C = inputChannels ?? arch.inputChannels;
  let features = 0; // after flatten
  let s = 0;
  const fail = (k: number, why: string): MatchResult => ({
    matched: k,
    message: k < steps.length ? `${nodeLabel(model, steps[k].node)} does not fit ${name}'s AlexNet: ${why}` : `the graph does not fit ${name}'s AlexNet: ${why}`,
  });
  if (C !== arch.inputChannels) return fail(0, `its input has ${C} channels, ${name} takes ${arch.inputChannels}`);

  for (let k = 0; k < specs.length; k++) {
    const spec = specs[k];
    const step = steps[s];
    if (spec.kind === 'adaptiveavgpool') {
      // torch.onnx exports AdaptiveAvgPool2d(6) as AveragePool with kernel = stride = size / 6,
      // or leaves nothing when the input is already 6x6 (then it is the identity).
      if (step?.kind === 'avgpool') {
        const ok = !step.global && step.kernel === step.stride && step.pads.every((p) => p === 0) && H === spec.outH * step.kernel && W === spec.outW * step.kernel;
        if (!ok) return fail(s, `${spec.name} is AdaptiveAvgPool(${spec.outH}, ${spec.outW}), which this pooling does not compute from ${H}x${W}`);
        H = spec.outH;
        W = spec.outW;
        s++;
      } else if (H !== spec.outH || W !== spec.outW) {
        return fail(s, `${spec.name} (AdaptiveAvgPool to ${spec.outH}x${spec.outW}) is missing and the input to it is ${H}x${W}`);
      } else {
        notes.push(`the export has no node for ${spec.name}: at ${H}x${W} AdaptiveAvgPool(6, 6) is the identity`);
      }
      continue;
    }
    if (!step) return fail(s, `the graph ends where ${name} continues with ${spec.name}`);
    const want = spec.kind === 'linear' ? 'linear' : spec.kind;
    if (step.kind !== want) return fail(s, `expected ${describeSpec(spec)} (${spec.name})`);
    switch (spec.kind) {
      case 'conv': {
        const st = step as Extract<Step, { kind: 'conv' }>;
        if (st.kernel !== spec.kernel || st.stride !== spec.stride || st.pad !== spec.pad || st.groups !== spec.groups) {
          return fail(s, `${spec.name} is ${spec.kernel}x${spec.kernel} stride ${spec.stride} pad ${spec.pad} groups ${spec.groups}, this is ${st.kernel}x${st.kernel} stride ${st.stride} pad ${st.pad} groups ${st.groups}`);
        }
        const [OC, Cg] = st.weight.shape;
        if (Cg * st.groups !== C || OC % st.groups !== 0) return fail(s, `its weights ${formatShape(st.weight.shape)} with groups ${st.groups} do not take ${C} input channels`);
        weights.set(`${spec.param}.weight`, st.weight);
        weights.set(`${spec.param}.bias`, st.bias);
        C = OC;
        H = windowCount(H, spec.kernel, spec.stride, spec.pad, spec.pad);
        W = windowCount(W, spec.kernel, spec.stride, spec.pad, spec.pad);
        if (H < 1 || W < 1) return fail(s, `the input is too small for ${spec.name}`);
        break;
      }
      case 'maxpool': {
        const st = step as Extract<Step, { kind: 'maxpool' }>;
        if (st.kernel !== spec.kernel || st.stride !== spec.stride) {
          return fail(s, `${spec.name} is ${spec.kernel}x${spec.kernel} stride ${spec.stride}, this is ${st.kernel}x${st.kernel} stride ${st.stride}`);
        }
        // Same windows as the spec iff nothing is padded before and the counts agree: padding
        // after the input only adds -inf samples to windows that already start inside it.
        const [pt, pl, pb, pr] = st.pads;
        const rounding = st.ceil ? 'ceil' : 'floor';
        const oh = windowCount(H, st.kernel, st.stride, pt, pb, rounding);
        const ow = windowCount(W, st.kernel, st.stride, pl, pr, rounding);
        const [st0, sl0, sb0, sr0] = spec.pads;
        const wantH = windowCount(H, spec.kernel, spec.stride, st0, sb0, spec.rounding);
        const wantW = windowCount(W, spec.kernel, spec.stride, sl0, sr0, spec.rounding);
        if (pt !== st0 || pl !== sl0 || oh !== wantH || ow !== wantW) {
          return fail(s, `${spec.name} pools ${H}x${W} to ${wantH}x${wantW} (${spec.rounding} rounding), this MaxPool with pads [${st.pads.join(', ')}]` +
            `${st.ceil ? ' and ceil_mode' : ''} gives ${oh}x${ow}`);
        }
        if (pb !== 0 || pr !== 0 || st.ceil !== (spec.rounding === 'ceil')) {
          notes.push(`${nodeLabel(model, st.node)}: pads [${st.pads.join(', ')}]${st.ceil ? ' with ceil_mode' : ''} give the same ${oh}x${ow} windows as ${spec.rounding} rounding at ${H}x${W}`);
        }
        H = oh;
        W = ow;
        break;
      }
      case 'lrn': {
        const st = step as Extract<Step, { kind: 'lrn' }>;
        // ONNX LRN always divides alpha by size; compare the per-square coefficient.
        const a = spec.lrn.divideAlphaByN ? spec.lrn.alpha / spec.lrn.size : spec.lrn.alpha;
        const close = (x: number, y: number): boolean => Math.abs(x - y) <= 1e-6 * Math.max(Math.abs(x), Math.abs(y));
        if (st.size !== spec.lrn.size || !close(st.alpha / st.size, a) || !close(st.beta, spec.lrn.beta) || !close(st.bias, spec.lrn.k)) {
          return fail(s, `${spec.name} is LRN size ${spec.lrn.size} alpha ${a * spec.lrn.size} beta ${spec.lrn.beta} bias ${spec.lrn.k} (ONNX convention), ` +
            `this is size ${st.size} alpha ${st.alpha} beta ${st.beta} bias ${st.bias}`);
        }
        break;
      }
      case 'flatten':
        features = C * H * W;
        break;
      case 'linear': {
        const st = step as Extract<Step, { kind: 'linear' }>;
        const [OUT, IN] = st.weight.shape;
        if (IN !== features) return fail(s, `${spec.name} takes ${features} features here, its weights ${formatShape(st.weight.shape)} take ${IN}`);
        weights.set(`${spec.param}.weight`, st.weight);
        weights.set(`${spec.param}.bias`, st.bias);
        features = OUT;
        break;
      }
      case 'relu':
        break;
    }
    s++;
  }
  if (s < steps.length) return fail(s, `it comes after the last layer of ${name}'s AlexNet`);
  return { weights, notes };
}

function describeSpec(spec: LayerSpec): string {
  switch (spec.kind) {
    case 'conv': return 'a Conv';
    case 'relu': return 'a Relu';
    case 'lrn': return 'an LRN';
    case 'maxpool': return 'a MaxPool';
    case 'flatten': return 'a Flatten or Reshape';
    case 'linear': return 'a Gemm';
    default: return spec.kind;
  }
}
