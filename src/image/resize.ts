/**
 * Pillow's `Image.resize((outW, outH), Image.BILINEAR)` for 8-bit RGB and L images, byte for byte.
 *
 * reference: Pillow src/libImaging/Resample.c (precompute_coeffs, normalize_coeffs_8bpc,
 * ImagingResampleHorizontal_8bpc / Vertical_8bpc, ImagingResampleInner); same code in 9.4 and now.
 * torchvision's Resize on a PIL image calls exactly this, so the pretrained weights were trained
 * and evaluated on pictures resized this way.
 *
 * It is not textbook bilinear interpolation (which reads the 2x2 nearest pixels and, when
 * shrinking by more than 2, skips pixels and aliases). Pillow convolves with a triangle filter
 * whose support grows with the shrink factor, so every source pixel contributes: antialiasing.
 *
 * Separable, two passes, each on 8-bit data:
 *
 *   1. horizontal: each output column xx has a window of source columns [xmin, xmin + count) and
 *      weights k[0..count); each row is filtered to outW columns and rounded to uint8;
 *   2. vertical: the same on the intermediate image's columns, to outH rows, rounded to uint8.
 *
 * A pass is skipped when its axis keeps its size (the other pass's output is then exact to
 * Pillow; doing the identity pass anyway would also be exact, but slower). The horizontal pass
 * only filters the source rows the vertical pass will read (Pillow's ybox_first..ybox_last).
 *
 * Weights for one axis (input size `inSize`, output size `outSize`, box [0, inSize)):
 *
 *   scale   = inSize / outSize                 (source pixels per output pixel)
 *   fscale  = max(scale, 1)                    (upscaling keeps the plain bilinear support)
 *   support = 1 * fscale                       (triangle of radius 1, stretched)
 *   center  = (xx + 0.5) * scale               (output pixel centre in source coordinates)
 *   xmin    = trunc(center - support + 0.5) clamped to >= 0
 *   xmax    = trunc(center + support + 0.5) clamped to <= inSize
 *   w(x)    = triangle((x - center + 0.5) / fscale),  triangle(t) = max(0, 1 - |t|),  x in [xmin, xmax)
 *   k(x)    = w(x) / sum(w)                    (double precision, in this order)
 *
 * then converted to fixed point with PRECISION_BITS = 32 - 8 - 2 = 22 fractional bits, rounding
 * half away from zero: kk = trunc(k * 2^22 + 0.5) (k >= 0 for the triangle). An output sample is
 *
 *   ss  = 2^21 + sum_x pixel(x) * kk(x)        (2^21 = one half: round to nearest)
 *   out = clamp(ss >> 22, 0, 255)              (Pillow's clip8)
 *
 * Every step above is done in the same order and precision as the C code (doubles for the
 * weights; the integer sums stay below 2^31 as in C's int), which is why the bytes agree.
 */

import { type Channels, type GrayImage, type RgbImage, channelsOf } from './image.js';

/** Pillow's fixed-point precision for 8-bit resampling: 8 bits for the result, 2 for overflow. */
export const PRECISION_BITS = 32 - 8 - 2;

/** Pillow's bilinear_filter: a triangle of radius 1. */
function triangle(t: number): number {
  if (t < 0) t = -t;
  return t < 1 ? 1 - t : 0;
}

/** The window and fixed-point weights of every output pixel along one axis. */
export interface AxisWeights {
  /** Maximum window length: the stride of `weights`. */
  ksize: number;
  /** Per output pixel: first source index and window length, [xmin0, count0, xmin1, count1, ...]. */
  bounds: Int32Array;
  /** Per output pixel: ksize weights in units of 2^-22, zero past the window. */
  weights: Int32Array;
}

/**
 * Pillow's precompute_coeffs followed by normalize_coeffs_8bpc, for the bilinear filter and the
 * whole source range [0, inSize).
 */
