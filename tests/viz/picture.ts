/**
 * Helpers for the picture tests: every picture is checked as a decoded PNG (encodePng, then
 * pngjs's reader), so the tests see exactly the bytes a user's viewer would.
 */
import { PNG } from 'pngjs';
import { expect } from 'vitest';
import type { Canvas, Color, Rect } from '../../src/viz/canvas.js';
import { encodePng } from '../../src/viz/png.js';

export interface Picture {
  width: number;
  height: number;
  data: Uint8Array;
}

/** The canvas through PNG bytes and back. */
export function decoded(c: Canvas): Picture {
  const png = PNG.sync.read(Buffer.from(encodePng(c)));
  return { width: png.width, height: png.height, data: new Uint8Array(png.data) };
}

export function rgbAt(p: Picture, x: number, y: number): [number, number, number] {
  if (x < 0 || y < 0 || x >= p.width || y >= p.height) throw new Error(`(${x}, ${y}) is outside ${p.width} x ${p.height}`);
  const i = 4 * (y * p.width + x);
  return [p.data[i], p.data[i + 1], p.data[i + 2]];
}

export function same(a: readonly number[], b: Color): boolean {
  return a[0] === b[0] && a[1] === b[1] && a[2] === b[2];
}

/** Pixels of exactly `color` inside `r` (the whole picture if omitted). */
export function countColor(p: Picture, color: Color, r: Rect = { x: 0, y: 0, width: p.width, height: p.height }): number {
  let n = 0;
  for (let y = Math.max(0, r.y); y < Math.min(p.height, r.y + r.height); y++) {
    for (let x = Math.max(0, r.x); x < Math.min(p.width, r.x + r.width); x++) if (same(rgbAt(p, x, y), color)) n++;
  }
  return n;
}

/** Size as expected, fully opaque, and not a single flat colour. */
export function expectRealPicture(p: Picture, width: number, height: number): void {
  expect([p.width, p.height]).toEqual([width, height]);
  const colors = new Set<number>();
  for (let i = 0; i < p.data.length; i += 4) {
    colors.add((p.data[i] << 16) | (p.data[i + 1] << 8) | p.data[i + 2]);
    if (p.data[i + 3] !== 255) throw new Error(`pixel ${i / 4} is not opaque`);
  }
  expect(colors.size, 'distinct colours').toBeGreaterThan(2);
}

/** Every (x, y) of a rectangle. */
export function* pixelsOf(r: Rect): Generator<[number, number]> {
  for (let y = r.y; y < r.y + r.height; y++) for (let x = r.x; x < r.x + r.width; x++) yield [x, y];
}

export function contains(r: Rect, x: number, y: number): boolean {
  return x >= r.x && y >= r.y && x < r.x + r.width && y < r.y + r.height;
}
