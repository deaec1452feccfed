/**
 * A minimal reader of the protocol buffers wire format, enough to walk ONNX models and Caffe
 * .caffemodel files without their .proto compiled in: fields are read by number, and the caller
 * knows what each number means.
 *
 * Wire format (https://protobuf.dev/programming-guides/encoding/): a message is a sequence of
 * fields, each a varint tag `(field number << 3) | wire type` followed by its value:
 *
 *   wire type 0  VARINT  int32, int64, uint32, uint64, bool, enum: base-128 varint, low 7 bits
 *                        first, high bit set on every byte but the last (at most 10 bytes).
 *                        Negative int32/int64 are their 64-bit two's complement (10 bytes).
 *   wire type 1  I64     fixed64, sfixed64, double: 8 bytes little-endian
 *   wire type 2  LEN     string, bytes, sub-messages, packed repeated fields: varint length, bytes
 *   wire type 5  I32     fixed32, sfixed32, float: 4 bytes little-endian
 *   (3 and 4, the deprecated groups, do not occur in ONNX or Caffe and are refused.)
 *
 * A repeated scalar may be written packed (one LEN field holding all the values back to back,
 * the proto3 default and `[packed = true]` in proto2) or unpacked (one field per value); parsers
 * must accept both, and so do the helpers here. Fields may appear in any order and repeat.
 *
 * Packed floats come back as a Float32Array view on the input when they are 4-byte aligned in
 * memory (no copy for the large weight blobs), else as a copy.
 */

import { UserError } from '../errors.js';

export const WireType = { Varint: 0, I64: 1, Len: 2, I32: 5 } as const;
export type WireType = (typeof WireType)[keyof typeof WireType];

export interface ProtoField {
  /** Field number from the tag. */
  number: number;
  wireType: WireType;
  /** Offset of the tag in `bytes`. */
  at: number;
  /** The value: for LEN the bytes after the length, for I32/I64 the 4 or 8 bytes, for VARINT the encoded bytes. */
  start: number;
  end: number;
  /** VARINT only: the value as unsigned 64 bits, low and high 32-bit halves. */
  lo: number;
  hi: number;
}

const HOST_IS_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Reads the varint at `pos`: [low 32 bits, high 32 bits, next position]. */
function readVarint(bytes: Uint8Array, pos: number, what: string): [number, number, number] {
  let lo = 0;
  let hi = 0;
  for (let i = 0; i < 10; i++) {
    if (pos >= bytes.length) throw new UserError(`corrupt protobuf: ${what} at byte ${pos} runs past the end of the data`);
    const b = bytes[pos++];
    const bits = b & 0x7f;
    if (i < 4) lo |= bits << (7 * i);
    else if (i === 4) {
      lo |= (bits & 0x0f) << 28;
      hi |= bits >> 4;
    } else hi |= bits << (7 * i - 32);
    if ((b & 0x80) === 0) return [lo >>> 0, hi >>> 0, pos];
  }
  throw new UserError(`corrupt protobuf: ${what} at byte ${pos - 10} is longer than 10 bytes`);
}

/**
 * The fields of the message in bytes[start, end), in order. Throws UserError (corrupt protobuf)
 * on a truncated value, a length past the end, or an invalid wire type.
 */
