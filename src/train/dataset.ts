/**
 * Labelled image datasets held in memory as 8-bit pixels, and the class names of Fashion-MNIST.
 */

import { UserError } from '../errors.js';
import type { IdxArray } from './idx.js';

export interface ImageDataset {
  /** Number of examples. */
  count: number;
  channels: number;
  height: number;
  width: number;
  /** count x channels x height x width bytes, image after image, CHW within each. */
  pixels: Uint8Array;
  labels: Int32Array;
  classNames: string[];
}

/** Fashion-MNIST's ten classes in label order (https://github.com/zalandoresearch/fashion-mnist#labels). */
export const FASHION_MNIST_CLASSES = [
  'T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot',
];

/** An IDX images file [count, rows, cols] and its IDX labels file [count] as one dataset. */
export function datasetFromIdx(images: IdxArray, labels: IdxArray, classNames: string[]): ImageDataset {
  if (images.shape.length !== 3) throw new UserError(`images file must be [count, rows, cols], got [${images.shape.join(', ')}]`);
  if (labels.shape.length !== 1) throw new UserError(`labels file must be [count], got [${labels.shape.join(', ')}]`);
  const [count, height, width] = images.shape;
  if (labels.shape[0] !== count) throw new UserError(`${count} images but ${labels.shape[0]} labels`);
  const out = Int32Array.from(labels.data);
  for (let i = 0; i < count; i++) {
    if (out[i] >= classNames.length) throw new UserError(`label ${out[i]} of example ${i} is not a class (there are ${classNames.length})`);
  }
  return { count, channels: 1, height, width, pixels: images.data, labels: out, classNames };
}

/** The first `n` examples (tests, quick runs). */
export function subset(d: ImageDataset, n: number): ImageDataset {
  const count = Math.min(n, d.count);
  const size = d.channels * d.height * d.width;
  return { ...d, count, pixels: d.pixels.subarray(0, count * size), labels: d.labels.subarray(0, count) };
}
