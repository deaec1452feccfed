/**
 * resize against Pillow 9.4's `Image.resize((w, h), Image.BILINEAR)`: byte for byte on every
 * fixture (up, down by non-integer factors, one axis only, to one pixel, same size; RGB and L).
 */

import { describe, expect, it } from 'vitest';
import { decodeImage } from '../../src/image/decode.js';
import { grayImage, rgbImage, rgbToGray } from '../../src/image/image.js';
import { PRECISION_BITS, bilinearWeights, resize, resizeBilinear, resizeGray, resizeRgb } from '../../src/image/resize.js';
import { expectExact, imageFixture, manifest, sha256 } from './fixtures.js';

describe('resize: exactly the bytes of Pillow BILINEAR', () => {
  for (const [name, e] of Object.entries(manifest.resize)) {
    it(`${name}: ${e.mode} ${e.note}`, () => {
      const rgb = decodeImage(imageFixture(e.source));
      // The source is what Pillow decoded (checked in decode.test.ts; rechecked here by hash).
      expect(sha256(rgb.data)).toBe(manifest.decoded[e.source].sha256);
      const src = e.mode === 'L' ? rgbToGray(rgb) : rgb;
      const out = e.mode === 'L' ? resizeGray(src, e.width, e.height) : resizeRgb(src, e.width, e.height);
      expect([out.width, out.height]).toEqual([e.width, e.height]);
      expectExact(out.data, e, name);
    });
  }
});

describe('bilinearWeights: Pillow\'s precompute_coeffs + normalize_coeffs_8bpc', () => {
  it('upscaling 2x: support 1, windows of 2, weights 1/4 and 3/4', () => {
    const w = bilinearWeights(4, 8);
    expect(w.ksize).toBe(3);
    // Output pixel 1 has centre 0.75 in source coordinates: window [0, 2), distances 0.25, 0.75.
    expect([...w.bounds.subarray(2, 4)]).toEqual([0, 2]);
    expect([...w.weights.subarray(3, 6)]).toEqual([0.75 * 2 ** 22, 0.25 * 2 ** 22, 0]);
    // Output pixel 0 (centre 0.25) sees only source pixel 0 inside the image: weight 1.
    expect([...w.bounds.subarray(0, 2)]).toEqual([0, 1]);
    expect(w.weights[0]).toBe(2 ** 22);
  });
  it('downscaling by 3: the triangle is stretched to radius 3 (antialiasing)', () => {
    const w = bilinearWeights(9, 3);
    expect(w.ksize).toBe(7);
    // Output 1 has centre 4.5: the window is source pixels trunc(4.5 - 3 + 0.5) = 2 up to
    // trunc(4.5 + 3 + 0.5) = 8 (exclusive), whose centres lie 2, 1, 0, 1, 2, 3 away: triangle
    // weights 1/3, 2/3, 1, 2/3, 1/3, 0, normalised to 1/9, 2/9, 3/9, 2/9, 1/9, 0.
    expect([...w.bounds.subarray(2, 4)]).toEqual([2, 6]);
    const expected = [1, 2, 3, 2, 1, 0].map((k) => Math.trunc((k / 9) * 2 ** 22 + 0.5));
    expect([...w.weights.subarray(7, 14)]).toEqual([...expected, 0]);
  });
  it('every window\'s weights sum to 2^22 give or take rounding', () => {
    for (const [inSize, outSize] of [[37, 11], [500, 341], [23, 50], [301, 117], [7, 1]]) {
      const w = bilinearWeights(inSize, outSize);
      for (let xx = 0; xx < outSize; xx++) {
        let s = 0;
        for (let k = 0; k < w.ksize; k++) s += w.weights[xx * w.ksize + k];
        expect(Math.abs(s - 2 ** PRECISION_BITS)).toBeLessThanOrEqual(w.ksize);
      }
    }
  });
});

describe('resize: hand cases', () => {
  it('same size is a copy, not the same buffer', () => {
    const img = rgbImage(2, 1, Uint8Array.of(1, 2, 3, 4, 5, 6));
    const out = resizeRgb(img, 2, 1);
    expect([...out.data]).toEqual([1, 2, 3, 4, 5, 6]);
    expect(out.data).not.toBe(img.data);
  });
  it('a constant picture stays constant at any size', () => {
    const img = grayImage(13, 7, new Uint8Array(91).fill(200));
    for (const [w, h] of [[1, 1], [5, 3], [40, 21], [13, 30]]) {
      expect(new Set(resizeGray(img, w, h).data)).toEqual(new Set([200]));
    }
  });
  it('two pixels 0 and 255 upscaled to four: 0, 64, 191, 255 (1/4 and 3/4 weights, rounded)', () => {
    const out = resizeBilinear(Uint8Array.of(0, 255), 2, 1, 1, 4, 1);
    // Output centres 0.25, 0.75, 1.25, 1.75 in source pixels; 0.25 and 1.75 lie past the centres
    // of the edge pixels, where only one source pixel is inside the window.
    expect([...out]).toEqual([0, 64, 191, 255]);
  });
  it('resize() picks RGB or grey from the data length', () => {
    const g = grayImage(4, 4, new Uint8Array(16).fill(9));
    expect(resize(g, 2, 2).data.length).toBe(4);
    const c = rgbImage(4, 4, new Uint8Array(48).fill(9));
    expect(resize(c, 2, 2).data.length).toBe(12);
  });
  it('refuses sizes that are not positive integers', () => {
    expect(() => resizeBilinear(new Uint8Array(4), 2, 2, 1, 0, 2)).toThrow('not a positive whole number');
    expect(() => resizeBilinear(new Uint8Array(4), 2, 2, 1, 2.5, 2)).toThrow('not a positive whole number');
  });
});
