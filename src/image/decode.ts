/**
 * PNG and JPEG bytes to an RgbImage, giving the pixels `Image.open(f).convert('RGB')` gives in
 * Pillow 9.4, which is how torchvision's ImageNet recipe (and most PyTorch code) loads a photo.
 *
 *   decodeImage(bytes)   sniffs the format from the first bytes and calls one of:
 *   decodePng(bytes)     our own reader of the PNG specification: exact to Pillow for every kind
 *   decodeJpeg(bytes)    jpeg-js does the entropy decoding and IDCT; we redo the chroma
 *                        upsampling and colour conversion as libjpeg-turbo does (close, not exact)
 *
 * Both read the declared width and height themselves first and refuse an image over the
 * megapixel limit before the decoder allocates anything, so a 60-byte file declaring
 * 100000x100000 pixels is a one-line error, not an out-of-memory crash. Every problem with the
 * file is a UserError with a one-line message; the caller prefixes the file name (inFile).
 *
 * What convert('RGB') does, and so what we do:
 *   - alpha is dropped, not composited on any background (RGBA, LA, palette tRNS);
 *   - a tRNS colour in a grey or RGB PNG is ignored;
 *   - grey is replicated to R = G = B; 1-, 2- and 4-bit grey scale by 255, 85 and 17;
 *   - palettes are expanded; an index past the end of a short palette reads as (i, i, i), because
 *     Pillow's palette starts as a grey ramp;
 *   - 16-bit RGB, RGBA and LA keep the high byte of each sample;
 *   - 16-bit grey is the odd one: Pillow opens it as mode "I" (32-bit integers), and I -> RGB
 *     *clips* to 0..255 rather than scaling, so everything above 255 becomes white. A 16-bit
 *     grey photo therefore loads almost all white, in Pillow and here alike;
 *   - no gamma, colour profile or EXIF orientation is applied (Image.open applies none);
 *   - CMYK JPEG (Adobe convention, inverted) goes through Pillow's CMYK -> RGB.
 *
 * Damaged files are refused as Pillow refuses them: a PNG whose image data is cut short or does
 * not inflate, a JPEG cut anywhere before its end-of-image marker. Pillow reads a PNG that lacks
 * only its IEND chunk, or has bytes after it, and so do we. Where we differ on purpose: any CRC
 * error refuses the file (Pillow does not check the CRCs of IDAT chunks and would decode a PNG
 * whose IDAT CRC is damaged).
 *
 * All of it runs in a browser: no Node API, no Buffer (jpeg-js is asked for Uint8Arrays).
 */

import { decode as jpegJsDecode } from 'jpeg-js';
import { UserError } from '../errors.js';
import type { RgbImage } from './image.js';

/** The default limit on width * height, in millions of pixels. */
export const MAX_MEGAPIXELS = 100;

export interface DecodeOptions {
  /** Refuse images with more than this many million pixels (default MAX_MEGAPIXELS). */
  maxMegapixels?: number;
}

export type ImageFormat = 'png' | 'jpeg';

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/** 'png' or 'jpeg' from the magic bytes, or null. */
export function sniffFormat(bytes: Uint8Array): ImageFormat | null {
  if (bytes.length >= 8 && PNG_SIGNATURE.every((b, i) => bytes[i] === b)) return 'png';
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'jpeg';
  return null;
}

export function decodeImage(bytes: Uint8Array, options: DecodeOptions = {}): RgbImage {
  switch (sniffFormat(bytes)) {
    case 'png':
      return decodePng(bytes, options);
    case 'jpeg':
      return decodeJpeg(bytes, options);
    default: {
      if (bytes.length === 0) throw new UserError('empty file, not a PNG or JPEG image');
      const hex = [...bytes.subarray(0, 4)].map((b) => b.toString(16).padStart(2, '0')).join(' ');
      throw new UserError(`not a PNG or JPEG image (starts with ${hex})`);
    }
  }
}

function checkPixelLimit(width: number, height: number, options: DecodeOptions): void {
  const max = options.maxMegapixels ?? MAX_MEGAPIXELS;
  if (width * height > max * 1e6) {
    throw new UserError(`image is ${width}x${height} pixels, more than the ${max}-megapixel limit`);
  }
}

// ---------------------------------------------------------------------------------------------
// PNG (https://www.w3.org/TR/png/): the signature, then chunks of
//   u32 length | 4-byte type | data | u32 CRC-32 of type and data
// IHDR first (width, height, bit depth, colour type, compression, filter, interlace), PLTE for
// palette images, the IDAT chunks (together one zlib stream), IEND. Decoding is
//   1. inflate the concatenated IDAT data (zlib, RFC 1950/1951) to the filtered scanlines;
//   2. undo each scanline's filter (None, Sub, Up, Average, Paeth);
//   3. read the samples (1, 2, 4, 8 or 16 bits) and place the pixels, over the 7 Adam7 passes
//      for an interlaced image or one pass for a plain one;
//   4. convert to 8-bit RGB as Pillow's convert('RGB') does.
//
// Why not pngjs, which the package depends on: pngjs 7's synchronous reader loses zlib's errors
// on current Node (its sync-inflate waits for a `_hadError` flag Node no longer sets), so a
// corrupt stream "decodes" into whatever was in the output buffer, uninitialised memory included:
// in a test of 40 single-byte corruptions with the CRC fixed up, 16 decoded without complaint. It
// also needs Buffer and Node's zlib, zeroes tRNS-coloured pixels and throws on short palettes,
// each of which needed a workaround. The decoder below is the specification, a page long.

