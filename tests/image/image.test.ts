/** The image helpers (image.ts) and the Node file edge (node-image.ts). */

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { channelsOf, crop, flipHorizontal, grayImage, grayToRgb, rgbImage, rgbToGray } from '../../src/image/image.js';
import { loadImage } from '../../src/image/node-image.js';
import { IMAGES, expectExact, expectUserError, imageFixture, manifest } from './fixtures.js';

describe('rgbToGray: Pillow\'s convert(\'L\')', () => {
  it('the fixed-point formula, not the documented 299/587/114 one, where the two disagree', () => {
    const px = [[255, 0, 0], [0, 255, 0], [0, 0, 255], [128, 128, 128], [0, 0, 250], [0, 38, 221], [0, 207, 35], [0, 245, 6]];
    const img = rgbImage(px.length, 1, Uint8Array.from(px.flat()));
    // Pillow 9.4 gives [76, 150, 29, 128, 28, 47, 126, 145]: (R * 19595 + G * 38470 + B * 7471 +
    // 32768) >> 16. Rounding R * 0.299 + G * 0.587 + B * 0.114 would give 29, 48, 125, 144 for the
    // last four.
    expect([...rgbToGray(img).data]).toEqual([76, 150, 29, 128, 28, 47, 126, 145]);
  });
  it('matches the L that Pillow wrote for png/l.png (converted from png/rgb.png by Pillow)', () => {
    const rgb = loadImage(IMAGES + 'png/rgb.png');
    const l = rgbToGray(rgb);
    // decoded/l.png.npy holds L replicated to RGB.
    expectExact(grayToRgb(l).data, manifest.decoded['png/l.png'], 'png/l.png');
  });
});

describe('crop, flip, channels', () => {
  const img = rgbImage(3, 2, Uint8Array.from({ length: 18 }, (_, i) => i));
  it('crop copies the rectangle', () => {
    expect([...crop(img, 1, 1, 2, 1).data]).toEqual([12, 13, 14, 15, 16, 17]);
    expect(() => crop(img, 2, 0, 2, 1)).toThrow('does not fit');
  });
  it('flipHorizontal mirrors each row, pixels kept whole', () => {
    expect([...flipHorizontal(img).data]).toEqual([6, 7, 8, 3, 4, 5, 0, 1, 2, 15, 16, 17, 12, 13, 14, 9, 10, 11]);
    const g = grayImage(3, 1, Uint8Array.of(1, 2, 3));
    expect([...flipHorizontal(g).data]).toEqual([3, 2, 1]);
  });
  it('channelsOf and the constructors check the data length', () => {
    expect(channelsOf(img)).toBe(3);
    expect(channelsOf(grayImage(3, 2))).toBe(1);
    expect(() => rgbImage(3, 2, new Uint8Array(17))).toThrow('needs 18 bytes, got 17');
    expect(() => grayImage(0, 2)).toThrow('not a positive whole number');
  });
});

describe('loadImage: the Node edge', () => {
  const dir = mkdtempSync(join(tmpdir(), 'alexnet-image-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reads and decodes a file', () => {
    const img = loadImage(IMAGES + 'png/p8.png');
    expectExact(img.data, manifest.decoded['png/p8.png'], 'png/p8.png');
  });
  it('names the file in every error', () => {
    const missing = join(dir, 'missing.jpg');
    expectUserError(() => loadImage(missing), `${missing}: no such file`);
    expectUserError(() => loadImage(dir), `${dir}: is a directory, expected a file`);
    const truncated = join(dir, 'cut.jpg');
    writeFileSync(truncated, imageFixture('bad/truncated.jpg'));
    expectUserError(() => loadImage(truncated), `${truncated}: truncated or corrupt JPEG: file ends inside the compressed image data`);
    const pdf = join(dir, 'doc.pdf');
    writeFileSync(pdf, imageFixture('bad/not_an_image.pdf'));
    expectUserError(() => loadImage(pdf), `${pdf}: not a PNG or JPEG image (starts with 25 50 44 46)`);
  });
});
