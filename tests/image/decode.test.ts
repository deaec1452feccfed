/**
 * decodeImage against Pillow 9.4's `np.asarray(Image.open(f).convert('RGB'))`
 * (fixtures/make_image_fixtures.py): PNG exactly, JPEG within measured bounds; bad files refused
 * with one-line messages; the megapixel limit applied before anything large is allocated.
 */

import { deflateRawSync, deflateSync, constants as zc } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { UserError } from '../../src/errors.js';
import { crc32, decodeImage, decodeJpeg, decodePng, inflateZlib, sniffFormat } from '../../src/image/decode.js';
import { Rng } from '../../src/rng.js';
import { difference, expectExact, expectUserError, imageFixture, manifest, sha256 } from './fixtures.js';

const kinds = (dir: string) => Object.keys(manifest.decoded).filter((rel) => rel.startsWith(dir));

describe('PNG: every kind decodes to exactly the bytes Pillow gives', () => {
  it('covers the kinds the fixture script writes', () => {
    expect(kinds('png/').length).toBeGreaterThanOrEqual(26);
  });
  for (const rel of kinds('png/')) {
    const e = manifest.decoded[rel];
    it(`${rel}: ${e.note} (Pillow mode ${e.pillow_mode})`, () => {
      const img = decodeImage(imageFixture(rel));
      expect([img.height, img.width, 3]).toEqual(e.shape);
      expectExact(img.data, e, rel);
    });
  }
});

/**
 * jpeg-js against libjpeg-turbo 2.1.5 (Pillow's decoder), in levels of 0..255 over all samples.
 * jpeg-js's own output (nearest-neighbour chroma upsampling, floating-point YCbCr -> RGB, its own
 * colour-space rules) compared with ours, which redoes libjpeg-turbo's fancy upsampling, its
 * integer colour tables and its colour-space rules on jpeg-js's samples:
 *
 *   file                  jpeg-js alone       ours: max  mean     samples equal
 *   baseline_420.jpg      max  97  mean 4.056         3  0.1493   88.1%
 *   baseline_422.jpg      max  61  mean 2.961         3  0.1378   88.8%
 *   baseline_444.jpg      max   3  mean 0.505         3  0.1389   88.7%
 *   odd_420.jpg (37x23)   max  98  mean 9.059         3  0.1575   86.8%
 *   progressive.jpg       max 102  mean 4.086         3  0.1389   88.8%
 *   gray.jpg              max   1  mean 0.057         1  0.0574   94.3%
 *   cmyk.jpg              max   1  mean 0.038         1  0.0378   96.2%
 *   adobe_ycc.jpg         max  97  mean 4.056         3  0.1493   88.1%
 *   adobe_rgb.jpg         max 255  mean 84.35         1  0.0604   94.0%   (jpeg-js ignores transform 0)
 *   cmyk_no_adobe.jpg     refused by jpeg-js              1  0.0378   96.2%
 *
 * The test pictures have saturated colour edges, where box upsampling of chroma is worst. What
 * is left is the IDCT (jpeg-js's integer IDCT vs libjpeg-turbo's islow) and, for CMYK, jpeg-js's
 * CMYK -> RGB rounding. The decoder is deterministic: the bounds below are these figures.
 */
const JPEG_BOUNDS: Record<string, { max: number; mean: number }> = {
  'jpeg/baseline_420.jpg': { max: 3, mean: 0.1493 },
  'jpeg/baseline_422.jpg': { max: 3, mean: 0.1379 },
  'jpeg/baseline_444.jpg': { max: 3, mean: 0.139 },
  'jpeg/odd_420.jpg': { max: 3, mean: 0.1575 },
  'jpeg/progressive.jpg': { max: 3, mean: 0.139 },
  'jpeg/gray.jpg': { max: 1, mean: 0.0575 },
  'jpeg/cmyk.jpg': { max: 1, mean: 0.0379 },
  'jpeg/adobe_ycc.jpg': { max: 3, mean: 0.1493 },
  'jpeg/adobe_rgb.jpg': { max: 1, mean: 0.0604 },
  'jpeg/cmyk_no_adobe.jpg': { max: 1, mean: 0.0379 },
};