const corruptPng = (what: string) => new UserError(`corrupt PNG: ${what}`);
const truncatedPng = (what: string) => new UserError(`truncated PNG: ${what}`);

const u32 = (b: Uint8Array, at: number) => ((b[at] << 24) | (b[at + 1] << 16) | (b[at + 2] << 8) | b[at + 3]) >>> 0;
const u16 = (b: Uint8Array, at: number) => (b[at] << 8) | b[at + 1];

/** CRC-32 as PNG uses it (ISO 3309: polynomial 0xEDB88320, reflected, inverted in and out). */
const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

export function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

interface PngHeader {
  width: number;
  height: number;
  bitDepth: number;
  colorType: number;
  interlace: number;
}

/** Samples per pixel for each colour type: grey, -, RGB, palette index, grey+alpha, -, RGBA. */
const PNG_SAMPLES: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };
/** Bit depths the PNG specification allows for each colour type. */
const PNG_DEPTHS: Record<number, number[]> = { 0: [1, 2, 4, 8, 16], 2: [8, 16], 3: [1, 2, 4, 8], 4: [8, 16], 6: [8, 16] };

/** Adam7 passes: first column and row, column and row steps. */
const ADAM7 = [
  [0, 0, 8, 8], [4, 0, 8, 8], [0, 4, 4, 8], [2, 0, 4, 4], [0, 2, 2, 4], [1, 0, 2, 2], [0, 1, 1, 2],
] as const;

/** The sub-images of a plain or interlaced image: where they start, their step and size. */
function pngPasses(h: PngHeader): { x0: number; y0: number; dx: number; dy: number; w: number; h: number }[] {
  const passes = h.interlace ? ADAM7 : ([[0, 0, 1, 1]] as const);
  return passes
    .map(([x0, y0, dx, dy]) => ({ x0, y0, dx, dy, w: Math.ceil((h.width - x0) / dx), h: Math.ceil((h.height - y0) / dy) }))
    .filter((p) => p.w > 0 && p.h > 0); // an empty pass has no scanlines at all
}

/** Walks and checks the chunks: the header, the palette (if any) and the IDAT data. */
function readPngChunks(bytes: Uint8Array, options: DecodeOptions): { header: PngHeader; palette: Uint8Array | null; idat: Uint8Array } {
  let header: PngHeader | null = null;
  let palette: Uint8Array | null = null;
  const idat: Uint8Array[] = [];
  let at = 8;
  for (;;) {
    // A file that ends after its last chunk without IEND is read, as Pillow reads it.
    if (at === bytes.length && idat.length > 0) break;
    if (at + 8 > bytes.length) {
      throw truncatedPng(at === bytes.length ? 'file ends before the image data' : `file ends inside a chunk header at byte ${at}`);
    }
    const length = u32(bytes, at);
    const type = String.fromCharCode(...bytes.subarray(at + 4, at + 8));
    if (!/^[A-Za-z]{4}$/.test(type)) throw corruptPng(`bad chunk type at byte ${at}`);
    if (length > 0x7fffffff) throw corruptPng(`the ${type} chunk at byte ${at} declares ${length} bytes`);
    const end = at + 12 + length;
    if (end > bytes.length) throw truncatedPng(`file ends inside the ${type} chunk that starts at byte ${at}`);
    const data = bytes.subarray(at + 8, at + 8 + length);
    if (crc32(bytes.subarray(at + 4, at + 8 + length)) !== u32(bytes, at + 8 + length)) {
      throw corruptPng(`CRC mismatch in the ${type} chunk at byte ${at}`);
    }
    if (header === null) {
      if (type !== 'IHDR' || length !== 13) throw corruptPng(`first chunk is ${type}, expected a 13-byte IHDR`);
      header = { width: u32(data, 0), height: u32(data, 4), bitDepth: data[8], colorType: data[9], interlace: data[12] };
      const { width, height, bitDepth, colorType, interlace } = header;
      if (width === 0 || height === 0 || width > 0x7fffffff || height > 0x7fffffff) {
        throw corruptPng(`IHDR declares ${width}x${height} pixels`);
      }
      if (!(PNG_DEPTHS[colorType] ?? []).includes(bitDepth)) {
        throw corruptPng(`IHDR declares colour type ${colorType} with bit depth ${bitDepth}, which PNG does not define`);
      }
      if (data[10] !== 0 || data[11] !== 0 || interlace > 1) {
        throw corruptPng(`IHDR declares compression ${data[10]}, filter ${data[11]}, interlace ${interlace} (PNG defines 0, 0, 0 or 1)`);
      }
      checkPixelLimit(width, height, options);
    } else if (type === 'IDAT') {
      idat.push(data);
    } else if (type === 'PLTE') {
      if (length % 3 !== 0 || length === 0) throw corruptPng(`PLTE chunk of ${length} bytes is not a whole number of RGB entries`);
      palette = data;
    } else if (type === 'IEND') {
      break; // anything after IEND is ignored, as Pillow does
    }
    // Other chunks (tRNS, gAMA, iCCP, text, ...) change nothing convert('RGB') returns.
    at = end;
  }
  if (header!.colorType === 3 && !palette) throw corruptPng('palette image without a PLTE chunk');
  if (idat.length === 0) throw corruptPng('no IDAT chunk (no image data)');
  const joined = new Uint8Array(idat.reduce((n, d) => n + d.length, 0));
  let o = 0;
  for (const d of idat) {
    joined.set(d, o);
    o += d.length;
  }
  return { header: header!, palette, idat: joined };
}

