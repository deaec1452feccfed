/**
 * Reading fixtures/images/ (written by fixtures/make_image_fixtures.py; versions in manifest.json).
 *
 * An expected array is stored whole (`npy`) when small. When large, the manifest holds the SHA-256
 * of its C-order bytes and a .npy of every `stride`-th element (`samples`): exact equality is
 * checked with the hash, and the samples say where and by how much a mismatch is.
 */

import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import { UserError } from '../../src/errors.js';
import { parseNpy } from '../../src/formats/npy.js';

export const IMAGES = fileURLToPath(new URL('../../fixtures/images/', import.meta.url));

export const imageFixture = (rel: string): Uint8Array => new Uint8Array(readFileSync(IMAGES + rel));

export interface Expected {
  dtype: 'uint8' | 'float32';
  shape: number[];
  sha256: string;
  npy?: string;
  samples?: string;
  [key: string]: unknown;
}

export interface Manifest {
  stride: number;
  pillow: string;
  libjpeg_turbo: string;
  torchvision: string;
  decoded: Record<string, Expected & { pillow_mode: string; note: string }>;
  resize: Record<string, Expected & { source: string; mode: 'RGB' | 'L'; width: number; height: number; note: string }>;
  preset: Record<string, Expected & { source?: string; uint8_sha256?: string }>;
  bad: Record<string, { what: string; pillow?: string }>;
}

export const manifest: Manifest = JSON.parse(readFileSync(IMAGES + 'manifest.json', 'utf8'));

export function sha256(data: ArrayBufferView): string {
  return createHash('sha256').update(new Uint8Array(data.buffer, data.byteOffset, data.byteLength)).digest('hex');
}

/** The stored expected array (whole, or its strided samples) as numbers. */
function expectedValues(e: Expected): { values: ArrayLike<number>; stride: number } {
  const file = e.npy ?? e.samples!;
  const npy = parseNpy(imageFixture(file));
  return { values: npy.data as ArrayLike<number>, stride: e.npy ? 1 : manifest.stride };
}

export interface Difference {
  max: number;
  mean: number;
  /** First index (into the flattened array) where the difference is max. */
  at: number;
  count: number;
}

/** Max and mean absolute difference between `actual` and the stored values it is compared with. */
export function difference(actual: ArrayLike<number>, e: Expected): Difference {
  const { values, stride } = expectedValues(e);
  let max = 0, sum = 0, at = -1;
  for (let i = 0; i < values.length; i++) {
    const d = Math.abs(actual[i * stride] - values[i]);
    sum += d;
    if (d > max) { max = d; at = i * stride; }
  }
  return { max, mean: sum / values.length, at, count: values.length };
}

/** Exact equality with the expected array: element by element (or samples), then the hash. */
export function expectExact(actual: Uint8Array | Float32Array, e: Expected, what: string): void {
  expect(actual.length, `${what}: element count`).toBe(e.shape.reduce((a, b) => a * b, 1));
  const d = difference(actual, e);
  expect(d.max, `${what}: first largest difference at flat index ${d.at}`).toBe(0);
  expect(sha256(actual), `${what}: SHA-256 of all ${actual.length} elements`).toBe(e.sha256);
}

export function expectUserError(fn: () => unknown, message: string): void {
  let thrown: unknown;
  try {
    fn();
  } catch (e) {
    thrown = e;
  }
  expect(thrown, `expected UserError "${message}"`).toBeInstanceOf(UserError);
  expect((thrown as Error).message).toBe(message);
}
