/**
 * Tile grids, shared by the filter pictures (filters.ts) and the feature maps (activations.ts):
 * equal tiles in rows and columns, separated and framed by a border, read left to right then top
 * to bottom. Also the two normalisations that turn floats into 0..255 and the nearest-neighbour
 * enlargement of a tile.
 */

import { type Canvas, type Color, type Rect, setPixel } from './canvas.js';

/** The colour between and around tiles (the paper's Figure 3 shows its kernels on white). */
export const GRID_BORDER: Color = [255, 255, 255];

export interface GridLayout {
  /** The whole grid, border included. */
  box: Rect;
  columns: number;
  rows: number;
  /** Where tile i (in reading order) goes. */
  tiles: Rect[];
}

/**
 * `count` tiles of tileWidth x tileHeight in `columns` columns, `border` pixels between tiles and
 * around them, the grid's top-left corner at (x, y):
 *
 *   tile i at column i % columns, row floor(i / columns):
 *     x + border + column * (tileWidth + border),  y + border + row * (tileHeight + border)
 */
export function gridLayout(count: number, tileWidth: number, tileHeight: number, columns: number, border: number, x = 0, y = 0): GridLayout {
  const cols = Math.max(1, Math.min(columns, count));
  const rows = Math.max(1, Math.ceil(count / cols));
  const tiles: Rect[] = [];
  for (let i = 0; i < count; i++) {
    const col = i % cols;
    const row = Math.floor(i / cols);
    tiles.push({ x: x + border + col * (tileWidth + border), y: y + border + row * (tileHeight + border), width: tileWidth, height: tileHeight });
  }
  const box = { x, y, width: border + cols * (tileWidth + border), height: border + rows * (tileHeight + border) };
  return { box, columns: cols, rows, tiles };
}

/**
 * Columns for `count` tiles in a near-square grid: ceil(sqrt(count)), or, if one exists not much
 * wider, the smallest divisor of count at least sqrt(count), so that the last row is full
 * (96 -> 12 x 8, 48 -> 8 x 6, 64 -> 8 x 8, 256 -> 16 x 16).
 */
export function squareColumns(count: number): number {
  return columnsNear(count, Math.sqrt(count));
}

/** The smallest divisor of count that is at least `target` (and at most 1.5 target), else ceil(target). */
export function columnsNear(count: number, target: number): number {
  const lo = Math.max(1, Math.ceil(target - 1e-9));
  for (let d = lo; d <= Math.min(count, Math.floor(1.5 * target)); d++) if (count % d === 0) return d;
  return Math.min(count, lo);
}

/** Maps values to bytes: lo -> 0, hi -> 255, linearly; if hi == lo, everything is `flat`. */
export function toByte(v: number, lo: number, hi: number, flat: number): number {
  if (!(hi > lo)) return flat;
  return Math.round((255 * (v - lo)) / (hi - lo));
}

/**
 * Draws a tile of tileW x tileH source pixels, each enlarged to a scale x scale square (nearest
 * neighbour), with its top-left corner at `r`: pixel (i, j) of the source has colour color(i, j).
 */
export function drawTile(c: Canvas, r: Rect, tileW: number, tileH: number, scale: number, color: (i: number, j: number) => Color): void {
  for (let j = 0; j < tileH; j++) {
    for (let i = 0; i < tileW; i++) {
      const rgb = color(i, j);
      for (let v = 0; v < scale; v++) for (let u = 0; u < scale; u++) setPixel(c, r.x + i * scale + u, r.y + j * scale + v, rgb);
    }
  }
}
