/**
 * PNG encoding of a canvas, by pngjs. pngjs is written for Node and works on Buffers, so this is
 * the one file of viz/ that needs Node's Buffer; the rest of viz/ (canvas, charts, grids) is plain
 * TypeScript over Uint8Arrays and runs anywhere. (A browser can instead put the canvas's RGBA bytes
 * into an ImageData.) Writing the bytes to a file is node-viz.ts's job.
 */

import { PNG } from 'pngjs';
import type { Canvas } from './canvas.js';

/** The canvas as the bytes of an 8-bit RGBA PNG file. */
export function encodePng(canvas: Canvas): Uint8Array {
  const png = new PNG({ width: canvas.width, height: canvas.height });
  png.data.set(canvas.data);
  const buf = PNG.sync.write(png, { colorType: 6 });
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}