export function readFields(bytes: Uint8Array, start = 0, end = bytes.length): ProtoField[] {
  const fields: ProtoField[] = [];
  let pos = start;
  while (pos < end) {
    const at = pos;
    const [tagLo, tagHi, afterTag] = readVarint(bytes, pos, 'field tag');
    if (afterTag > end) throw new UserError(`corrupt protobuf: field tag at byte ${at} runs past the end of its message`);
    if (tagHi !== 0 || tagLo >>> 3 === 0) throw new UserError(`corrupt protobuf: invalid field tag ${tagLo >>> 3} at byte ${at}`);
    const number = tagLo >>> 3;
    const wireType = tagLo & 7;
    pos = afterTag;
    let valueStart = pos;
    let lo = 0;
    let hi = 0;
    switch (wireType) {
      case WireType.Varint:
        [lo, hi, pos] = readVarint(bytes, pos, `varint of field ${number}`);
        break;
      case WireType.I64:
        pos += 8;
        break;
      case WireType.I32:
        pos += 4;
        break;
      case WireType.Len: {
        const [lengthLo, lengthHi, afterLength] = readVarint(bytes, pos, `length of field ${number}`);
        const length = lengthHi * 2 ** 32 + lengthLo;
        valueStart = afterLength;
        pos = afterLength + length;
        if (pos > end) {
          throw new UserError(
            `corrupt protobuf: field ${number} at byte ${at} says ${length} bytes but only ${Math.max(0, end - afterLength)} remain (truncated file?)`,
          );
        }
        break;
      }
      default:
        throw new UserError(`corrupt protobuf: field ${number} at byte ${at} has wire type ${wireType}, which is invalid or unsupported (groups)`);
    }
    if (pos > end) throw new UserError(`corrupt protobuf: field ${number} at byte ${at} runs past the end of its message (truncated file?)`);
    fields.push({ number, wireType: wireType as WireType, at, start: valueStart, end: pos, lo, hi });
  }
  return fields;
}

function expectWire(f: ProtoField, wire: WireType, what: string): void {
  if (f.wireType !== wire) {
    throw new UserError(`corrupt protobuf: field ${f.number} at byte ${f.at} has wire type ${f.wireType}, expected ${wire} for ${what}`);
  }
}

/** A VARINT field as a signed 64-bit integer (int64, int32, enum), exact within ±2^53. */
export function int64(f: ProtoField): number {
  expectWire(f, WireType.Varint, 'an integer');
  return combineSigned(f.lo, f.hi, f);
}

/** A VARINT field as an unsigned integer (uint64, uint32), exact below 2^53. */
export function uint64(f: ProtoField): number {
  expectWire(f, WireType.Varint, 'an integer');
  const v = f.hi * 2 ** 32 + f.lo;
  if (v > Number.MAX_SAFE_INTEGER) throw new UserError(`protobuf field ${f.number} at byte ${f.at} holds ${v}, too large`);
  return v;
}

export function bool(f: ProtoField): boolean {
  expectWire(f, WireType.Varint, 'a bool');
  return f.lo !== 0 || f.hi !== 0;
}

function combineSigned(lo: number, hi: number, f: ProtoField): number {
  // hi >= 2^31 means negative: value = (hi - 2^32) * 2^32 + lo.
  const v = (hi >= 0x80000000 ? hi - 0x100000000 : hi) * 2 ** 32 + lo;
  if (!Number.isSafeInteger(v)) throw new UserError(`protobuf field ${f.number} at byte ${f.at} holds an integer beyond ±2^53`);
  return v;
}

/** An I32 field as a float. */
export function float32(bytes: Uint8Array, f: ProtoField): number {
  expectWire(f, WireType.I32, 'a float');
  return new DataView(bytes.buffer, bytes.byteOffset + f.start, 4).getFloat32(0, true);
}

/** An I64 field as a double. */
export function float64(bytes: Uint8Array, f: ProtoField): number {
  expectWire(f, WireType.I64, 'a double');
  return new DataView(bytes.buffer, bytes.byteOffset + f.start, 8).getFloat64(0, true);
}

/** A LEN field's bytes (a view). */
export function lenBytes(bytes: Uint8Array, f: ProtoField): Uint8Array {
  expectWire(f, WireType.Len, 'bytes');
  return bytes.subarray(f.start, f.end);
}

const utf8 = new TextDecoder('utf-8');

export function string(bytes: Uint8Array, f: ProtoField): string {
  return utf8.decode(lenBytes(bytes, f));
}