export function decodePng(bytes: Uint8Array, options: DecodeOptions = {}): RgbImage {
  if (sniffFormat(bytes) !== 'png') throw new UserError('not a PNG image (bad signature)');
  const { header, palette, idat } = readPngChunks(bytes, options);
  const { width, height, bitDepth, colorType } = header;
  const samples = PNG_SAMPLES[colorType];
  const bitsPerPixel = samples * bitDepth;
  // Filters work on bytes: bpp is the distance to "the same byte of the pixel to the left".
  const bpp = Math.max(1, bitsPerPixel >> 3);
  const passes = pngPasses(header);
  const rowBytes = (w: number) => Math.ceil((w * bitsPerPixel) / 8);
  const expected = passes.reduce((n, p) => n + p.h * (1 + rowBytes(p.w)), 0);

  const raw = inflateZlib(idat, expected);

  // Per sample: Pillow's conversion of what the file stores to 8 bits.
  let to8: (v: number) => number;
  if (colorType === 3 || bitDepth === 8) to8 = (v) => v;
  else if (bitDepth === 16 && colorType === 0) to8 = (v) => (v > 255 ? 255 : v); // mode I -> RGB clips
  else if (bitDepth === 16) to8 = (v) => v >> 8; // RGB;16B, RGBA;16B, LA;16B keep the high byte
  else to8 = (v) => v * (255 / ((1 << bitDepth) - 1)); // 1-, 2-, 4-bit grey: x 255, 85, 17
  // Pillow's palette is 256 entries initialised to a grey ramp; the file's PLTE overwrites the start.
  const lut = new Uint8Array(256 * 3);
  for (let i = 0; i < 256; i++) lut[3 * i] = lut[3 * i + 1] = lut[3 * i + 2] = i;
  if (palette) lut.set(palette.subarray(0, 256 * 3));

  const out = new Uint8Array(width * height * 3);
  const s = new Array<number>(samples);
  let pos = 0; // in raw
  for (const p of passes) {
    const n = rowBytes(p.w);
    let prev: Uint8Array = new Uint8Array(n); // the row above the first row is zeros
    for (let y = 0; y < p.h; y++) {
      const filter = raw[pos];
      const line = raw.subarray(pos + 1, pos + 1 + n);
      unfilter(filter, line, prev, bpp, y + 1);
      pos += 1 + n;
      prev = line;
      const outRow = (p.y0 + y * p.dy) * width;
      for (let x = 0; x < p.w; x++) {
        const o = 3 * (outRow + p.x0 + x * p.dx);
        if (bitDepth === 8 && colorType !== 3) {
          // The common case, written out: each byte is a sample already.
          const i = x * samples;
          if (samples <= 2) {
            out[o] = out[o + 1] = out[o + 2] = line[i]; // grey (alpha dropped)
          } else {
            out[o] = line[i];
            out[o + 1] = line[i + 1];
            out[o + 2] = line[i + 2]; // alpha dropped
          }
          continue;
        }
        for (let k = 0; k < samples; k++) s[k] = readSample(line, x * samples + k, bitDepth);
        if (colorType === 3) {
          out[o] = lut[3 * s[0]];
          out[o + 1] = lut[3 * s[0] + 1];
          out[o + 2] = lut[3 * s[0] + 2];
        } else if (samples <= 2) {
          out[o] = out[o + 1] = out[o + 2] = to8(s[0]); // grey (alpha dropped)
        } else {
          out[o] = to8(s[0]);
          out[o + 1] = to8(s[1]);
          out[o + 2] = to8(s[2]); // alpha dropped
        }
      }
    }
  }
  return { width, height, data: out };
}

/** Sample i of an unfiltered scanline: 16-bit big-endian, a byte, or bits from the top of a byte. */
function readSample(line: Uint8Array, i: number, depth: number): number {
  if (depth === 8) return line[i];
  if (depth === 16) return (line[2 * i] << 8) | line[2 * i + 1];
  const bit = i * depth;
  return (line[bit >> 3] >> (8 - depth - (bit & 7))) & ((1 << depth) - 1);
}

/**
 * Undoes one scanline's filter in place (PNG spec section 7.3). With a = the byte bpp to the
 * left, b = the byte above, c = the byte above and to the left (0 outside the image):
 *   0 None: x;  1 Sub: x + a;  2 Up: x + b;  3 Average: x + floor((a + b) / 2);
 *   4 Paeth: x + whichever of a, b, c is closest to a + b - c (ties prefer a, then b).
 */
function unfilter(filter: number, line: Uint8Array, prev: Uint8Array, bpp: number, row: number): void {
  const n = line.length;
  switch (filter) {
    case 0:
      return;
    case 1:
      for (let i = bpp; i < n; i++) line[i] = (line[i] + line[i - bpp]) & 0xff;
      return;
    case 2:
      for (let i = 0; i < n; i++) line[i] = (line[i] + prev[i]) & 0xff;
      return;
    case 3:
      for (let i = 0; i < n; i++) line[i] = (line[i] + (((i >= bpp ? line[i - bpp] : 0) + prev[i]) >> 1)) & 0xff;
      return;
    case 4:
      for (let i = 0; i < n; i++) {
        const a = i >= bpp ? line[i - bpp] : 0, b = prev[i], c = i >= bpp ? prev[i - bpp] : 0;
        const pa = Math.abs(b - c), pb = Math.abs(a - c), pc = Math.abs(a + b - 2 * c);
        line[i] = (line[i] + (pa <= pb && pa <= pc ? a : pb <= pc ? b : c)) & 0xff;
      }
      return;
    default:
      throw corruptPng(`scanline ${row} has filter type ${filter} (PNG defines 0 to 4)`);
  }
}

