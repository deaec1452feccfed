/**
 * Writing ONNX models: a protocol buffers encoder by hand (no packages) and the few ONNX messages
 * a feed-forward graph needs. The reading side is protobuf.ts and onnx.ts; the AlexNet graph
 * itself is built in src/oracle/export-onnx.ts.
 *
 * Wire format (https://protobuf.dev/programming-guides/encoding/): each field is a varint tag
 * `(field number << 3) | wire type` and a value: VARINT (0) base-128 little-endian groups of 7
 * bits, high bit = more to come, negative int64 as 64-bit two's complement (10 bytes); LEN (2) a
 * varint byte count then the bytes (strings, bytes, sub-messages); I32 (5) 4 bytes little-endian
 * (float). onnx.proto is proto2, whose repeated scalars are written unpacked (one field per
 * value); readers accept both.
 *
 * The messages (https://github.com/onnx/onnx/blob/main/onnx/onnx.proto), by field number:
 *
 *   ModelProto         1 ir_version  2 producer_name  3 producer_version  6 doc_string  7 graph
 *                      8 opset_import {1 domain, 2 version}  14 metadata_props {1 key, 2 value}
 *   GraphProto         1 node  2 name  5 initializer  10 doc_string  11 input  12 output
 *   NodeProto          1 input  2 output  3 name  4 op_type  5 attribute  6 doc_string
 *   AttributeProto     1 name  2 f  3 i  4 s  7 floats  8 ints  20 type (FLOAT 1, INT 2, STRING 3,
 *                      FLOATS 6, INTS 7)
 *   TensorProto        1 dims  2 data_type (FLOAT 1, INT64 7)  8 name  9 raw_data (little-endian)
 *   ValueInfoProto     1 name  2 type -> TypeProto 1 tensor_type -> {1 elem_type, 2 shape ->
 *                      TensorShapeProto 1 dim -> {1 dim_value | 2 dim_param}}
 *
 * A message is built as a list of byte chunks: weight tensors stay views on their Float32Arrays
 * until `finish()` copies everything once into the file's bytes.
 */

const WIRE_VARINT = 0;
const WIRE_LEN = 2;
const WIRE_I32 = 5;