describe('JPEG: jpeg-js plus libjpeg-style upsampling and colour, within measured bounds of Pillow', () => {
  it('has a bound for every JPEG fixture', () => {
    expect(Object.keys(JPEG_BOUNDS).sort()).toEqual(kinds('jpeg/').sort());
  });
  for (const rel of kinds('jpeg/')) {
    const e = manifest.decoded[rel];
    it(`${rel}: ${e.note}`, () => {
      const img = decodeImage(imageFixture(rel));
      expect([img.height, img.width, 3]).toEqual(e.shape);
      const d = difference(img.data, e);
      expect(d.count).toBe(img.data.length);
      const bound = JPEG_BOUNDS[rel];
      expect(d.max, `max difference, first at flat index ${d.at}`).toBeLessThanOrEqual(bound.max);
      expect(d.mean).toBeLessThanOrEqual(bound.mean);
    });
  }
});

describe('bad files: one-line UserErrors', () => {
  const cases: [string, string][] = [
    ['bad/bad_crc.png', 'corrupt PNG: CRC mismatch in the IDAT chunk at byte 33'],
    ['bad/bad_zlib.png', 'corrupt PNG: bad compressed image data (incorrect header check)'],
    ['bad/truncated.png', 'truncated PNG: file ends inside the IDAT chunk that starts at byte 33'],
    ['bad/truncated.jpg', 'truncated or corrupt JPEG: file ends inside the compressed image data'],
    ['bad/huge.png', 'image is 100000x100000 pixels, more than the 100-megapixel limit'],
    ['bad/not_an_image.pdf', 'not a PNG or JPEG image (starts with 25 50 44 46)'],
  ];
  for (const [rel, message] of cases) {
    it(`${rel} (${manifest.bad[rel.slice(4)].what})`, () => {
      expectUserError(() => decodeImage(imageFixture(rel)), message);
      expect(message).not.toContain('\n');
    });
  }
  it('records what Pillow does with the damaged IDAT CRC and the truncated JPEG', () => {
    // We are stricter than Pillow about the CRC; both refuse the truncated JPEG.
    expect(manifest.bad['bad_crc.png'].pillow).toMatch(/decodes it/);
    expect(manifest.bad['truncated.jpg'].pillow).toMatch(/truncated/);
  });
  it('an empty file and a GIF', () => {
    expectUserError(() => decodeImage(new Uint8Array(0)), 'empty file, not a PNG or JPEG image');
    expectUserError(() => decodeImage(new TextEncoder().encode('GIF89a')), 'not a PNG or JPEG image (starts with 47 49 46 38)');
  });
  it('PNG cut at every length fails with a UserError, except right before IEND (Pillow reads that too)', () => {
    const full = imageFixture('png/rgb_split_idat.png');
    const iend = full.length - 12;
    for (let n = 0; n < full.length; n++) {
      if (n === iend) continue;
      expect(() => decodeImage(full.subarray(0, n)), `cut at ${n}`).toThrow(UserError);
    }
    expectExact(decodeImage(full.subarray(0, iend)).data, manifest.decoded['png/rgb_split_idat.png'], 'without IEND');
  });
  it('JPEG cut at every length fails with a UserError, never anything else', () => {
    const full = imageFixture('jpeg/progressive.jpg');
    for (let n = 3; n < full.length - 2; n += 97) {
      expect(() => decodeImage(full.subarray(0, n))).toThrow(UserError);
    }
  });
  it('corrupt zlib data with a valid CRC: refused, never decoded from garbage', () => {
    // The failure pngjs 7 has: it drops zlib's errors and returns whatever was in its buffer.
    const good = imageFixture('png/rgb_341x256.png');
    const at = 33; // IDAT: the second chunk, after the 25-byte IHDR
    expect(String.fromCharCode(...good.subarray(at + 4, at + 8))).toBe('IDAT');
    const len = new DataView(good.buffer, good.byteOffset).getUint32(at);
    let refused = 0;
    for (let k = 0; k < 40; k++) {
      const bad = good.slice();
      bad[at + 8 + 10 + Math.floor(((len - 20) * k) / 40)] ^= 0x5a;
      new DataView(bad.buffer).setUint32(at + 8 + len, crc32(bad.subarray(at + 4, at + 8 + len)));
      try {
        decodePng(bad);
      } catch (e) {
        expect(e).toBeInstanceOf(UserError);
        expect((e as Error).message).toMatch(/^corrupt PNG: /);
        refused++;
      }
    }
    expect(refused).toBe(40); // every one: zlib's structure or its Adler-32 catches them all
  });
});