// ---------------------------------------------------------------------------------------------
// zlib (RFC 1950) around DEFLATE (RFC 1951).
//
// zlib: CMF (method 8 = deflate, window size) and FLG bytes, (CMF * 256 + FLG) divisible by 31;
// then DEFLATE blocks; then the Adler-32 of the decompressed data, big-endian.
// DEFLATE: blocks, each with a 3-bit header (BFINAL, then BTYPE 0 stored, 1 fixed Huffman codes,
// 2 dynamic Huffman codes). A Huffman block is a sequence of literal/length symbols: 0..255 a
// byte, 256 end of block, 257..285 a match length (plus extra bits) followed by a distance symbol
// 0..29 (plus extra bits): copy `length` bytes from `distance` bytes back. Bits are read from the
// least significant end of each byte; Huffman codes are stored most significant bit first.

const LENGTH_BASE = [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258];
const LENGTH_EXTRA = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0];
const DIST_BASE = [1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577];
const DIST_EXTRA = [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13];
/** The order in which a dynamic block lists the code lengths of the code-length alphabet. */
const CLEN_ORDER = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15];

const badZlib = (what: string) => corruptPng(`bad compressed image data (${what})`);

/**
 * A canonical Huffman code as a lookup table: index = the next `bits` input bits (first bit in
 * the lowest position, as they arrive), entry = symbol << 4 | code length; 0 = no such code.
 */
interface Huffman {
  table: Uint16Array;
  bits: number;
}

function buildHuffman(lengths: ArrayLike<number>, what: string): Huffman {
  let bits = 0;
  for (let i = 0; i < lengths.length; i++) bits = Math.max(bits, lengths[i]);
  const table = new Uint16Array(1 << Math.max(bits, 1));
  // Canonical codes (RFC 1951 3.2.2): count codes per length, first code of each length.
  const count = new Array<number>(16).fill(0);
  for (let i = 0; i < lengths.length; i++) count[lengths[i]]++;
  count[0] = 0;
  const next = new Array<number>(16).fill(0);
  let code = 0;
  for (let len = 1; len <= 15; len++) {
    code = (code + count[len - 1]) << 1;
    next[len] = code;
    if (code + count[len] > 1 << len) throw badZlib(`over-subscribed ${what} code`);
  }
  for (let sym = 0; sym < lengths.length; sym++) {
    const len = lengths[sym];
    if (len === 0) continue;
    // Reverse the code's bits: it is read one bit at a time, most significant first.
    let c = next[len]++, rev = 0;
    for (let i = 0; i < len; i++, c >>= 1) rev = (rev << 1) | (c & 1);
    for (let i = rev; i < table.length; i += 1 << len) table[i] = (sym << 4) | len;
  }
  return { table, bits };
}

const FIXED_LITLEN = buildHuffman([...new Array(144).fill(8), ...new Array(112).fill(9), ...new Array(24).fill(7), ...new Array(8).fill(8)], 'fixed');
const FIXED_DIST = buildHuffman(new Array(30).fill(5), 'fixed');

/**
 * Inflates a zlib stream into exactly `expected` bytes (what the PNG header says the scanlines
 * take). Fewer is an error; if the stream holds more we stop there, as Pillow does. The Adler-32
 * checksum is verified when the stream ends where expected. Memory is bounded by `expected`,
 * whatever the stream claims: no decompression bombs.
 */
