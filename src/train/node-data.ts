/**
 * The Node edge of the data sources: reading (and un-gzipping) dataset files from disk.
 */

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { UserError, inFile } from '../errors.js';
import { readBytes } from '../formats/node-fs.js';
import { FASHION_MNIST_CLASSES, datasetFromIdx, type ImageDataset } from './dataset.js';
import { parseIdx } from './idx.js';

/** Where Debian's `dataset-fashion-mnist` package installs the IDX files. */
export const FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';

function readIdx(dir: string, base: string) {
  const gz = join(dir, `${base}.gz`);
  const path = existsSync(gz) ? gz : join(dir, base);
  if (!existsSync(path)) {
    throw new UserError(
      `${gz}: no such file. Fashion-MNIST is not installed there: run 'apt-get install dataset-fashion-mnist' ` +
        `(Debian), or point --data-dir at a folder with ${base}[.gz] and the other three IDX files`,
    );
  }
  const bytes = readBytes(path);
  return inFile(path, () => {
    let raw: Uint8Array = bytes;
    if (path.endsWith('.gz')) {
      try {
        raw = gunzipSync(bytes);
      } catch (e) {
        throw new UserError(`corrupt gzip data (${(e as Error).message})`);
      }
    }
    return parseIdx(raw);
  });
}

export function loadFashionMnist(dir = FASHION_MNIST_DIR): { train: ImageDataset; test: ImageDataset } {
  const load = (prefix: string): ImageDataset => {
    const images = readIdx(dir, `${prefix}-images-idx3-ubyte`);
    const labels = readIdx(dir, `${prefix}-labels-idx1-ubyte`);
    return inFile(join(dir, prefix), () => datasetFromIdx(images, labels, FASHION_MNIST_CLASSES));
  };
  return { train: load('train'), test: load('t10k') };
}
