/**
 * An RGBA pixel canvas and the few drawing primitives the pictures need: filled rectangles,
 * Bresenham lines, point markers, and text in the built-in bitmap font (font.ts).
 *
 * Pixels are bytes r, g, b, a in row-major order from the top-left corner:
 *
 *   data[4 * (y * width + x) + 0..3] = r, g, b, a        x in [0, width), y in [0, height)
 *
 * Everything is drawn opaque and without anti-aliasing, so every pixel of a line or a letter has
 * exactly the colour it was drawn with (the tests rely on this) and pictures stay crisp when
 * enlarged. Drawing outside the canvas, or outside an optional clip rectangle, is silently cut off.
 * No I/O here: png.ts encodes a canvas, node-viz.ts writes it to a file.
 */

import { CELL_HEIGHT, CELL_WIDTH, GLYPH_HEIGHT, GLYPH_WIDTH, glyphInk, glyphOf } from './font.js';

/** An opaque colour: red, green, blue in 0..255. */
export type Color = readonly [number, number, number];

export const WHITE: Color = [255, 255, 255];
export const BLACK: Color = [0, 0, 0];

export interface Canvas {
  readonly width: number;
  readonly height: number;
  /** RGBA bytes, [height, width, 4]. */
  readonly data: Uint8Array;
}

/** An axis-aligned rectangle of whole pixels: columns [x, x + width), rows [y, y + height). */
export interface Rect {
  x: number;
  y: number;
  width: number;
  height: number;
}

export function createCanvas(width: number, height: number, background: Color = WHITE): Canvas {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new Error(`canvas size must be positive whole pixels, got ${width} x ${height}`);
  }
  const canvas = { width, height, data: new Uint8Array(width * height * 4) };
  fillRect(canvas, { x: 0, y: 0, width, height }, background);
  return canvas;
}

/** The r, g, b, a bytes at (x, y). */
export function getPixel(c: Canvas, x: number, y: number): [number, number, number, number] {
  if (x < 0 || y < 0 || x >= c.width || y >= c.height) throw new Error(`pixel (${x}, ${y}) is outside the ${c.width} x ${c.height} canvas`);
  const i = 4 * (y * c.width + x);
  return [c.data[i], c.data[i + 1], c.data[i + 2], c.data[i + 3]];
}

function inside(c: Canvas, x: number, y: number, clip?: Rect): boolean {
  if (x < 0 || y < 0 || x >= c.width || y >= c.height) return false;
  return !clip || (x >= clip.x && y >= clip.y && x < clip.x + clip.width && y < clip.y + clip.height);
}

/** Sets one pixel (opaque); pixels outside the canvas or `clip` are ignored. */
export function setPixel(c: Canvas, x: number, y: number, color: Color, clip?: Rect): void {
  if (!inside(c, x, y, clip)) return;
  const i = 4 * (y * c.width + x);
  c.data[i] = color[0];
  c.data[i + 1] = color[1];
  c.data[i + 2] = color[2];
  c.data[i + 3] = 255;
}

export function fillRect(c: Canvas, r: Rect, color: Color): void {
  const x0 = Math.max(0, r.x);
  const y0 = Math.max(0, r.y);
  const x1 = Math.min(c.width, r.x + r.width);
  const y1 = Math.min(c.height, r.y + r.height);
  for (let y = y0; y < y1; y++) {
    for (let x = x0; x < x1; x++) {
      const i = 4 * (y * c.width + x);
      c.data[i] = color[0];
      c.data[i + 1] = color[1];
      c.data[i + 2] = color[2];
      c.data[i + 3] = 255;
    }
  }
}

/** The outline of `r`, `lineWidth` pixels thick, drawn inside the rectangle. */
export function strokeRect(c: Canvas, r: Rect, color: Color, lineWidth = 1): void {
  const w = Math.min(lineWidth, r.width, r.height);
  fillRect(c, { x: r.x, y: r.y, width: r.width, height: w }, color);
  fillRect(c, { x: r.x, y: r.y + r.height - w, width: r.width, height: w }, color);
  fillRect(c, { x: r.x, y: r.y, width: w, height: r.height }, color);
  fillRect(c, { x: r.x + r.width - w, y: r.y, width: w, height: r.height }, color);
}

export interface LineOptions {
  /** Thickness in pixels: each point of the line is a width x width square. Default 1. */
  width?: number;
  clip?: Rect;
}

/**
 * A straight line from (x0, y0) to (x1, y1), both ends included, by Bresenham's algorithm:
 * step along the line one pixel at a time, keeping the error between the ideal line and the
 * pixels drawn, and step sideways whenever it passes half a pixel. Coordinates are rounded.
 */
export function drawLine(c: Canvas, x0: number, y0: number, x1: number, y1: number, color: Color, options: LineOptions = {}): void {
  const w = options.width ?? 1;
  const off = Math.floor((w - 1) / 2); // a 2-px line covers the ideal pixel and the one after it
  let x = Math.round(x0);
  let y = Math.round(y0);
  const xe = Math.round(x1);
  const ye = Math.round(y1);
  const dx = Math.abs(xe - x);
  const dy = -Math.abs(ye - y);
  const sx = x < xe ? 1 : -1;
  const sy = y < ye ? 1 : -1;
  let err = dx + dy; // err = (distance to the ideal line) * (2 dx dy) scaled, as in Bresenham
  for (;;) {
    for (let j = 0; j < w; j++) for (let i = 0; i < w; i++) setPixel(c, x - off + i, y - off + j, color, options.clip);
    if (x === xe && y === ye) break;
    const e2 = 2 * err;
    if (e2 >= dy) {
      err += dy;
      x += sx;
    }
    if (e2 <= dx) {
      err += dx;
      y += sy;
    }
  }
}

