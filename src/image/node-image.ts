/**
 * The Node-only edge of image/: reading a picture from a file. Everything else in image/ works on
 * bytes and runs in a browser.
 */

import { inFile } from '../errors.js';
import { readBytes } from '../formats/node-fs.js';
import { type DecodeOptions, decodeImage } from './decode.js';
import type { RgbImage } from './image.js';

/**
 * Reads and decodes a PNG or JPEG file, as Pillow's `Image.open(path).convert('RGB')` would.
 * Problems are UserErrors naming the file: `photo.jpg: no such file`,
 * `photo.jpg: truncated or corrupt JPEG: file ends inside the compressed image data`.
 */
export function loadImage(path: string, options: DecodeOptions = {}): RgbImage {
  const bytes = readBytes(path);
  return inFile(path, () => decodeImage(bytes, options));
}
