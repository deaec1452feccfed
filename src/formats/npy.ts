/**
 * NumPy .npy files: one array, read from and written to bytes (no file system here).
 *
 * Format (https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html):
 *
 *   offset 0   6 bytes   magic "\x93NUMPY"
 *   offset 6   2 bytes   major, minor version: 1.0, 2.0 or 3.0
 *   offset 8   u16 LE    header length HLEN (version 1.0); u32 LE at offset 8 for 2.0 and 3.0
 *   then       HLEN      the header: a Python dict literal, latin-1 (1.0, 2.0) or UTF-8 (3.0),
 *                        padded with spaces and ended by '\n', e.g.
 *                        {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
 *   then       the data: prod(shape) elements of `descr`, C order, no padding
 *
 * `descr` is a dtype string: byte order ('<' little, '>' big, '|' not applicable), kind and size
 * in bytes. We read `<f4 <f8 <i4 <i8 |u1` and the big-endian floats `>f4 >f8` (swapped to host
 * order on read) and refuse everything else by name, including Fortran-order arrays.
 *
 * The header is parsed as a literal (strings, integers, True/False/None, tuples, lists, dicts),
 * never evaluated, which is also all numpy's own reader accepts (it uses ast.literal_eval).
 *
 * The writer reproduces numpy's bytes (np.save in numpy 1.24): keys sorted, `repr` of each value,
 * then spare spaces so the first axis can grow to 21 digits in place, then spaces and '\n' so that
 * magic + length + header is a multiple of 64 bytes (64 rather than 0 when already aligned, as
 * numpy computes it). Version 1.0 unless the header is longer than a u16 can count, then 2.0.
 */

import { UserError } from '../errors.js';

export type NpyDtype = 'float32' | 'float64' | 'int32' | 'int64' | 'uint8';
export type NpyData = Float32Array | Float64Array | Int32Array | BigInt64Array | Uint8Array;

export interface NpyArray {
  dtype: NpyDtype;
  shape: number[];
  data: NpyData;
}

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // "\x93NUMPY"
/** numpy's ARRAY_ALIGN: header end (= data start) is a multiple of this. */
const ARRAY_ALIGN = 64;
/** numpy's GROWTH_AXIS_MAX_DIGITS: room left in the header for the first axis to grow. */
const GROWTH_AXIS_MAX_DIGITS = 21;

/** The little-endian descr numpy writes for each dtype, and the element size in bytes. */
const DESCR: Record<NpyDtype, { descr: string; itemsize: number }> = {
  float32: { descr: '<f4', itemsize: 4 },
  float64: { descr: '<f8', itemsize: 8 },
  int32: { descr: '<i4', itemsize: 4 },
  int64: { descr: '<i8', itemsize: 8 },
  uint8: { descr: '|u1', itemsize: 1 },
};

/** Every descr we read: dtype and whether the file's bytes are big-endian. */
const READABLE: Record<string, { dtype: NpyDtype; bigEndian: boolean }> = {
  '<f4': { dtype: 'float32', bigEndian: false },
  '<f8': { dtype: 'float64', bigEndian: false },
  '<i4': { dtype: 'int32', bigEndian: false },
  '<i8': { dtype: 'int64', bigEndian: false },
  '|u1': { dtype: 'uint8', bigEndian: false },
  '>f4': { dtype: 'float32', bigEndian: true },
  '>f8': { dtype: 'float64', bigEndian: true },
};
const READABLE_LIST = '<f4, <f8, <i4, <i8, |u1 and big-endian >f4, >f8';

const HOST_IS_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

// ---------------------------------------------------------------------------------------------
// Reading