/** A LEN field read as a sub-message. */
export function message(bytes: Uint8Array, f: ProtoField): ProtoField[] {
  expectWire(f, WireType.Len, 'a message');
  return readFields(bytes, f.start, f.end);
}

/**
 * Little-endian float32 values as a Float32Array: a view on `bytes` when aligned (and the host
 * is little-endian), else a copy.
 */
export function float32Array(bytes: Uint8Array, start: number, byteLength: number): Float32Array {
  if (byteLength % 4 !== 0) throw new UserError(`corrupt protobuf: ${byteLength} bytes of floats at byte ${start} is not a multiple of 4`);
  const n = byteLength / 4;
  if (HOST_IS_LITTLE_ENDIAN) {
    if ((bytes.byteOffset + start) % 4 === 0) return new Float32Array(bytes.buffer, bytes.byteOffset + start, n);
    // Unaligned: one memcpy into a fresh (aligned) buffer. Uint8Array.prototype.slice copies even for a Node Buffer.
    return new Float32Array(Uint8Array.prototype.slice.call(bytes, start, start + byteLength).buffer, 0, n);
  }
  const out = new Float32Array(n);
  const view = new DataView(bytes.buffer, bytes.byteOffset + start, byteLength);
  for (let i = 0; i < n; i++) out[i] = view.getFloat32(4 * i, true);
  return out;
}

/**
 * All values of a repeated float field (number `number`) among `fields`, packed or not, in order.
 * A single packed run is returned without copying when aligned.
 */
export function repeatedFloat32(bytes: Uint8Array, fields: ProtoField[], number: number): Float32Array {
  const mine = fields.filter((f) => f.number === number);
  if (mine.length === 1 && mine[0].wireType === WireType.Len) return float32Array(bytes, mine[0].start, mine[0].end - mine[0].start);
  const parts: Float32Array[] = [];
  for (const f of mine) {
    if (f.wireType === WireType.Len) parts.push(float32Array(bytes, f.start, f.end - f.start));
    else parts.push(Float32Array.of(float32(bytes, f)));
  }
  return concatFloat32(parts);
}

/** All values of a repeated double field, packed or not, rounded to float32. */
export function repeatedFloat64AsFloat32(bytes: Uint8Array, fields: ProtoField[], number: number): Float32Array {
  const values: number[] = [];
  for (const f of fields) {
    if (f.number !== number) continue;
    if (f.wireType === WireType.Len) {
      if ((f.end - f.start) % 8 !== 0) throw new UserError(`corrupt protobuf: packed doubles of field ${number} at byte ${f.at} are not a multiple of 8 bytes`);
      const view = new DataView(bytes.buffer, bytes.byteOffset + f.start, f.end - f.start);
      for (let i = 0; i < view.byteLength; i += 8) values.push(view.getFloat64(i, true));
    } else values.push(float64(bytes, f));
  }
  return Float32Array.from(values);
}

/** All values of a repeated int64/int32/enum field, packed or not, in order. */
export function repeatedInt64(bytes: Uint8Array, fields: ProtoField[], number: number): number[] {
  const values: number[] = [];
  for (const f of fields) {
    if (f.number !== number) continue;
    if (f.wireType === WireType.Len) {
      let pos = f.start;
      while (pos < f.end) {
        const [lo, hi, next] = readVarint(bytes, pos, `packed integer of field ${number}`);
        if (next > f.end) throw new UserError(`corrupt protobuf: packed integers of field ${number} at byte ${f.at} run past their length`);
        values.push(combineSigned(lo, hi, f));
        pos = next;
      }
    } else values.push(int64(f));
  }
  return values;
}

function concatFloat32(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** The last field with this number (protobuf's rule for a non-repeated field seen twice). */
export function lastField(fields: ProtoField[], number: number): ProtoField | undefined {
  for (let i = fields.length - 1; i >= 0; i--) if (fields[i].number === number) return fields[i];
  return undefined;
}