/** A polyline through `points`; a non-finite coordinate breaks the line (a gap, not a jump). */
export function drawPolyline(c: Canvas, points: readonly (readonly [number, number])[], color: Color, options: LineOptions = {}): void {
  for (let i = 1; i < points.length; i++) {
    const [ax, ay] = points[i - 1];
    const [bx, by] = points[i];
    if ([ax, ay, bx, by].every(Number.isFinite)) drawLine(c, ax, ay, bx, by, color, options);
  }
}

export type MarkerShape = 'square' | 'circle' | 'diamond';

/**
 * A filled marker centred on (x, y): all pixels within `radius` in the maximum norm (square),
 * the Euclidean norm (circle) or the taxicab norm (diamond).
 */
export function drawMarker(c: Canvas, x: number, y: number, color: Color, shape: MarkerShape = 'circle', radius = 3, clip?: Rect): void {
  const cx = Math.round(x);
  const cy = Math.round(y);
  for (let j = -radius; j <= radius; j++) {
    for (let i = -radius; i <= radius; i++) {
      const hit = shape === 'square' ? true : shape === 'diamond' ? Math.abs(i) + Math.abs(j) <= radius : i * i + j * j <= radius * radius + radius;
      if (hit) setPixel(c, cx + i, cy + j, color, clip);
    }
  }
}

export interface TextOptions {
  /** Whole-number enlargement of the 5 x 9 glyphs. Default 1. */
  scale?: number;
  /** Where `x` is: the left edge, the centre or the right edge of the text. Default 'left'. */
  align?: 'left' | 'center' | 'right';
  /** Where `y` is: the top, the middle or the bottom of the text box (descenders included). Default 'top'. */
  valign?: 'top' | 'middle' | 'bottom';
  /** 'up': rotated a quarter turn anticlockwise, read from bottom to top (y-axis labels). */
  direction?: 'right' | 'up';
}

/**
 * Size of a line of text in pixels, before any rotation: characters advance CELL_WIDTH * scale,
 * without the spacing column after the last one; the height includes the descenders.
 */
export function textSize(text: string, scale = 1): { width: number; height: number } {
  const n = [...text].length;
  return { width: n === 0 ? 0 : (n * CELL_WIDTH - 1) * scale, height: GLYPH_HEIGHT * scale };
}

/** The line advance for text at `scale` (glyph height plus one row of spacing). */
export function lineHeight(scale = 1): number {
  return CELL_HEIGHT * scale;
}

/**
 * Draws one line of text and returns the rectangle it occupies on the canvas. Characters outside
 * printable ASCII are drawn as '?'.
 */
export function drawText(c: Canvas, text: string, x: number, y: number, color: Color, options: TextOptions = {}): Rect {
  const scale = options.scale ?? 1;
  if (!Number.isInteger(scale) || scale < 1) throw new Error(`text scale must be a positive whole number, got ${scale}`);
  const { width: tw, height: th } = textSize(text, scale);
  const up = options.direction === 'up';
  // The box on the canvas: rotated text swaps width and height.
  const bw = up ? th : tw;
  const bh = up ? tw : th;
  const align = options.align ?? 'left';
  const valign = options.valign ?? 'top';
  const left = Math.round(align === 'left' ? x : align === 'center' ? x - bw / 2 : x - bw);
  const top = Math.round(valign === 'top' ? y : valign === 'middle' ? y - bh / 2 : y - bh);
  [...text].forEach((ch, k) => {
    const glyph = glyphOf(ch);
    for (let gy = 0; gy < GLYPH_HEIGHT; gy++) {
      for (let gx = 0; gx < GLYPH_WIDTH; gx++) {
        if (!glyphInk(glyph, gx, gy)) continue;
        // (u, v): the pixel's place in the unrotated text box.
        const u = (k * CELL_WIDTH + gx) * scale;
        const v = gy * scale;
        for (let j = 0; j < scale; j++) {
          for (let i = 0; i < scale; i++) {
            // Rotating anticlockwise sends the text's left edge to the box's bottom edge.
            if (up) setPixel(c, left + v + j, top + bh - 1 - (u + i), color);
            else setPixel(c, left + u + i, top + v + j, color);
          }
        }
      }
    }
  });
  return { x: left, y: top, width: bw, height: bh };
}

/** Copies `src` onto `dst` with its top-left corner at (x, y), cutting off what falls outside. */
export function blit(dst: Canvas, src: Canvas, x: number, y: number): void {
  for (let sy = 0; sy < src.height; sy++) {
    const dy = y + sy;
    if (dy < 0 || dy >= dst.height) continue;
    const sx0 = Math.max(0, -x);
    const sx1 = Math.min(src.width, dst.width - x);
    if (sx1 <= sx0) continue;
    dst.data.set(src.data.subarray(4 * (sy * src.width + sx0), 4 * (sy * src.width + sx1)), 4 * (dy * dst.width + x + sx0));
  }
}

/** The colour as #rrggbb, for messages. */
export function hex(color: Color): string {
  return '#' + color.map((v) => v.toString(16).padStart(2, '0')).join('');
}