export function inflateZlib(src: Uint8Array, expected: number): Uint8Array {
  if (src.length < 2) throw badZlib('stream too short');
  const cmf = src[0], flg = src[1];
  if ((cmf & 15) !== 8 || cmf >> 4 > 7 || (cmf * 256 + flg) % 31 !== 0) throw badZlib('incorrect header check');
  if (flg & 0x20) throw badZlib('preset dictionary, which PNG does not allow');

  const out = new Uint8Array(expected);
  let o = 0;
  let at = 2, bitBuf = 0, bitCount = 0;
  /** The next n bits (n <= 16), first bit lowest; past the end they read as 0 (checked later). */
  const need = (n: number) => {
    while (bitCount < n) {
      bitBuf |= (at < src.length ? src[at] : 0) << bitCount;
      at++;
      bitCount += 8;
    }
  };
  const take = (n: number) => {
    need(n);
    const v = bitBuf & ((1 << n) - 1);
    bitBuf >>>= n;
    bitCount -= n;
    return v;
  };
  const decode = (h: Huffman) => {
    need(h.bits);
    const e = h.table[bitBuf & ((1 << h.bits) - 1)];
    const len = e & 15;
    if (len === 0) throw badZlib('invalid Huffman code');
    bitBuf >>>= len;
    bitCount -= len;
    return e >> 4;
  };
  const overrun = () => at - (bitCount >> 3) > src.length;

  let final = 0;
  while (!final) {
    if (overrun()) throw badZlib('stream ends early');
    final = take(1);
    const type = take(2);
    if (type === 0) {
      // Stored: skip to a byte boundary, LEN and its complement NLEN, then LEN bytes.
      bitBuf = 0;
      at -= bitCount >> 3;
      bitCount = 0;
      if (at + 4 > src.length) throw badZlib('stream ends early');
      const len = src[at] | (src[at + 1] << 8), nlen = src[at + 2] | (src[at + 3] << 8);
      if ((len ^ 0xffff) !== nlen) throw badZlib('stored block length mismatch');
      at += 4;
      if (at + len > src.length) throw badZlib('stream ends early');
      const n = Math.min(len, expected - o);
      out.set(src.subarray(at, at + n), o);
      o += n;
      at += len;
      if (n < len) return out; // more data than the image needs
      continue;
    }
    let litlen = FIXED_LITLEN, dist = FIXED_DIST;
    if (type === 2) {
      const hlit = take(5) + 257, hdist = take(5) + 1, hclen = take(4) + 4;
      const clens = new Array<number>(19).fill(0);
      for (let i = 0; i < hclen; i++) clens[CLEN_ORDER[i]] = take(3);
      const clen = buildHuffman(clens, 'code length');
      const lens: number[] = [];
      while (lens.length < hlit + hdist) {
        const sym = decode(clen);
        if (sym < 16) lens.push(sym);
        else if (sym === 16) {
          if (lens.length === 0) throw badZlib('repeat with no previous length');
          const prev = lens[lens.length - 1];
          for (let r = 3 + take(2); r > 0; r--) lens.push(prev);
        } else {
          for (let r = sym === 17 ? 3 + take(3) : 11 + take(7); r > 0; r--) lens.push(0);
        }
      }
      if (lens.length > hlit + hdist) throw badZlib('invalid code lengths set');
      if (lens[256] === 0) throw badZlib('no end-of-block code');
      litlen = buildHuffman(lens.slice(0, hlit), 'literal/length');
      dist = buildHuffman(lens.slice(hlit), 'distance');
    } else if (type !== 1) {
      throw badZlib('invalid block type');
    }
    for (;;) {
      if (overrun()) throw badZlib('stream ends early');
      const sym = decode(litlen);
      if (sym < 256) {
        if (o === expected) return out;
        out[o++] = sym;
      } else if (sym === 256) {
        break;
      } else {
        if (sym > 285) throw badZlib('invalid literal/length code');
        const length = LENGTH_BASE[sym - 257] + take(LENGTH_EXTRA[sym - 257]);
        const dsym = decode(dist);
        if (dsym > 29) throw badZlib('invalid distance code');
        const distance = DIST_BASE[dsym] + take(DIST_EXTRA[dsym]);
        if (distance > o) throw badZlib('invalid distance too far back');
        const n = Math.min(length, expected - o);
        for (let i = 0; i < n; i++, o++) out[o] = out[o - distance];
        if (n < length) return out;
      }
    }
  }
  if (overrun()) throw badZlib('stream ends early');
  if (o < expected) throw corruptPng(`image data ends early: ${o} of ${expected} bytes`);
  // Adler-32 (RFC 1950 8.2): s1 = 1 + sum of bytes, s2 = sum of s1 after each byte, mod 65521.
  at -= bitCount >> 3;
  if (at + 4 > src.length) throw badZlib('stream ends before its checksum');
  let s1 = 1, s2 = 0;
  for (let i = 0; i < o; ) {
    // Reduce every 5552 bytes, as zlib does (its NMAX: sums stay below 2^32).
    for (const stop = Math.min(i + 5552, o); i < stop; i++) {
      s1 += out[i];
      s2 += s1;
    }
    s1 %= 65521;
    s2 %= 65521;
  }
  if (((s2 << 16) | s1) >>> 0 !== u32(src, at)) throw badZlib('incorrect data check');
  return out;
}

// ---------------------------------------------------------------------------------------------
// JPEG (ITU T.81): markers 0xFF xx; most are followed by a u16 length (counting itself) and a
// segment; SOS is followed by entropy-coded data in which 0xFF is stuffed as 0xFF 0x00 and RSTn
// markers may appear; EOI (0xFF 0xD9) ends the image.
//
// We walk the markers ourselves: for the frame size (SOFn) before jpeg-js allocates, to detect
// truncation (the walk must reach EOI; jpeg-js would otherwise decode zeros past the end), to
// refuse what jpeg-js cannot decode with a clear message, and for the markers that decide the
// colour space as libjpeg decides it (JFIF, Adobe, component ids).
//
// Pixel values. jpeg-js and libjpeg-turbo (Pillow's decoder) differ in three places:
//   1. the IDCT: jpeg-js ports pdf.js's integer IDCT; libjpeg-turbo uses its "islow" IDCT.
//      Sample values differ by a level or two here and there; we keep jpeg-js's.
//   2. chroma upsampling: jpeg-js repeats each chroma sample (box); libjpeg-turbo interpolates
//      ("fancy upsampling", a triangle filter, on by default). This is where the large
//      differences were: up to 100 levels at saturated colour edges in our 4:2:0 test pictures,
//      4 levels on average. We undo jpeg-js's repetition (every repeated sample is the stored
//      one) and upsample as libjpeg-turbo does.
//   3. YCbCr -> RGB: jpeg-js uses floating point; libjpeg-turbo uses 16-bit fixed-point tables.
//      We ask jpeg-js for the raw Y, Cb, Cr and apply libjpeg-turbo's tables.
// What remains is (1): see tests/image/decode.test.ts for the measured differences.
// CMYK and YCCK files (4 components) go through jpeg-js's own conversion, which is within a level
// of Pillow's CMYK -> RGB on top of (1), because jpeg-js does not give the raw CMYK samples.

