/**
 * safetensors files: named tensors plus string metadata, read from and written to bytes.
 *
 * Format (https://huggingface.co/docs/safetensors/index, reference implementation
 * https://github.com/huggingface/safetensors, safetensors/src/tensor.rs):
 *
 *   offset 0   u64 LE   N, the header size in bytes (the reference refuses N > 100 000 000)
 *   offset 8   N bytes  UTF-8 JSON object, padded with trailing spaces:
 *                       {"__metadata__": {"key": "value", ...},               (optional)
 *                        "name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]}, ...}
 *   offset 8+N          the data buffer; data_offsets [begin, end) are relative to its start
 *
 * Tensors are little-endian and C (row-major) order. end - begin must equal
 * prod(shape) * sizeof(dtype); a shape containing 0 is an empty tensor with begin == end. The
 * tensors must tile the buffer exactly: sorted by offset, each begins where the previous ended
 * and the last ends at the end of the file. Overlaps are refused (two names aliasing the same
 * bytes) and so are holes (bytes that belong to no tensor, which would allow polyglot files).
 *
 * We read and write F32, F64, I32, I64 and U8 and refuse the other dtypes (F16, BF16, ...) by name.
 *
 * Reading does not copy tensor data when it can avoid it: if a tensor's bytes sit at an offset
 * of the underlying ArrayBuffer that is a multiple of its element size (always the case for
 * files written by the reference implementation, which pads the header to 8 bytes, and read
 * into a buffer of their own), its typed array is a view on `bytes`, sharing memory with it.
 * Otherwise the tensor is copied into an aligned array.
 *
 * Writing lays the tensors out contiguously in the order given (the reference sorts them by
 * alignment then name; the format does not require it), writes `__metadata__` first when there
 * is any, and pads the compact JSON header with spaces to a multiple of 8 bytes, as the
 * reference does, so that 8-byte elements stay aligned when the file is read into memory.
 */

import { UserError } from '../errors.js';
import { type Tensor, formatShape, sizeOf } from '../tensor.js';

export type SafetensorsDtype = 'F32' | 'F64' | 'I32' | 'I64' | 'U8';
export type StoredData = Float32Array | Float64Array | Int32Array | BigInt64Array | Uint8Array;

export interface StoredTensor {
  dtype: SafetensorsDtype;
  shape: number[];
  data: StoredData;
}

export interface SafetensorsFile {
  /** In the order of their data in the file. */
  tensors: Map<string, StoredTensor>;
  metadata: Record<string, string>;
}

/** The reference implementation's MAX_HEADER_SIZE. */
const MAX_HEADER_SIZE = 100_000_000;
const METADATA_KEY = '__metadata__';

const ITEMSIZE: Record<SafetensorsDtype, number> = { F32: 4, F64: 8, I32: 4, I64: 8, U8: 1 };
const SUPPORTED = 'F32, F64, I32, I64, U8';

const HOST_IS_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

// ---------------------------------------------------------------------------------------------
// Reading

interface Entry {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  begin: number;
  end: number;
}