const HOST_IS_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** A varint: unsigned 64-bit (negative numbers as two's complement), 7 bits per byte, low first. */
export function encodeVarint(value: number | bigint): Uint8Array {
  if (typeof value === 'number' && !Number.isSafeInteger(value)) throw new Error(`encodeVarint: ${value} is not a safe integer`);
  let v = BigInt.asUintN(64, BigInt(value));
  const out: number[] = [];
  do {
    let b = Number(v & 0x7fn);
    v >>= 7n;
    if (v !== 0n) b |= 0x80;
    out.push(b);
  } while (v !== 0n);
  return Uint8Array.from(out);
}

const utf8 = new TextEncoder();

/** A protobuf message under construction. */
export class ProtoWriter {
  readonly chunks: Uint8Array[] = [];
  byteLength = 0;

  private push(bytes: Uint8Array): void {
    this.chunks.push(bytes);
    this.byteLength += bytes.byteLength;
  }

  private tag(field: number, wire: number): void {
    this.push(encodeVarint(field * 8 + wire));
  }

  varint(field: number, value: number | bigint): this {
    this.tag(field, WIRE_VARINT);
    this.push(encodeVarint(value));
    return this;
  }

  float(field: number, value: number): this {
    this.tag(field, WIRE_I32);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, value, true);
    this.push(b);
    return this;
  }

  bytes(field: number, data: Uint8Array): this {
    this.tag(field, WIRE_LEN);
    this.push(encodeVarint(data.byteLength));
    this.push(data);
    return this;
  }

  string(field: number, s: string): this {
    return this.bytes(field, utf8.encode(s));
  }

  message(field: number, m: ProtoWriter): this {
    this.tag(field, WIRE_LEN);
    this.push(encodeVarint(m.byteLength));
    for (const c of m.chunks) this.push(c);
    return this;
  }

  /** The message's bytes, laid out once. */
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
// ONNX

export type OnnxAttr =
  | { name: string; f: number }
  | { name: string; i: number }
  | { name: string; s: string }
  | { name: string; ints: readonly number[] }
  | { name: string; floats: readonly number[] };

export interface OnnxNodeSpec {
  opType: string;
  name: string;
  inputs: readonly string[];
  outputs: readonly string[];
  attributes?: readonly OnnxAttr[];
  doc?: string;
}

export interface OnnxInitializerSpec {
  name: string;
  dims: readonly number[];
  data: Float32Array | BigInt64Array;
}

/** A float32 tensor value; a string dimension is symbolic (e.g. the batch "N"). */
export interface OnnxValueSpec {
  name: string;
  shape: ReadonlyArray<number | string>;
}

export interface OnnxModelSpec {
  irVersion: number;
  /** Version of the default ("ai.onnx") operator set. */
  opset: number;
  producer: string;
  producerVersion?: string;
  doc?: string;
  metadata?: Record<string, string>;
  graph: {
    name: string;
    doc?: string;
    nodes: readonly OnnxNodeSpec[];
    initializers: readonly OnnxInitializerSpec[];
    inputs: readonly OnnxValueSpec[];
    outputs: readonly OnnxValueSpec[];
  };
}

const DATA_TYPE = { FLOAT: 1, INT64: 7 } as const;
const ATTR_TYPE = { FLOAT: 1, INT: 2, STRING: 3, FLOATS: 6, INTS: 7 } as const;

function attribute(a: OnnxAttr): ProtoWriter {
  const m = new ProtoWriter().string(1, a.name);
  if ('f' in a) return m.float(2, a.f).varint(20, ATTR_TYPE.FLOAT);
  if ('i' in a) return m.varint(3, a.i).varint(20, ATTR_TYPE.INT);
  if ('s' in a) return m.string(4, a.s).varint(20, ATTR_TYPE.STRING);
  if ('ints' in a) {
    for (const v of a.ints) m.varint(8, v);
    return m.varint(20, ATTR_TYPE.INTS);
  }
  for (const v of a.floats) m.float(7, v);
  return m.varint(20, ATTR_TYPE.FLOATS);
}

function node(n: OnnxNodeSpec): ProtoWriter {
  const m = new ProtoWriter();
  for (const i of n.inputs) m.string(1, i);
  for (const o of n.outputs) m.string(2, o);
  m.string(3, n.name).string(4, n.opType);
  for (const a of n.attributes ?? []) m.message(5, attribute(a));
  if (n.doc) m.string(6, n.doc);
  return m;
}

function tensor(t: OnnxInitializerSpec): ProtoWriter {
  const m = new ProtoWriter();
  for (const d of t.dims) m.varint(1, d);
  m.varint(2, t.data instanceof Float32Array ? DATA_TYPE.FLOAT : DATA_TYPE.INT64).string(8, t.name);
  let raw = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  if (!HOST_IS_LITTLE_ENDIAN) {
    raw = raw.slice();
    const k = t.data.BYTES_PER_ELEMENT;
    for (let i = 0; i < raw.length; i += k) raw.subarray(i, i + k).reverse();
  }
  return m.bytes(9, raw);
}

function valueInfo(v: OnnxValueSpec): ProtoWriter {
  const shape = new ProtoWriter();
  for (const d of v.shape) shape.message(1, typeof d === 'string' ? new ProtoWriter().string(2, d) : new ProtoWriter().varint(1, d));
  const tensorType = new ProtoWriter().varint(1, DATA_TYPE.FLOAT).message(2, shape);
  return new ProtoWriter().string(1, v.name).message(2, new ProtoWriter().message(1, tensorType));
}

/** The serialised ModelProto. */
export function encodeOnnxModel(spec: OnnxModelSpec): Uint8Array {
  const g = new ProtoWriter();
  for (const n of spec.graph.nodes) g.message(1, node(n));
  g.string(2, spec.graph.name);
  for (const t of spec.graph.initializers) g.message(5, tensor(t));
  if (spec.graph.doc) g.string(10, spec.graph.doc);
  for (const v of spec.graph.inputs) g.message(11, valueInfo(v));
  for (const v of spec.graph.outputs) g.message(12, valueInfo(v));

  const m = new ProtoWriter().varint(1, spec.irVersion).string(2, spec.producer);
  if (spec.producerVersion) m.string(3, spec.producerVersion);
  if (spec.doc) m.string(6, spec.doc);
  m.message(7, g);
  m.message(8, new ProtoWriter().string(1, '').varint(2, spec.opset));
  for (const [key, value] of Object.entries(spec.metadata ?? {})) m.message(14, new ProtoWriter().string(1, key).string(2, value));
  return m.finish();
}