const corruptJpeg = (what: string) => new UserError(`truncated or corrupt JPEG: ${what}`);
const unsupportedJpeg = (what: string) => new UserError(`unsupported JPEG: ${what}; convert it to a baseline JPEG or a PNG`);

/** The start-of-frame markers and what they are; jpeg-js decodes the first three. */
const SOF_KINDS: Record<number, string> = {
  0xc0: 'baseline', 0xc1: 'extended sequential', 0xc2: 'progressive', 0xc3: 'lossless',
  0xc5: 'differential sequential', 0xc6: 'differential progressive', 0xc7: 'differential lossless',
  0xc9: 'arithmetic-coded sequential', 0xca: 'arithmetic-coded progressive', 0xcb: 'arithmetic-coded lossless',
  0xcd: 'arithmetic-coded differential sequential', 0xce: 'arithmetic-coded differential progressive',
  0xcf: 'arithmetic-coded differential lossless',
};

interface JpegComponent {
  id: number;
  /** Horizontal and vertical sampling factors, 1..4. */
  h: number;
  v: number;
}

interface JpegStructure {
  width: number;
  height: number;
  components: JpegComponent[];
  sawJfif: boolean;
  /** Adobe APP14 transform flag and its byte offset in the file, if there is such a marker. */
  adobe: { transform: number; offset: number } | null;
}

function readJpegStructure(bytes: Uint8Array, options: DecodeOptions): JpegStructure {
  const n = bytes.length;
  let frame: Omit<JpegStructure, 'sawJfif' | 'adobe'> | null = null;
  let sawJfif = false;
  let adobe: JpegStructure['adobe'] = null;
  let at = 2; // after SOI
  for (;;) {
    // Find the next marker: libjpeg skips stray bytes between segments, and 0xFF fill bytes.
    while (at < n && bytes[at] !== 0xff) at++;
    while (at < n && bytes[at] === 0xff) at++;
    if (at >= n) throw corruptJpeg('file ends before the end-of-image marker');
    const marker = bytes[at++];
    if (marker === 0xd9) break; // EOI
    if (marker === 0x00 || marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) continue; // no segment
    if (at + 2 > n) throw corruptJpeg('file ends inside a marker');
    const length = u16(bytes, at);
    if (length < 2) throw corruptJpeg(`marker 0xFF${marker.toString(16).toUpperCase()} at byte ${at - 2} has length ${length}`);
    const end = at + length;
    if (end > n) throw corruptJpeg(`file ends inside the 0xFF${marker.toString(16).toUpperCase()} segment at byte ${at - 2}`);
    const seg = bytes.subarray(at + 2, end);

    if (marker in SOF_KINDS) {
      if (frame) throw unsupportedJpeg('more than one frame');
      if (marker > 0xc2) throw unsupportedJpeg(`${SOF_KINDS[marker]} JPEG (SOF${marker - 0xc0}) is not supported by jpeg-js`);
      if (seg.length < 6) throw corruptJpeg('frame header too short');
      const precision = seg[0], height = u16(seg, 1), width = u16(seg, 3), count = seg[5];
      if (precision !== 8) throw unsupportedJpeg(`${precision}-bit samples`);
      if (width === 0 || height === 0) throw unsupportedJpeg(`frame size ${width}x${height} (height given later by a DNL marker)`);
      checkPixelLimit(width, height, options);
      if (count !== 1 && count !== 3 && count !== 4) throw unsupportedJpeg(`${count} colour components`);
      if (seg.length < 6 + 3 * count) throw corruptJpeg('frame header too short');
      const components: JpegComponent[] = [];
      for (let i = 0; i < count; i++) {
        const id = seg[6 + 3 * i], h = seg[7 + 3 * i] >> 4, v = seg[7 + 3 * i] & 15;
        if (h < 1 || h > 4 || v < 1 || v > 4) throw corruptJpeg(`component ${id} has sampling factors ${h}x${v}`);
        components.push({ id, h, v });
      }
      frame = { width, height, components };
    } else if (marker === 0xe0 && seg.length >= 5 && String.fromCharCode(...seg.subarray(0, 5)) === 'JFIF\0') {
      sawJfif = true;
    } else if (marker === 0xee && seg.length >= 12 && String.fromCharCode(...seg.subarray(0, 5)) === 'Adobe') {
      adobe = { transform: seg[11], offset: at + 2 + 11 };
    } else if (marker === 0xda) {
      if (!frame) throw corruptJpeg('scan before the frame header');
      // Skip the entropy-coded data: up to a 0xFF that is not stuffing (0xFF00) or a restart.
      let i = end;
      for (;;) {
        while (i < n && bytes[i] !== 0xff) i++;
        if (i + 1 >= n) throw corruptJpeg('file ends inside the compressed image data');
        const next = bytes[i + 1];
        if (next === 0x00 || (next >= 0xd0 && next <= 0xd7)) i += 2;
        else break;
      }
      at = i;
      continue;
    }
    at = end;
  }
  if (!frame) throw corruptJpeg('no frame header (SOF marker)');
  return { ...frame, sawJfif, adobe };
}

