/**
 * Training data from a folder of images, one sub-folder per class (the Node edge: it reads files).
 *
 *   DIR/<class>/...png|jpg                      every class folder is split: every 10th image
 *                                                (the 10th, 20th, ... in name order) is held out for testing
 *   DIR/train/<class>/..., DIR/val/<class>/...   (or test/) an explicit split, used as it is
 *
 * Each image is decoded, resized as the architecture's preprocessing says (torchvision: shorter
 * side to 256; Caffe: warped to 256x256; mini: gray 28x28), centre-cropped to a square of that
 * size, and stored as bytes in the tensor's channel order (BGR for Caffe weights). Random crops of
 * the network's input size are then cut from it during training (paper section 4.1: 224 or 227
 * out of 256), and the centre crop during testing.
 */

import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../errors.js';
import type { RgbImage, GrayImage } from '../image/image.js';
import { loadImage } from '../image/node-image.js';
import { centerCrop, resizeForPreset, type Preset } from '../image/preprocess.js';
import type { Normalisation } from './augment.js';
import type { ImageDataset } from './dataset.js';

const IMAGE_FILE = /\.(png|jpe?g)$/i;

/** The square side images are stored at before random cropping. */
export function storedSize(preset: Preset): number {
  return preset.resize.kind === 'warp' ? Math.min(preset.resize.width, preset.resize.height) : preset.resize.size;
}

/**
 * The preset's normalisation on pixel values v = p / 255, as assembleBatch applies it:
 * (p / divisor - mean) / std = (v - mean * divisor / 255) / (std * divisor / 255).
 */
export function presetNormalisation(preset: Preset): Normalisation {
  const k = preset.divisor / 255;
  return { mean: preset.mean.map((m) => m * k), std: preset.std.map((s) => s * k) };
}

function imagesBelow(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...imagesBelow(p));
    else if (IMAGE_FILE.test(name)) out.push(p);
  }
  return out;
}

function classFolders(dir: string): string[] {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new UserError(`${dir}: no such folder`);
  const names = readdirSync(dir).filter((n) => statSync(join(dir, n)).isDirectory()).sort();
  if (names.length < 2) throw new UserError(`${dir}: needs one sub-folder per class (found ${names.length})`);
  return names;
}

export interface FolderData {
  train: ImageDataset;
  test: ImageDataset;
  /** Files that could not be read, with the reason, one line each. */
  skipped: string[];
}

export function loadImageFolder(dir: string, preset: Preset, onProgress?: (done: number, total: number) => void): FolderData {
  const split = ['val', 'test'].find((t) => existsSync(join(dir, 'train')) && existsSync(join(dir, t)));
  const classNames = classFolders(split ? join(dir, 'train') : dir);
  const trainFiles: [string, number][] = [];
  const testFiles: [string, number][] = [];
  classNames.forEach((name, label) => {
    const files = imagesBelow(join(split ? join(dir, 'train') : dir, name));
    if (files.length === 0) throw new UserError(`${join(dir, split ? 'train' : '', name)}: no PNG or JPEG images (every class needs at least one)`);
    if (split) {
      trainFiles.push(...files.map((f): [string, number] => [f, label]));
      const testDir = join(dir, split, name);
      if (!existsSync(testDir)) throw new UserError(`${testDir}: missing (every class of train/ needs a folder in ${split}/)`);
      testFiles.push(...imagesBelow(testDir).map((f): [string, number] => [f, label]));
    } else {
      files.forEach((f, i) => ((i + 1) % 10 === 0 ? testFiles : trainFiles).push([f, label]));
    }
  });
  const size = storedSize(preset);
  const channels = preset.color === 'gray' ? 1 : 3;
  const skipped: string[] = [];
  const total = trainFiles.length + testFiles.length;
  let done = 0;
  const build = (files: [string, number][]): ImageDataset => {
    const pixels = new Uint8Array(files.length * channels * size * size);
    const labels = new Int32Array(files.length);
    let count = 0;
    for (const [file, label] of files) {
      done++;
      let img: RgbImage | GrayImage;
      try {
        img = centerCrop(resizeForPreset(loadImage(file), preset), size, preset.cropRounding);
      } catch (e) {
        if (!(e instanceof UserError)) throw e;
        skipped.push(e.message);
        continue;
      }
      // interleaved bytes -> planes, in the tensor's channel order
      const base = count * channels * size * size;
      for (let c = 0; c < channels; c++) {
        const src = preset.color === 'bgr' ? 2 - c : c;
        for (let i = 0; i < size * size; i++) pixels[base + c * size * size + i] = img.data[i * channels + src];
      }
      labels[count++] = label;
      onProgress?.(done, total);
    }
    return { count, channels, height: size, width: size, pixels: pixels.subarray(0, count * channels * size * size), labels: labels.subarray(0, count), classNames };
  };
  const train = build(trainFiles);
  const test = build(testFiles);
  if (train.count === 0) throw new UserError(`${dir}: none of the training images could be read`);
  if (test.count === 0) throw new UserError(`${dir}: no test images (a class folder needs at least 10 images for the held-out tenth, or give train/ and val/)`);
  return { train, test, skipped };
}
