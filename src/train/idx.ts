/**
 * The IDX format of MNIST and Fashion-MNIST (http://yann.lecun.com/exdb/mnist/, "FILE FORMATS"):
 *   magic: two zero bytes, a type byte (0x08 = unsigned byte), the number of dimensions;
 *   then each dimension as a big-endian uint32; then the data, row-major.
 * Images files are [count, rows, cols] of uint8, label files [count] of uint8.
 * Takes the decompressed bytes (the .gz is undone at the file edge).
 */

import { UserError } from '../errors.js';

export interface IdxArray {
  shape: number[];
  data: Uint8Array;
}

export function parseIdx(bytes: Uint8Array): IdxArray {
  if (bytes.length < 4 || bytes[0] !== 0 || bytes[1] !== 0) throw new UserError('not an IDX file (bad magic)');
  if (bytes[2] !== 0x08) throw new UserError(`IDX element type 0x${bytes[2].toString(16)} is not supported (only unsigned bytes, 0x08)`);
  const rank = bytes[3];
  const headerLength = 4 + 4 * rank;
  if (bytes.length < headerLength) throw new UserError('truncated IDX header');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const shape = Array.from({ length: rank }, (_, i) => view.getUint32(4 + 4 * i, false));
  const count = shape.reduce((a, b) => a * b, 1);
  if (bytes.length - headerLength !== count) {
    throw new UserError(`IDX header declares ${count} bytes of data [${shape.join(', ')}] but the file has ${bytes.length - headerLength}`);
  }
  return { shape, data: bytes.subarray(headerLength) };
}