type JpegColorSpace = 'gray' | 'ycbcr' | 'rgb' | 'cmyk' | 'ycck';

/** libjpeg's guess of the colour space (jdapimin.c, default_decompress_parms). */
function jpegColorSpace(s: JpegStructure): JpegColorSpace {
  const c = s.components;
  if (c.length === 1) return 'gray';
  if (c.length === 3) {
    if (s.sawJfif) return 'ycbcr';
    if (s.adobe) return s.adobe.transform === 0 ? 'rgb' : 'ycbcr';
    if (c[0].id === 82 && c[1].id === 71 && c[2].id === 66) return 'rgb'; // 'R', 'G', 'B'
    return 'ycbcr';
  }
  if (s.adobe) return s.adobe.transform === 0 ? 'cmyk' : 'ycck';
  return 'cmyk';
}

/** The largest image jpeg-js may build, in MB: blocks (4 bytes a sample) + lines + output. */
const JPEG_MEMORY_MB = 2048;

function runJpegJs(bytes: Uint8Array, colorTransform: boolean, maxMegapixels: number): Uint8Array {
  try {
    return jpegJsDecode(bytes, {
      useTArray: true,
      formatAsRGBA: false,
      colorTransform,
      tolerantDecoding: false,
      maxResolutionInMP: maxMegapixels,
      maxMemoryUsageInMB: JPEG_MEMORY_MB,
    }).data;
  } catch (e) {
    const message = (e as Error).message;
    if (message.includes('maxMemoryUsageInMB')) {
      throw new UserError(`image is too large for the JPEG decoder's ${JPEG_MEMORY_MB} MB memory limit`);
    }
    throw corruptJpeg(message);
  }
}

export function decodeJpeg(bytes: Uint8Array, options: DecodeOptions = {}): RgbImage {
  if (sniffFormat(bytes) !== 'jpeg') throw new UserError('not a JPEG image (no start-of-image marker)');
  const s = readJpegStructure(bytes, options);
  const { width, height } = s;
  const space = jpegColorSpace(s);
  const maxMp = options.maxMegapixels ?? MAX_MEGAPIXELS;

  if (space === 'cmyk' || space === 'ycck') {
    // Pillow reads every 4-component JPEG as Adobe-inverted CMYK ("CMYK;I"); jpeg-js applies
    // the same inversion but only to files with an Adobe marker, so give it one if missing.
    const input = s.adobe ? bytes : withAdobeMarker(bytes);
    return { width, height, data: runJpegJs(input, space === 'ycck', maxMp) };
  }

  // Ask jpeg-js for the stored samples, not RGB. It converts YCbCr regardless of the option when
  // an Adobe marker says so, so clear that byte in a copy; the colour space was decided above.
  let input = bytes;
  if (s.adobe && s.adobe.transform !== 0) {
    input = bytes.slice();
    input[s.adobe.offset] = 0;
  }
  // width x height x 3: each component's samples, repeated over the pixels they cover.
  const raw = runJpegJs(input, false, maxMp);
  if (space === 'gray') return { width, height, data: raw };

  const maxH = Math.max(...s.components.map((c) => c.h));
  const maxV = Math.max(...s.components.map((c) => c.v));
  const planes = s.components.map((c, k) => upsampleLikeLibjpeg(raw, k, width, height, maxH / c.h, maxV / c.v));
  const out = new Uint8Array(width * height * 3);
  if (space === 'rgb') {
    for (let i = 0; i < width * height; i++) {
      out[3 * i] = planes[0][i];
      out[3 * i + 1] = planes[1][i];
      out[3 * i + 2] = planes[2][i];
    }
  } else {
    ycbcrToRgb(planes[0], planes[1], planes[2], out);
  }
  return { width, height, data: out };
}

/** A copy of the file with an Adobe APP14 segment (transform 0: CMYK) right after SOI. */
function withAdobeMarker(bytes: Uint8Array): Uint8Array {
  const app14 = [0xff, 0xee, 0x00, 0x0e, 0x41, 0x64, 0x6f, 0x62, 0x65, 0x00, 0x64, 0x00, 0x00, 0x00, 0x00, 0x00];
  const out = new Uint8Array(bytes.length + app14.length);
  out.set(bytes.subarray(0, 2));
  out.set(app14, 2);
  out.set(bytes.subarray(2), 2 + app14.length);
  return out;
}

/**
 * Component k of jpeg-js's output (width x height x 3 interleaved, each stored sample repeated
 * over rh x rv pixels), upsampled to width x height the way libjpeg-turbo 2.1 does it
 * (jdsample.c, with do_fancy_upsampling on, its default and Pillow's):
 *
 *   ratio 1 x 1: the samples as they are;
 *   2 x 1 (4:2:2), when the component is more than 2 samples wide: h2v1_fancy_upsample;
 *   1 x 2 (4:4:0): h1v2_fancy_upsample;
 *   2 x 2 (4:2:0), when more than 2 samples wide: h2v2_fancy_upsample;
 *   anything else: each sample repeated (int_upsample), which is what jpeg-js already did.
 *
 * The fancy upsamplers put output pixel centres 1/4 and 3/4 of the way between sample centres
 * and weight the nearer sample 3/4 (9/16, 3/16, 3/16, 1/16 in 2-D), with rounding biases that
 * alternate between neighbouring pixels. At the image edges the missing neighbour is the edge
 * sample itself (libjpeg replicates the first and last rows and columns).
 */