export function bilinearWeights(inSize: number, outSize: number): AxisWeights {
  // Pillow passes the box edges as C floats: (double)(in1 - in0) is a float subtraction. For
  // sizes below 2^24 this is exact; fround keeps it identical above.
  const scale = Math.fround(inSize) / outSize;
  const filterscale = scale < 1 ? 1 : scale;
  const support = 1 * filterscale;
  const ksize = Math.ceil(support) * 2 + 1;
  const bounds = new Int32Array(outSize * 2);
  const weights = new Int32Array(outSize * ksize);
  const k = new Float64Array(ksize);
  const ss = 1 / filterscale;
  for (let xx = 0; xx < outSize; xx++) {
    const center = 0 + (xx + 0.5) * scale;
    let xmin = Math.trunc(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    let xmax = Math.trunc(center + support + 0.5);
    if (xmax > inSize) xmax = inSize;
    const count = xmax - xmin;
    let ww = 0;
    for (let x = 0; x < count; x++) {
      // C evaluates x + xmin - center + 0.5 as ((x + xmin) - center) + 0.5.
      const w = triangle((x + xmin - center + 0.5) * ss);
      k[x] = w;
      ww += w;
    }
    for (let x = 0; x < count; x++) {
      const kx = ww !== 0 ? k[x] / ww : k[x];
      // normalize_coeffs_8bpc: round half away from zero, then C's (int) truncation.
      weights[xx * ksize + x] = kx < 0 ? Math.trunc(-0.5 + kx * (1 << PRECISION_BITS)) : Math.trunc(0.5 + kx * (1 << PRECISION_BITS));
    }
    bounds[2 * xx] = xmin;
    bounds[2 * xx + 1] = count;
  }
  return { ksize, bounds, weights };
}

/** Pillow's clip8: the rounded fixed-point sum back to a byte. */
function clip8(ss: number): number {
  const v = ss >> PRECISION_BITS;
  return v < 0 ? 0 : v > 255 ? 255 : v;
}

const HALF = 1 << (PRECISION_BITS - 1);

/**
 * Resamples interleaved 8-bit pixels, `channels` bytes each, from srcW x srcH to outW x outH.
 * The core of resizeRgb / resizeGray; exposed for callers holding raw buffers.
 */
export function resizeBilinear(
  src: Uint8Array, srcW: number, srcH: number, channels: Channels, outW: number, outH: number,
): Uint8Array {
  if (!(Number.isInteger(outW) && Number.isInteger(outH) && outW >= 1 && outH >= 1)) {
    throw new Error(`resize: output size ${outW}x${outH} is not a positive whole number of pixels`);
  }
  if (src.length !== srcW * srcH * channels) {
    throw new Error(`resize: ${srcW}x${srcH}x${channels} needs ${srcW * srcH * channels} bytes, got ${src.length}`);
  }
  const c = channels;
  const needHorizontal = outW !== srcW;
  const needVertical = outH !== srcH;
  if (!needHorizontal && !needVertical) return src.slice();

  const vert = bilinearWeights(srcH, outH);
  // Source rows the vertical pass reads: the horizontal pass filters only these.
  const yFirst = vert.bounds[0];
  const yLast = vert.bounds[2 * (outH - 1)] + vert.bounds[2 * (outH - 1) + 1];

  // Pass 1, horizontal: rows yFirst..yLast-1 of src -> tmp (outW x (yLast - yFirst)).
  let tmp = src;
  let tmpW = srcW;
  let rowOffset = 0; // source row of tmp's row 0
  if (needHorizontal) {
    const { ksize, bounds, weights } = bilinearWeights(srcW, outW);
    const rows = yLast - yFirst;
    tmp = new Uint8Array(outW * rows * c);
    for (let y = 0; y < rows; y++) {
      const srcRow = (y + yFirst) * srcW * c;
      const outRow = y * outW * c;
      for (let xx = 0; xx < outW; xx++) {
        const xmin = bounds[2 * xx], count = bounds[2 * xx + 1];
        const kBase = xx * ksize;
        for (let ch = 0; ch < c; ch++) {
          let ss = HALF;
          for (let x = 0; x < count; x++) ss += src[srcRow + (xmin + x) * c + ch] * weights[kBase + x];
          tmp[outRow + xx * c + ch] = clip8(ss);
        }
      }
    }
    tmpW = outW;
    rowOffset = yFirst;
  }
  if (!needVertical) return tmp;

  // Pass 2, vertical: tmp -> out (tmpW x outH).
  const { ksize, bounds, weights } = vert;
  const out = new Uint8Array(tmpW * outH * c);
  const rowBytes = tmpW * c;
  for (let yy = 0; yy < outH; yy++) {
    const ymin = bounds[2 * yy] - rowOffset, count = bounds[2 * yy + 1];
    const kBase = yy * ksize;
    for (let i = 0; i < rowBytes; i++) {
      let ss = HALF;
      for (let y = 0; y < count; y++) ss += tmp[(ymin + y) * rowBytes + i] * weights[kBase + y];
      out[yy * rowBytes + i] = clip8(ss);
    }
  }
  return out;
}

/** Pillow's `img.resize((width, height), Image.BILINEAR)` of an RGB image. */
export function resizeRgb(image: RgbImage, width: number, height: number): RgbImage {
  return { width, height, data: resizeBilinear(image.data, image.width, image.height, 3, width, height) };
}

/** Pillow's `img.resize((width, height), Image.BILINEAR)` of an L image. */
export function resizeGray(image: GrayImage, width: number, height: number): GrayImage {
  return { width, height, data: resizeBilinear(image.data, image.width, image.height, 1, width, height) };
}

/** resizeRgb or resizeGray, whichever the image is. */
export function resize<T extends RgbImage | GrayImage>(image: T, width: number, height: number): T {
  return { width, height, data: resizeBilinear(image.data, image.width, image.height, channelsOf(image), width, height) } as T;
}