export function parseSafetensors(bytes: Uint8Array): SafetensorsFile {
  if (bytes.length < 8) {
    throw new UserError(`not a safetensors file: ${bytes.length} bytes, too short for the 8-byte header size`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerSize = view.getBigUint64(0, true);
  if (headerSize > BigInt(MAX_HEADER_SIZE)) {
    throw new UserError(`header size ${headerSize} is over the 100 MB limit (not a safetensors file?)`);
  }
  const N = Number(headerSize);
  const bufferStart = 8 + N;
  if (bufferStart > bytes.length) {
    throw new UserError(`header size ${N} runs past the end of the file (${bytes.length} bytes)`);
  }
  const bufferLength = bytes.length - bufferStart;

  const header = readHeaderJson(bytes.subarray(8, bufferStart));
  let metadata: Record<string, string> = {};
  const entries: Entry[] = [];
  for (const [name, info] of Object.entries(header)) {
    if (name === METADATA_KEY) metadata = readMetadata(info);
    else entries.push(readEntry(name, info, bufferLength));
  }

  // The tensors must tile [0, bufferLength): no overlap, no hole. Stable sort keeps header order
  // among empty tensors at the same offset.
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let covered = 0;
  let previous: Entry | undefined;
  for (const e of entries) {
    if (e.begin < covered && previous) {
      throw new UserError(
        `tensors "${previous.name}" and "${e.name}" overlap in the data buffer ` +
          `(bytes ${previous.begin}..${previous.end} and ${e.begin}..${e.end})`,
      );
    }
    if (e.begin > covered) throw new UserError(`bytes ${covered}..${e.begin} of the data buffer belong to no tensor`);
    covered = e.end;
    previous = e;
  }
  if (covered !== bufferLength) {
    throw new UserError(`bytes ${covered}..${bufferLength} of the data buffer belong to no tensor`);
  }

  const tensors = new Map<string, StoredTensor>();
  for (const e of entries) {
    const data = tensorData(bytes, bufferStart + e.begin, e.dtype, e.end - e.begin);
    tensors.set(e.name, { dtype: e.dtype, shape: e.shape, data });
  }
  return { tensors, metadata };
}

function readHeaderJson(headerBytes: Uint8Array): Record<string, unknown> {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(headerBytes);
  } catch {
    throw new UserError('header is not valid UTF-8');
  }
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (e) {
    throw new UserError(`header is not valid JSON: ${(e as Error).message}`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) {
    throw new UserError('header is not a JSON object');
  }
  return header as Record<string, unknown>;
}

function readMetadata(info: unknown): Record<string, string> {
  if (typeof info !== 'object' || info === null || Array.isArray(info)) {
    throw new UserError(`${METADATA_KEY} is not a JSON object`);
  }
  const metadata: Record<string, string> = {};
  for (const [key, value] of Object.entries(info)) {
    if (typeof value !== 'string') {
      throw new UserError(`${METADATA_KEY} must map strings to strings, but "${key}" is ${jsonKind(value)}`);
    }
    // defineProperty, not assignment: a key "__proto__" would otherwise set the prototype.
    Object.defineProperty(metadata, key, { value, enumerable: true, writable: true, configurable: true });
  }
  return metadata;
}

/** Checks one tensor's description on its own: dtype, shape, offsets within the buffer. */
function readEntry(name: string, info: unknown, bufferLength: number): Entry {
  if (typeof info !== 'object' || info === null || Array.isArray(info)) {
    throw new UserError(`tensor "${name}" is described by ${jsonKind(info)}, not an object`);
  }
  const { dtype, shape, data_offsets: offsets } = info as Record<string, unknown>;

  if (typeof dtype !== 'string') throw new UserError(`tensor "${name}" has no dtype`);
  if (!Object.hasOwn(ITEMSIZE, dtype)) {
    throw new UserError(`tensor "${name}" is ${dtype}; only ${SUPPORTED} are supported`);
  }
  const itemsize = ITEMSIZE[dtype as SafetensorsDtype];

  if (!Array.isArray(shape) || !shape.every(isByteCount)) {
    throw new UserError(`tensor "${name}" has shape ${JSON.stringify(shape)}; expected a list of non-negative integers`);
  }
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isByteCount)) {
    throw new UserError(`tensor "${name}" has data_offsets ${JSON.stringify(offsets)}; expected [begin, end]`);
  }
  const [begin, end] = offsets as [number, number];
  if (end < begin) throw new UserError(`tensor "${name}" has data_offsets [${begin}, ${end}]: end before begin`);
  if (end > bufferLength) {
    throw new UserError(`tensor "${name}" has data_offsets [${begin}, ${end}] but the data buffer has ${bufferLength} bytes`);
  }
  // In floating point a product over 2^53 is inexact, but then it exceeds any buffer length anyway.
  const expected = sizeOf(shape) * itemsize;
  if (end - begin !== expected) {
    throw new UserError(
      `tensor "${name}" is ${dtype} ${formatShape(shape)} (${expected} bytes) ` +
        `but data_offsets [${begin}, ${end}] span ${end - begin} bytes`,
    );
  }
  return { name, dtype: dtype as SafetensorsDtype, shape: [...shape], begin, end };
}

function isByteCount(x: unknown): x is number {
  return typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
}

function jsonKind(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  return typeof v === 'object' ? 'an object' : `a ${typeof v}`;
}