function upsampleLikeLibjpeg(raw: Uint8Array, k: number, width: number, height: number, rh: number, rv: number): Uint8Array {
  const out = new Uint8Array(width * height);
  const fancy2x1 = rh === 2 && rv === 1;
  const fancy1x2 = rh === 1 && rv === 2;
  const fancy2x2 = rh === 2 && rv === 2;
  // The component's own size (libjpeg's downsampled_width / _height).
  const cw = Math.ceil(width / rh), ch = Math.ceil(height / rv);
  if (!(fancy1x2 || ((fancy2x1 || fancy2x2) && cw > 2))) {
    for (let i = 0, j = k; i < out.length; i++, j += 3) out[i] = raw[j];
    return out;
  }
  // Recover the stored samples: sample (r, c) covers pixels [r*rv, r*rv+rv) x [c*rh, c*rh+rh).
  const s = new Uint8Array(cw * ch);
  for (let r = 0; r < ch; r++) {
    const from = 3 * r * rv * width + k;
    for (let c = 0; c < cw; c++) s[r * cw + c] = raw[from + 3 * c * rh];
  }
  for (let y = 0; y < height; y++) {
    // Output row y comes from sample row r = floor(y / rv) (offset a in s). With rv = 2 the
    // farther row (offset b) is the one above for even y and below for odd y, clamped at the
    // edges; h2v1 has none.
    const r = Math.floor(y / rv);
    const a = r * cw;
    const b = (rv === 1 ? r : y % 2 === 0 ? Math.max(r - 1, 0) : Math.min(r + 1, ch - 1)) * cw;
    const row = y * width;
    if (fancy1x2) {
      // 3/4 nearer + 1/4 farther, biases 1 and 2 alternating by row.
      const bias = y % 2 === 0 ? 1 : 2;
      for (let x = 0; x < width; x++) out[row + x] = (s[a + x] * 3 + s[b + x] + bias) >> 2;
    } else if (fancy2x1) {
      // Pixels 2c and 2c + 1 lie 1/4 left and right of sample c: 3/4 of it, 1/4 of its neighbour
      // on that side (biases 1 and 2); the outermost pixels copy the edge sample.
      for (let c = 0; c < cw; c++) {
        const v = s[a + c], x = row + 2 * c;
        out[x] = c === 0 ? v : (v * 3 + s[a + c - 1] + 1) >> 2;
        if (2 * c + 1 < width) out[x + 1] = c === cw - 1 ? v : (v * 3 + s[a + c + 1] + 2) >> 2;
      }
    } else {
      // 2 x 2: first the vertical 3:1 sum of each column (times 4 in all), then horizontally
      // 3:1 between column sums (times 16 in all), biases 8 and 7.
      let last = 0, here = s[a] * 3 + s[b];
      for (let c = 0; c < cw; c++) {
        const next = c + 1 < cw ? s[a + c + 1] * 3 + s[b + c + 1] : 0;
        const x = row + 2 * c;
        out[x] = c === 0 ? (here * 4 + 8) >> 4 : (here * 3 + last + 8) >> 4;
        if (2 * c + 1 < width) out[x + 1] = c === cw - 1 ? (here * 4 + 7) >> 4 : (here * 3 + next + 7) >> 4;
        last = here;
        here = next;
      }
    }
  }
  return out;
}

/**
 * libjpeg-turbo's YCbCr -> RGB (jdcolor.c, build_ycc_rgb_table and ycc_rgb_convert), JFIF's
 *   R = Y + 1.402 (Cr - 128),  G = Y - 0.34414 (Cb - 128) - 0.71414 (Cr - 128),  B = Y + 1.772 (Cb - 128)
 * in 16-bit fixed point (SCALEBITS = 16), each term rounded as the tables round it, then clamped.
 */
const SCALEBITS = 16;
const ONE_HALF = 1 << (SCALEBITS - 1);
const FIX = (x: number) => Math.trunc(x * (1 << SCALEBITS) + 0.5);
const YCC = (() => {
  const crR = new Int32Array(256), cbB = new Int32Array(256), crG = new Int32Array(256), cbG = new Int32Array(256);
  for (let i = 0; i < 256; i++) {
    const x = i - 128;
    crR[i] = (FIX(1.402) * x + ONE_HALF) >> SCALEBITS;
    cbB[i] = (FIX(1.772) * x + ONE_HALF) >> SCALEBITS;
    crG[i] = -FIX(0.71414) * x;
    cbG[i] = -FIX(0.34414) * x + ONE_HALF;
  }
  return { crR, cbB, crG, cbG };
})();

function ycbcrToRgb(y: Uint8Array, cb: Uint8Array, cr: Uint8Array, out: Uint8Array): void {
  // A clamped view of the output does libjpeg's range_limit: stores below 0 give 0, above 255 give 255.
  const clamped = new Uint8ClampedArray(out.buffer, out.byteOffset, out.length);
  const { crR, cbG, crG, cbB } = YCC;
  for (let i = 0, o = 0; i < y.length; i++, o += 3) {
    clamped[o] = y[i] + crR[cr[i]];
    clamped[o + 1] = y[i] + ((cbG[cb[i]] + crG[cr[i]]) >> SCALEBITS);
    clamped[o + 2] = y[i] + cbB[cb[i]];
  }
}
