/**
 * Writes docs/data/fashion-mnist-tiny/: the first 16 training and the first 16 test images of
 * Fashion-MNIST (Zalando Research, MIT licence) in the original IDX format, gzipped, so that the
 * training commands in docs/training.md run in seconds on any machine, through the very code path
 * a full run takes (alexnet train --data fashion-mnist --data-dir DIR).
 *
 *   npx tsx docs/data/make-fashion-mnist-tiny.ts [SOURCE_DIR]
 *
 * SOURCE_DIR defaults to where Debian's dataset-fashion-mnist package installs the files.
 */

import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { parseIdx } from '../../src/train/idx.js';

const source = process.argv[2] ?? '/usr/share/datasets/fashion-mnist';
const out = new URL('./fashion-mnist-tiny/', import.meta.url).pathname;
const COUNT = 16;

/** An IDX file of unsigned bytes: magic 0 0 0x08 rank, big-endian dimensions, the data. */
function idx(shape: number[], data: Uint8Array): Uint8Array {
  const header = new Uint8Array(4 + 4 * shape.length);
  const view = new DataView(header.buffer);
  header[2] = 0x08;
  header[3] = shape.length;
  shape.forEach((d, i) => view.setUint32(4 + 4 * i, d, false));
  const bytes = new Uint8Array(header.length + data.length);
  bytes.set(header);
  bytes.set(data, header.length);
  return bytes;
}

mkdirSync(out, { recursive: true });
for (const prefix of ['train', 't10k']) {
  const images = parseIdx(gunzipSync(readFileSync(join(source, `${prefix}-images-idx3-ubyte.gz`))));
  const labels = parseIdx(gunzipSync(readFileSync(join(source, `${prefix}-labels-idx1-ubyte.gz`))));
  const [, rows, cols] = images.shape;
  writeFileSync(join(out, `${prefix}-images-idx3-ubyte.gz`), gzipSync(idx([COUNT, rows, cols], images.data.subarray(0, COUNT * rows * cols)), { level: 9 }));
  writeFileSync(join(out, `${prefix}-labels-idx1-ubyte.gz`), gzipSync(idx([COUNT], labels.data.subarray(0, COUNT)), { level: 9 }));
  console.log(`${prefix}: ${COUNT} of ${images.shape[0]} images, labels ${Array.from(labels.data.subarray(0, COUNT)).join(' ')}`);
}