export function parseNpy(bytes: Uint8Array): NpyArray {
  if (bytes.length < MAGIC.length || MAGIC.some((b, i) => bytes[i] !== b)) {
    throw new UserError('not a .npy file (bad magic)');
  }
  if (bytes.length < 8) throw new UserError(`truncated .npy file: ${bytes.length} bytes end inside the preamble`);
  const major = bytes[6];
  const minor = bytes[7];
  if (!((major === 1 || major === 2 || major === 3) && minor === 0)) {
    throw new UserError(`unsupported .npy format version ${major}.${minor} (this reader knows 1.0, 2.0 and 3.0)`);
  }
  // Version 1.0 counts the header in a u16, 2.0 and 3.0 in a u32 (for dicts over 64 KiB).
  const lengthBytes = major === 1 ? 2 : 4;
  const headerStart = 8 + lengthBytes;
  if (bytes.length < headerStart) {
    throw new UserError(`truncated .npy file: ${bytes.length} bytes end inside the preamble`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const dataStart = headerStart + headerLength;
  if (dataStart > bytes.length) {
    throw new UserError(`header length ${headerLength} runs past the end of the file (${bytes.length} bytes)`);
  }

  const headerBytes = bytes.subarray(headerStart, dataStart);
  const headerText = major === 3 ? decodeUtf8(headerBytes) : decodeLatin1(headerBytes);
  const { dtype, bigEndian, shape } = readHeader(headerText);

  const { itemsize } = DESCR[dtype];
  const count = shape.reduce((n, d) => n * d, 1);
  const declared = count * itemsize;
  const available = bytes.length - dataStart;
  if (declared !== available) {
    throw new UserError(`header declares ${declared} bytes of data but the file has ${available}`);
  }

  // Copy into a fresh ArrayBuffer: the data start need not be a multiple of the element size
  // (numpy aligns it to 64, other writers may not), and typed arrays need aligned offsets.
  // (Uint8Array.prototype.slice, not bytes.slice: on a Node Buffer .slice is a view, not a copy.)
  const copy = Uint8Array.prototype.slice.call(bytes, dataStart, dataStart + declared);
  if (bigEndian === HOST_IS_LITTLE_ENDIAN) swapBytes(copy, itemsize);
  return { dtype, shape, data: typedArray(dtype, copy.buffer, count) };
}

/** Checks the header dict and pulls out dtype, byte order and shape. */
function readHeader(text: string): { dtype: NpyDtype; bigEndian: boolean; shape: number[] } {
  const header = parsePythonLiteral(text);
  if (!(header instanceof Map)) throw new UserError('malformed .npy header: not a dict');
  for (const key of ['descr', 'fortran_order', 'shape']) {
    if (!header.has(key)) throw new UserError(`malformed .npy header: no '${key}' key`);
  }
  for (const key of header.keys()) {
    if (key !== 'descr' && key !== 'fortran_order' && key !== 'shape') {
      throw new UserError(`malformed .npy header: unexpected key '${key}'`);
    }
  }

  const descr = header.get('descr');
  if (typeof descr !== 'string') {
    throw new UserError('structured dtypes (a list of fields as descr) are not supported');
  }
  const readable = Object.hasOwn(READABLE, descr) ? READABLE[descr] : undefined;
  if (!readable) {
    if (/^[<>|=]?O\d*$/.test(descr)) {
      throw new UserError(`dtype '${descr}' holds pickled Python objects, which are not supported`);
    }
    throw new UserError(`dtype '${descr}' is not supported; supported: ${READABLE_LIST}`);
  }

  const fortranOrder = header.get('fortran_order');
  if (typeof fortranOrder !== 'boolean') throw new UserError("malformed .npy header: 'fortran_order' is not True or False");
  if (fortranOrder) {
    throw new UserError('Fortran-order arrays are not supported; save with np.ascontiguousarray');
  }

  const shapeValue = header.get('shape');
  if (!isTuple(shapeValue) || !shapeValue.tuple.every((d) => typeof d === 'number' && d >= 0)) {
    throw new UserError("malformed .npy header: 'shape' is not a tuple of non-negative integers");
  }
  return { dtype: readable.dtype, bigEndian: readable.bigEndian, shape: shapeValue.tuple as number[] };
}

// ---------------------------------------------------------------------------------------------
// Writing

export function writeNpy(a: NpyArray): Uint8Array {
  const { descr, itemsize } = DESCR[a.dtype];
  if (!(a.data instanceof arrayConstructor(a.dtype))) {
    throw new Error(`writeNpy: dtype ${a.dtype} does not match data of type ${a.data.constructor.name}`);
  }
  const count = a.shape.reduce((n, d) => n * d, 1);
  if (!a.shape.every((d) => Number.isSafeInteger(d) && d >= 0) || count !== a.data.length) {
    throw new Error(`writeNpy: shape [${a.shape.join(', ')}] does not fit ${a.data.length} elements`);
  }

  // The dict exactly as numpy's _write_array_header spells it: sorted keys, repr values.
  let dict = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${pythonTupleRepr(a.shape)}, }`;
  if (a.shape.length > 0) dict += ' '.repeat(Math.max(0, GROWTH_AXIS_MAX_DIGITS - String(a.shape[0]).length));
  const dictBytes = new TextEncoder().encode(dict); // ASCII: the same bytes as latin-1

  // Version 1.0 unless the header does not fit its u16 length, then 2.0 (numpy's choice too).
  let major = 1;
  let headerStart = 10;
  let padding = paddingFor(headerStart, dictBytes.length);
  if (dictBytes.length + padding + 1 > 0xffff) {
    major = 2;
    headerStart = 12;
    padding = paddingFor(headerStart, dictBytes.length);
  }
  const headerLength = dictBytes.length + padding + 1; // + 1 for the final '\n'
  const dataStart = headerStart + headerLength;

  const out = new Uint8Array(dataStart + count * itemsize);
  out.set(MAGIC, 0);
  out[6] = major;
  out[7] = 0;
  const view = new DataView(out.buffer);
  if (major === 1) view.setUint16(8, headerLength, true);
  else view.setUint32(8, headerLength, true);
  out.set(dictBytes, headerStart);
  out.fill(0x20, headerStart + dictBytes.length, dataStart - 1); // spaces
  out[dataStart - 1] = 0x0a; // '\n'

  const dataBytes = out.subarray(dataStart);
  dataBytes.set(new Uint8Array(a.data.buffer, a.data.byteOffset, a.data.byteLength));
  if (!HOST_IS_LITTLE_ENDIAN) swapBytes(dataBytes, itemsize);
  return out;
}

/** numpy's padlen: spaces so that preamble + dict + padding + '\n' is a multiple of 64 (1..64). */
function paddingFor(headerStart: number, dictLength: number): number {
  return ARRAY_ALIGN - ((headerStart + dictLength + 1) % ARRAY_ALIGN);
}

/** Python's repr of a tuple of ints: (), (5,), (2, 3). */
function pythonTupleRepr(shape: readonly number[]): string {
  if (shape.length === 1) return `(${shape[0]},)`;
  return `(${shape.join(', ')})`;
}

// ---------------------------------------------------------------------------------------------
// Bytes and typed arrays

function arrayConstructor(dtype: NpyDtype) {
  switch (dtype) {
    case 'float32': return Float32Array;
    case 'float64': return Float64Array;
    case 'int32': return Int32Array;
    case 'int64': return BigInt64Array;
    case 'uint8': return Uint8Array;
  }
}

function typedArray(dtype: NpyDtype, buffer: ArrayBuffer, count: number): NpyData {
  return new (arrayConstructor(dtype))(buffer, 0, count);
}

/** Reverses the bytes of each `itemsize`-byte element in place (big <-> little endian). */
function swapBytes(bytes: Uint8Array, itemsize: number): void {
  if (itemsize === 1) return;
  for (let i = 0; i < bytes.length; i += itemsize) {
    for (let lo = i, hi = i + itemsize - 1; lo < hi; lo++, hi--) {
      const t = bytes[lo];
      bytes[lo] = bytes[hi];
      bytes[hi] = t;
    }
  }
}

/** Latin-1 maps each byte to the code point of the same value. (TextDecoder('latin1') is
 *  windows-1252 by the WHATWG Encoding standard, which differs in 0x80..0x9f, so not used.) */
function decodeLatin1(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return s;
}

function decodeUtf8(bytes: Uint8Array): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new UserError('malformed .npy header: not valid UTF-8 (required by format version 3.0)');
  }
}

// ---------------------------------------------------------------------------------------------
// The header's Python literal

type PyValue = string | number | boolean | null | { tuple: PyValue[] } | { list: PyValue[] } | Map<string, PyValue>;

function isTuple(v: PyValue | undefined): v is { tuple: PyValue[] } {
  return typeof v === 'object' && v !== null && !(v instanceof Map) && 'tuple' in v;
}

/**
 * A recursive-descent reader for the Python literals a .npy header can hold:
 *   value := string | int | True | False | None | '(' items ')' | '[' items ']' | '{' pairs '}'
 * with optional trailing commas, as Python allows. Integers may carry Python 2's 'L' suffix,
 * which old numpy versions wrote into shapes. Trailing whitespace (the padding) is skipped.
 */
function parsePythonLiteral(text: string): PyValue {
  let pos = 0;
  // Positions in messages count characters of the header from 1.
  const fail = (what: string, at = pos): never => {
    throw new UserError(`malformed .npy header at character ${at + 1}: ${what}`);
  };
  const skipSpace = () => {
    while (pos < text.length && ' \t\r\n'.includes(text[pos])) pos++;
  };
  const expect = (c: string) => {
    skipSpace();
    if (text[pos] !== c) fail(`expected '${c}'`);
    pos++;
  };

  // Items up to `close`, separated by commas, a trailing comma allowed. Returns the comma count.
  const sequence = (close: string, item: () => void): number => {
    let commas = 0;
    skipSpace();
    while (text[pos] !== close) {
      if (pos >= text.length) fail(`expected '${close}'`);
      item();
      skipSpace();
      if (text[pos] === ',') {
        pos++;
        commas++;
      } else if (text[pos] !== close) {
        fail(`expected ',' or '${close}'`);
      }
      skipSpace();
    }
    pos++;
    return commas;
  };

  const value = (): PyValue => {
    skipSpace();
    const c = text[pos];
    if (c === "'" || c === '"') return string();
    if (c === '(') {
      pos++;
      const items: PyValue[] = [];
      const commas = sequence(')', () => items.push(value()));
      // (x) without a comma is x in parentheses, not a tuple: Python's (5) is the int 5.
      if (items.length === 1 && commas === 0) return items[0];
      return { tuple: items };
    }
    if (c === '[') {
      pos++;
      const items: PyValue[] = [];
      sequence(']', () => items.push(value()));
      return { list: items };
    }
    if (c === '{') {
      pos++;
      const dict = new Map<string, PyValue>();
      sequence('}', () => {
        skipSpace();
        const keyStart = pos;
        const key = value();
        if (typeof key !== 'string') fail('dict keys must be strings', keyStart);
        expect(':');
        dict.set(key as string, value());
      });
      return dict;
    }
    const start = pos;
    const word = /^(-?\d+)[lL]?|^True|^False|^None/.exec(text.slice(pos, pos + 40));
    if (!word) return fail('expected a value');
    pos += word[0].length;
    if (word[0] === 'True') return true;
    if (word[0] === 'False') return false;
    if (word[0] === 'None') return null;
    const n = Number(word[1]);
    if (!Number.isSafeInteger(n)) fail(`integer ${word[1]} is too large`, start);
    return n;
  };

  const string = (): string => {
    const start = pos;
    const quote = text[pos++];
    let s = '';
    while (pos < text.length && text[pos] !== quote) {
      if (text[pos] === '\\') pos++; // \' and \\: keep the escaped character
      s += text[pos++];
    }
    if (pos >= text.length) fail('unterminated string', start);
    pos++;
    return s;
  };

  const result = value();
  skipSpace();
  if (pos !== text.length) fail('unexpected text after the dict');
  return result;
}
