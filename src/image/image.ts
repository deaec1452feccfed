/**
 * Decoded pictures as plain data: 8-bit samples, rows top to bottom, pixels left to right.
 *
 *   RgbImage   3 bytes per pixel, R G B interleaved: data[(y * width + x) * 3 + c]
 *   GrayImage  1 byte per pixel: data[y * width + x]  (Pillow's mode "L"; the mini AlexNet's input)
 *
 * This is the layout Pillow keeps in memory and `np.asarray(img)` shows, (H, W, 3) or (H, W), so
 * fixtures written by numpy compare byte for byte. Conversion to the network's float CHW tensor
 * happens once, at the end of preprocessing (preprocess.ts).
 *
 * The two interfaces have the same fields; which one an image is follows from data.length, and
 * the helpers here that accept either work that out with channelsOf(). No empty images: decoders
 * never produce them (PNG and JPEG forbid a zero side) and the constructors refuse them.
 */

export interface RgbImage {
  readonly width: number;
  readonly height: number;
  /** width * height * 3 bytes, R G B interleaved. */
  readonly data: Uint8Array;
}

export interface GrayImage {
  readonly width: number;
  readonly height: number;
  /** width * height bytes. */
  readonly data: Uint8Array;
}

export type Channels = 1 | 3;

function checkSize(what: string, width: number, height: number): void {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new Error(`${what}: size ${width}x${height} is not a positive whole number of pixels`);
  }
}

/** An RgbImage over `data` (not copied), or a new black one. */
export function rgbImage(width: number, height: number, data?: Uint8Array): RgbImage {
  checkSize('rgbImage', width, height);
  const bytes = data ?? new Uint8Array(width * height * 3);
  if (bytes.length !== width * height * 3) {
    throw new Error(`rgbImage: ${width}x${height} needs ${width * height * 3} bytes, got ${bytes.length}`);
  }
  return { width, height, data: bytes };
}

/** A GrayImage over `data` (not copied), or a new black one. */
export function grayImage(width: number, height: number, data?: Uint8Array): GrayImage {
  checkSize('grayImage', width, height);
  const bytes = data ?? new Uint8Array(width * height);
  if (bytes.length !== width * height) {
    throw new Error(`grayImage: ${width}x${height} needs ${width * height} bytes, got ${bytes.length}`);
  }
  return { width, height, data: bytes };
}

/** Bytes per pixel: 3 for an RgbImage, 1 for a GrayImage. */
export function channelsOf(image: RgbImage | GrayImage): Channels {
  const pixels = image.width * image.height;
  if (pixels > 0 && image.data.length === pixels * 3) return 3;
  if (pixels > 0 && image.data.length === pixels) return 1;
  throw new Error(`image of ${image.width}x${image.height} pixels has ${image.data.length} bytes: neither RGB nor grey`);
}

/**
 * Pillow's convert('L'): L = (R * 19595 + G * 38470 + B * 7471 + 0x8000) >> 16.
 *
 * Pillow documents this as ITU-R 601-2 luma, L = R * 299/1000 + G * 587/1000 + B * 114/1000, but
 * computes it in 16-bit fixed point (libImaging/Convert.c, macro L24): the weights are
 * 0.299, 0.587, 0.114 times 65536, rounded, and 0x8000 rounds the result to nearest. The two
 * formulas disagree by one level for 9040 of the 2^24 colours; this one matches Pillow 9.4 for
 * every colour (checked exhaustively when the fixtures were made). Grey pixels (v, v, v) give v.
 */
export function rgbToGray(image: RgbImage): GrayImage {
  const { width, height, data } = image;
  const out = new Uint8Array(width * height);
  for (let i = 0; i < out.length; i++) {
    const r = data[3 * i], g = data[3 * i + 1], b = data[3 * i + 2];
    out[i] = (r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16;
  }
  return { width, height, data: out };
}

/** Pillow's convert('RGB') of an L image: the grey value in all three channels. */
export function grayToRgb(image: GrayImage): RgbImage {
  const { width, height, data } = image;
  const out = new Uint8Array(width * height * 3);
  for (let i = 0; i < data.length; i++) {
    out[3 * i] = out[3 * i + 1] = out[3 * i + 2] = data[i];
  }
  return { width, height, data: out };
}

/**
 * The width x height rectangle whose top-left pixel is (left, top), copied. Like PIL's
 * img.crop((left, top, left + width, top + height)) when the rectangle lies inside the image;
 * a rectangle reaching outside is a bug in the caller and throws.
 */
export function crop<T extends RgbImage | GrayImage>(image: T, left: number, top: number, width: number, height: number): T {
  const c = channelsOf(image);
  checkSize('crop', width, height);
  if (!Number.isInteger(left) || !Number.isInteger(top) || left < 0 || top < 0 ||
      left + width > image.width || top + height > image.height) {
    throw new Error(`crop: ${width}x${height} at (${left}, ${top}) does not fit in ${image.width}x${image.height}`);
  }
  const out = new Uint8Array(width * height * c);
  const rowBytes = width * c;
  for (let y = 0; y < height; y++) {
    const from = ((top + y) * image.width + left) * c;
    out.set(image.data.subarray(from, from + rowBytes), y * rowBytes);
  }
  return { width, height, data: out } as T;
}

/** The mirror image left to right (PIL's ImageOps.mirror, torchvision's hflip), copied. */
export function flipHorizontal<T extends RgbImage | GrayImage>(image: T): T {
  const c = channelsOf(image);
  const { width, height, data } = image;
  const out = new Uint8Array(data.length);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const from = (y * width + x) * c;
      const to = (y * width + (width - 1 - x)) * c;
      for (let k = 0; k < c; k++) out[to + k] = data[from + k];
    }
  }
  return { width, height, data: out } as T;
}