describe('the megapixel limit', () => {
  it('refuses a PNG declaring 100000x100000 before allocating for it', () => {
    const before = process.memoryUsage().arrayBuffers;
    const t0 = performance.now();
    expectUserError(() => decodeImage(imageFixture('bad/huge.png')), 'image is 100000x100000 pixels, more than the 100-megapixel limit');
    expect(performance.now() - t0).toBeLessThan(1000);
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(1 << 20);
  });
  it('refuses a JPEG declaring 20000x20000 from its frame header, before jpeg-js sees it', () => {
    // SOI, SOF0 (8-bit, 20000 high, 20000 wide, 3 components), EOI: no tables, no scan.
    const sof = [0xff, 0xc0, 0x00, 0x11, 0x08, 0x4e, 0x20, 0x4e, 0x20, 0x03, 0x01, 0x22, 0x00, 0x02, 0x11, 0x01, 0x03, 0x11, 0x01];
    const bytes = Uint8Array.from([0xff, 0xd8, ...sof, 0xff, 0xd9]);
    expectUserError(() => decodeImage(bytes), 'image is 20000x20000 pixels, more than the 100-megapixel limit');
  });
  it('counts pixels: exactly the limit passes the check, one row more does not', () => {
    const png = imageFixture('png/rgb.png'); // 37 x 23 = 851 pixels
    expect(decodeImage(png, { maxMegapixels: 851e-6 }).width).toBe(37);
    expectUserError(() => decodeImage(png, { maxMegapixels: 850e-6 }), 'image is 37x23 pixels, more than the 0.00085-megapixel limit');
    expectUserError(() => decodeImage(imageFixture('jpeg/gray.jpg'), { maxMegapixels: 1e-3 }), 'image is 96x72 pixels, more than the 0.001-megapixel limit');
  });
});

describe('format sniffing', () => {
  it('by magic bytes only', () => {
    expect(sniffFormat(imageFixture('png/l.png'))).toBe('png');
    expect(sniffFormat(imageFixture('jpeg/gray.jpg'))).toBe('jpeg');
    expect(sniffFormat(imageFixture('bad/not_an_image.pdf'))).toBeNull();
    expectUserError(() => decodeJpeg(imageFixture('png/l.png')), 'not a JPEG image (no start-of-image marker)');
    expectUserError(() => decodePng(imageFixture('jpeg/gray.jpg')), 'not a PNG image (bad signature)');
  });
});

describe('inflateZlib against Node zlib', () => {
  /** Bytes with runs, repeats and noise, so every kind of block and match turns up. */
  function data(rng: Rng, n: number): Uint8Array {
    const out = new Uint8Array(n);
    let i = 0;
    while (i < n) {
      const kind = rng.below(3), len = 1 + rng.below(300);
      for (let k = 0; k < len && i < n; k++, i++) {
        out[i] = kind === 0 ? rng.below(256) : kind === 1 ? 7 : i >= 50 ? out[i - 50] : k;
      }
    }
    return out;
  }
  const strategies = [zc.Z_DEFAULT_STRATEGY, zc.Z_FILTERED, zc.Z_HUFFMAN_ONLY, zc.Z_RLE, zc.Z_FIXED];
  it('levels 0-9, every strategy, window sizes 2^8..2^15, sizes 0 to 200 kB', () => {
    const rng = new Rng(2024);
    for (let t = 0; t < 60; t++) {
      const raw = data(rng, [0, 1, 100, 5000, 70000, 200000][t % 6]);
      const opts = { level: t % 10, strategy: strategies[t % 5], windowBits: 8 + (t % 8) + (t % 8 === 0 ? 1 : 0) };
      const z = deflateSync(raw, opts);
      const back = inflateZlib(new Uint8Array(z), raw.length);
      expect(sha256(back), `case ${t} ${JSON.stringify(opts)} n=${raw.length}`).toBe(sha256(raw));
    }
  });
  it('stops at the expected length; refuses short data, bad headers and bad checksums', () => {
    const raw = data(new Rng(5), 10000);
    const z = new Uint8Array(deflateSync(raw));
    expect(inflateZlib(z, 9000)).toEqual(raw.subarray(0, 9000));
    expect(() => inflateZlib(z, 10001)).toThrow('image data ends early: 10000 of 10001 bytes');
    const badSum = z.slice();
    badSum[badSum.length - 1] ^= 1;
    expect(() => inflateZlib(badSum, 10000)).toThrow('incorrect data check');
    expect(() => inflateZlib(z.subarray(0, z.length - 10), 10000)).toThrow(UserError);
    const raw2 = new Uint8Array(deflateRawSync(raw));
    expect(() => inflateZlib(raw2, 10000)).toThrow('incorrect header check');
  });
  it('crc32 is PNG\'s: the IEND chunk\'s constant', () => {
    expect(crc32(new TextEncoder().encode('IEND')).toString(16)).toBe('ae426082');
  });
});
