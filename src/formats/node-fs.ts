/**
 * The Node-only edge of the formats: reading and writing files. Everything else in formats/
 * works on bytes, so it also runs in a browser.
 */

import { closeSync, fstatSync, fsyncSync, mkdirSync, openSync, readFileSync, readSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { dirname, basename, join } from 'node:path';
import { UserError } from '../errors.js';
import { readsInPlace } from './load.js';

export interface ReadOptions {
  /**
   * Where the bytes go: called once with the file's size, returns the array to fill (a region of
   * the wasm backend's memory, say, so that weights are used where they were read). Default: a
   * fresh buffer.
   */
  into?: (byteLength: number) => Uint8Array;
  /** Progress through a long read: bytes done and in total. */
  onProgress?: (done: number, total: number) => void;
}

/** Bytes per read call when reading into a given array (progress is reported after each). */
const READ_CHUNK = 16 * 2 ** 20;

/** Reads a whole file; a missing or unreadable file is a UserError naming it. */
export function readBytes(path: string, options: ReadOptions = {}): Uint8Array {
  try {
    const st = statSync(path);
    if (st.isDirectory()) throw new UserError(`${path}: is a directory, expected a file`);
    if (!options.into && !options.onProgress) {
      const buf = readFileSync(path);
      return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
    }
    const fd = openSync(path, 'r');
    try {
      const size = fstatSync(fd).size;
      const out = options.into ? options.into(size) : new Uint8Array(size);
      if (out.length !== size) throw new Error(`into() gave ${out.length} bytes for a file of ${size}`);
      let done = 0;
      while (done < size) {
        const n = readSync(fd, out, done, Math.min(READ_CHUNK, size - done), done);
        if (n === 0) throw new UserError(`${path}: the file shrank while being read (${done} of ${size} bytes)`);
        done += n;
        options.onProgress?.(done, size);
      }
      return out;
    } finally {
      closeSync(fd);
    }
  } catch (e) {
    throw readError(path, e);
  }
}

/**
 * The first `n` bytes of a file (fewer if it is shorter); errors as readBytes. To decide, from a
 * file's signature, how to read the rest.
 */
export function readHead(path: string, n: number): Uint8Array {
  try {
    if (statSync(path).isDirectory()) throw new UserError(`${path}: is a directory, expected a file`);
    const fd = openSync(path, 'r');
    try {
      const out = new Uint8Array(n);
      return out.subarray(0, readSync(fd, out, 0, n, 0));
    } finally {
      closeSync(fd);
    }
  } catch (e) {
    throw readError(path, e);
  }
}

/**
 * A weight file's bytes: read into `options.into` when its format is used where it lies
 * (readsInPlace: safetensors, zip .pth), else into a fresh buffer, since the parser copies anyway.
 */
export function readWeightBytes(path: string, options: ReadOptions = {}): Uint8Array {
  const into = options.into && readsInPlace(readHead(path, 16)) ? options.into : undefined;
  return readBytes(path, { ...options, into });
}

/** A failed read as a UserError naming the file. */
function readError(path: string, e: unknown): UserError {
  if (e instanceof UserError) return e;
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return new UserError(`${path}: no such file`);
  if (code === 'EACCES') return new UserError(`${path}: permission denied`);
  return new UserError(`${path}: cannot read (${(e as Error).message})`);
}

/**
 * Writes a file atomically: to a temporary file beside it, flushed to disk, then renamed over
 * the target. A reader (or a crash) sees either the old file or the whole new one, never half.
 */
export function writeAtomic(path: string, data: Uint8Array | string): void {
  const dir = dirname(path);
  try {
    mkdirSync(dir, { recursive: true });
  } catch (e) {
    throw new UserError(`${dir}: cannot create directory (${(e as Error).message})`);
  }
  const tmp = join(dir, `.${basename(path)}.tmp-${process.pid}`);
  try {
    const fd = openSync(tmp, 'w');
    try {
      const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : data;
      let off = 0;
      while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw new UserError(`${path}: cannot write (${(e as Error).message})`);
  }
}