/** A view on `bytes` when the offset is aligned for the element type, else an aligned copy. */
function tensorData(bytes: Uint8Array, start: number, dtype: SafetensorsDtype, byteLength: number): StoredData {
  const itemsize = ITEMSIZE[dtype];
  const count = byteLength / itemsize;
  if (dtype === 'U8') return bytes.subarray(start, start + byteLength);
  let buffer: ArrayBufferLike = bytes.buffer;
  let offset = bytes.byteOffset + start;
  if (offset % itemsize !== 0 || !HOST_IS_LITTLE_ENDIAN) {
    // Uint8Array.prototype.slice copies even when `bytes` is a Node Buffer (whose .slice is a view).
    const copy = Uint8Array.prototype.slice.call(bytes, start, start + byteLength);
    if (!HOST_IS_LITTLE_ENDIAN) swapBytes(copy, itemsize);
    buffer = copy.buffer;
    offset = 0;
  }
  switch (dtype) {
    case 'F32': return new Float32Array(buffer, offset, count);
    case 'F64': return new Float64Array(buffer, offset, count);
    case 'I32': return new Int32Array(buffer, offset, count);
    case 'I64': return new BigInt64Array(buffer, offset, count);
  }
}

// ---------------------------------------------------------------------------------------------
// Writing

export function writeSafetensors(
  tensors: Iterable<readonly [string, StoredTensor]>,
  metadata?: Record<string, string>,
): Uint8Array {
  // The header, built as a string so that keys keep the order given (a JS object would move
  // integer-like names such as "0" to the front).
  const parts: string[] = [];
  if (metadata && Object.keys(metadata).length > 0) parts.push(`${JSON.stringify(METADATA_KEY)}:${JSON.stringify(metadata)}`);
  const laidOut: StoredTensor[] = [];
  const names = new Set<string>();
  let offset = 0;
  for (const [name, t] of tensors) {
    checkWritable(name, t, names);
    names.add(name);
    const end = offset + t.data.byteLength;
    const info = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, end] };
    parts.push(`${JSON.stringify(name)}:${JSON.stringify(info)}`);
    laidOut.push(t);
    offset = end;
  }
  const json = new TextEncoder().encode(`{${parts.join(',')}}`);
  const N = Math.ceil(json.length / 8) * 8; // spaces up to a multiple of 8

  const out = new Uint8Array(8 + N + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(N), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + N);
  let at = 8 + N;
  for (const t of laidOut) {
    const dest = out.subarray(at, at + t.data.byteLength);
    dest.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
    if (!HOST_IS_LITTLE_ENDIAN) swapBytes(dest, ITEMSIZE[t.dtype]);
    at += t.data.byteLength;
  }
  return out;
}

/** Programming errors in what we were asked to write (not user input): plain Errors. */
function checkWritable(name: string, t: StoredTensor, seen: Set<string>): void {
  if (name === METADATA_KEY) throw new Error(`writeSafetensors: "${METADATA_KEY}" is reserved, not a tensor name`);
  if (seen.has(name)) throw new Error(`writeSafetensors: tensor "${name}" given twice`);
  const ctor = { F32: Float32Array, F64: Float64Array, I32: Int32Array, I64: BigInt64Array, U8: Uint8Array }[t.dtype];
  if (!ctor || !(t.data instanceof ctor)) {
    throw new Error(`writeSafetensors: tensor "${name}" is ${t.dtype} but its data is a ${t.data.constructor.name}`);
  }
  if (!t.shape.every(isByteCount) || sizeOf(t.shape) !== t.data.length) {
    throw new Error(`writeSafetensors: tensor "${name}" has shape ${formatShape(t.shape)} but ${t.data.length} elements`);
  }
}

/** Reverses the bytes of each `itemsize`-byte element in place (for big-endian hosts). */
function swapBytes(bytes: Uint8Array, itemsize: number): void {
  for (let i = 0; i < bytes.length; i += itemsize) {
    for (let lo = i, hi = i + itemsize - 1; lo < hi; lo++, hi--) {
      const t = bytes[lo];
      bytes[lo] = bytes[hi];
      bytes[hi] = t;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Float tensors (src/tensor.ts) <-> stored tensors

/** The stored tensor as a float Tensor (no copy); integer tensors are refused. */
export function toFloatTensor(t: StoredTensor, name: string): Tensor {
  if (t.data instanceof Float32Array || t.data instanceof Float64Array) {
    return { data: t.data, shape: [...t.shape] };
  }
  throw new UserError(`tensor "${name}" is ${t.dtype}, expected a float tensor`);
}

/** A float Tensor as a stored tensor: F32 for Float32Array, F64 for Float64Array (no copy). */
export function fromFloatTensor(t: Tensor): StoredTensor {
  return { dtype: t.data instanceof Float64Array ? 'F64' : 'F32', shape: [...t.shape], data: t.data };
}
