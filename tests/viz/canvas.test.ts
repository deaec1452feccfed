import { PNG } from 'pngjs';
import { describe, expect, it } from 'vitest';
import {
  BLACK, WHITE, type Color, blit, createCanvas, drawLine, drawMarker, drawPolyline, drawText, fillRect, getPixel, setPixel, strokeRect, textSize,
} from '../../src/viz/canvas.js';
import { CELL_WIDTH, GLYPH_HEIGHT, GLYPH_WIDTH, glyphInk, glyphOf } from '../../src/viz/font.js';
import { encodePng } from '../../src/viz/png.js';
import { countColor, decoded, rgbAt, same } from './picture.js';

const RED: Color = [255, 0, 0];

/** The set of (x, y) of pixels with `color`, as "x,y" strings. */
function inked(c: ReturnType<typeof createCanvas>, color: Color): Set<string> {
  const out = new Set<string>();
  for (let y = 0; y < c.height; y++) for (let x = 0; x < c.width; x++) if (same(getPixel(c, x, y), color)) out.add(`${x},${y}`);
  return out;
}

describe('canvas', () => {
  it('starts filled with its background, opaque', () => {
    const c = createCanvas(3, 2, [10, 20, 30]);
    expect(c.data.length).toBe(3 * 2 * 4);
    for (let y = 0; y < 2; y++) for (let x = 0; x < 3; x++) expect(getPixel(c, x, y)).toEqual([10, 20, 30, 255]);
    expect(() => createCanvas(0, 4)).toThrow(/positive/);
    expect(() => createCanvas(2.5, 4)).toThrow(/positive/);
  });

  it('ignores pixels outside the canvas or the clip rectangle', () => {
    const c = createCanvas(4, 4);
    setPixel(c, -1, 0, RED);
    setPixel(c, 4, 0, RED);
    setPixel(c, 0, 4, RED);
    setPixel(c, 3, 3, RED, { x: 0, y: 0, width: 3, height: 3 });
    expect(inked(c, RED).size).toBe(0);
    fillRect(c, { x: -2, y: -2, width: 4, height: 3 }, RED);
    expect([...inked(c, RED)].sort()).toEqual(['0,0', '1,0']);
  });

  it('strokes a rectangle inside its bounds', () => {
    const c = createCanvas(6, 5);
    strokeRect(c, { x: 1, y: 1, width: 4, height: 3 }, RED);
    expect(inked(c, RED).size).toBe(2 * 4 + 2 * 1);
    expect(same(getPixel(c, 2, 2), WHITE)).toBe(true);
    expect(same(getPixel(c, 4, 3), RED)).toBe(true);
  });

  it('draws Bresenham lines: both ends, one pixel per step along the major axis, 8-connected', () => {
    for (const [x0, y0, x1, y1] of [[0, 0, 9, 0], [0, 0, 0, 6], [1, 1, 8, 8], [0, 7, 9, 2], [9, 1, 0, 4], [3, 3, 3, 3]]) {
      const c = createCanvas(10, 10);
      drawLine(c, x0, y0, x1, y1, RED);
      const px = [...inked(c, RED)].map((s) => s.split(',').map(Number));
      expect(px.length, `(${x0},${y0})-(${x1},${y1})`).toBe(Math.max(Math.abs(x1 - x0), Math.abs(y1 - y0)) + 1);
      expect(same(getPixel(c, x0, y0), RED) && same(getPixel(c, x1, y1), RED)).toBe(true);
      // Every pixel lies within half a pixel of the ideal line (measured along the minor axis).
      for (const [x, y] of px) {
        if (Math.abs(x1 - x0) >= Math.abs(y1 - y0) && x1 !== x0) {
          expect(Math.abs(y - (y0 + ((y1 - y0) * (x - x0)) / (x1 - x0)))).toBeLessThanOrEqual(0.5);
        } else if (y1 !== y0) {
          expect(Math.abs(x - (x0 + ((x1 - x0) * (y - y0)) / (y1 - y0)))).toBeLessThanOrEqual(0.5);
        }
      }
    }
  });

  it('draws the same pixels in either direction for a 45-degree or axis-aligned line, and 2-px lines twice as thick', () => {
    const a = createCanvas(10, 10);
    const b = createCanvas(10, 10);
    drawLine(a, 1, 2, 7, 8, RED);
    drawLine(b, 7, 8, 1, 2, RED);
    expect(inked(a, RED)).toEqual(inked(b, RED));
    const t = createCanvas(10, 10);
    drawLine(t, 1, 4, 8, 4, RED, { width: 2 });
    // Each of the 8 points is a 2 x 2 square reaching right and down: columns 1..9, rows 4 and 5.
    expect([...inked(t, RED)].sort()).toEqual(
      [...Array.from({ length: 9 }, (_, i) => `${1 + i},4`), ...Array.from({ length: 9 }, (_, i) => `${1 + i},5`)].sort(),
    );
  });

  it('clips lines and leaves gaps at non-finite points of a polyline', () => {
    const c = createCanvas(10, 10);
    drawLine(c, 0, 5, 9, 5, RED, { clip: { x: 2, y: 0, width: 3, height: 10 } });
    expect([...inked(c, RED)].sort()).toEqual(['2,5', '3,5', '4,5']);
    const p = createCanvas(10, 10);
    drawPolyline(p, [[0, 1], [4, 1], [6, NaN], [9, 1]], RED);
    expect(inked(p, RED).size).toBe(5);
  });

  it('draws markers of the given radius', () => {
    const c = createCanvas(11, 11);
    drawMarker(c, 5, 5, RED, 'square', 2);
    expect(inked(c, RED).size).toBe(25);
    const d = createCanvas(11, 11);
    drawMarker(d, 5, 5, RED, 'diamond', 2);
    expect(inked(d, RED).size).toBe(13);
    const e = createCanvas(11, 11);
    drawMarker(e, 5, 5, RED, 'circle', 3);
    expect(same(getPixel(e, 5, 2), RED) && same(getPixel(e, 8, 5), RED) && !same(getPixel(e, 8, 8), RED)).toBe(true);
  });

  it('renders text glyph by glyph, scaled by whole numbers, inside the box it returns', () => {
    for (const scale of [1, 3]) {
      const c = createCanvas(60, 40);
      const box = drawText(c, 'Ag', 4, 5, BLACK, { scale });
      expect(box).toEqual({ x: 4, y: 5, ...textSize('Ag', scale) });
      expect(box.width).toBe((2 * CELL_WIDTH - 1) * scale);
      expect(box.height).toBe(GLYPH_HEIGHT * scale);
      for (const [k, ch] of ['A', 'g'].entries()) {
        const g = glyphOf(ch);
        for (let gy = 0; gy < GLYPH_HEIGHT; gy++) {
          for (let gx = 0; gx < GLYPH_WIDTH; gx++) {
            for (const [i, j] of [[0, 0], [scale - 1, scale - 1]]) {
              const px = getPixel(c, 4 + (k * CELL_WIDTH + gx) * scale + i, 5 + gy * scale + j);
              expect(same(px, BLACK), `${ch} (${gx}, ${gy}) at scale ${scale}`).toBe(glyphInk(g, gx, gy));
            }
          }
        }
      }
      for (const key of inked(c, BLACK)) {
        const [x, y] = key.split(',').map(Number);
        expect(x >= box.x && x < box.x + box.width && y >= box.y && y < box.y + box.height).toBe(true);
      }
    }
  });

  it('aligns text on its anchor and rotates it a quarter turn to read upwards', () => {
    const c = createCanvas(80, 80);
    const right = drawText(c, 'abc', 70, 40, BLACK, { scale: 2, align: 'right', valign: 'bottom' });
    expect([right.x + right.width, right.y + right.height]).toEqual([70, 40]);
    const centre = drawText(createCanvas(80, 80), 'abc', 40, 40, BLACK, { align: 'center', valign: 'middle' });
    expect(Math.abs(centre.x + centre.width / 2 - 40)).toBeLessThanOrEqual(0.5);
    // Upwards: the glyph's pixel (gx, gy) of character k lands at (left + gy, bottom - (k * 6 + gx)).
    const r = createCanvas(30, 30);
    const box = drawText(r, 'L', 5, 5, BLACK, { direction: 'up' });
    expect([box.width, box.height]).toEqual([GLYPH_HEIGHT, GLYPH_WIDTH]);
    const L = glyphOf('L');
    for (let gy = 0; gy < GLYPH_HEIGHT; gy++) {
      for (let gx = 0; gx < GLYPH_WIDTH; gx++) {
        expect(same(getPixel(r, box.x + gy, box.y + box.height - 1 - gx), BLACK)).toBe(glyphInk(L, gx, gy));
      }
    }
  });

  it('copies one canvas onto another, cutting off what falls outside', () => {
    const src = createCanvas(3, 3, RED);
    const dst = createCanvas(5, 5);
    blit(dst, src, 3, -1);
    expect([...inked(dst, RED)].sort()).toEqual(['3,0', '3,1', '4,0', '4,1']);
  });

  it('encodes an RGBA PNG that decodes to the same pixels', () => {
    const c = createCanvas(7, 3, [1, 2, 3]);
    setPixel(c, 6, 2, [250, 128, 0]);
    const bytes = encodePng(c);
    expect([...bytes.subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    const png = PNG.sync.read(Buffer.from(bytes));
    expect([png.width, png.height]).toEqual([7, 3]);
    expect(new Uint8Array(png.data)).toEqual(c.data);
    const p = decoded(c);
    expect(rgbAt(p, 6, 2)).toEqual([250, 128, 0]);
    expect(countColor(p, [1, 2, 3])).toBe(20);
  });
});
