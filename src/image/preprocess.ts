/**
 * From a decoded picture to the tensor a network was trained to see, per weight source.
 *
 * A preset is data: colour order, how to resize, the centre crop, and the normalisation
 *
 *   x[n, c, y, x] = ((byte / divisor) - mean[c]) / std[c]     each step rounded to float32
 *
 * which is how torchvision computes ToTensor() then Normalize() (float32 tensors, true division),
 * so for the same decoded bytes the tensors are bit-identical, not merely close.
 *
 *   torchvision  ImageNet eval recipe of torchvision.models (transforms._presets.ImageClassification):
 *                Resize(256) (shorter side to 256, bilinear with Pillow's antialiasing),
 *                CenterCrop(224), ToTensor (/255), Normalize(mean (0.485, 0.456, 0.406),
 *                std (0.229, 0.224, 0.225)); RGB.
 *   caffe        BVLC bvlc_alexnet / ONNX zoo: warp to 256x256, centre crop 227 at offset
 *                (256 - 227) / 2 rounded down = 14 (Caffe's integer division), BGR, bytes 0..255
 *                minus the per-channel ImageNet mean (B 104.007, G 116.669, R 122.679).
 *   mini         Fashion-MNIST: Pillow's convert('L'), resize to 28x28, /255, Normalize with the
 *                training set's mean 0.2860 and std 0.3530 (fields, so training can set its own:
 *                miniPreset()). Fashion-MNIST items are light on black; a photo is not, so
 *                expect poor predictions on ordinary photos whatever the preprocessing.
 *
 * The whole torchvision pipeline on a PIL image is reproduced, including the rounding of the
 * resized long side (int(256 * long / short), truncated) and of the crop offsets (Python's round,
 * half to even: a 341-pixel-wide image is cropped from x = round(58.5) = 58).
 */

import { UserError } from '../errors.js';
import type { ArchName } from '../model/architectures.js';
import type { Tensor } from '../tensor.js';
import { type GrayImage, type RgbImage, channelsOf, crop, flipHorizontal, rgbToGray } from './image.js';
import { resize } from './resize.js';

/** How the picture is resized before cropping. */
export type ResizeRule =
  /** torchvision Resize(size) with an int: shorter side to `size`, aspect ratio kept. */
  | { kind: 'shorter-side'; size: number }
  /** Both sides to the given size, aspect ratio not kept (Caffe's warp). */
  | { kind: 'warp'; width: number; height: number };

/** How a centre crop's offset (size - crop) / 2 is rounded when it is a half. */
export type CropRounding = 'half-even' | 'floor';

export interface Preset {
  name: string;
  /** Channel order of the tensor; 'gray' is one channel, Pillow's convert('L'). */
  color: 'rgb' | 'bgr' | 'gray';
  resize: ResizeRule;
  /** Side of the square centre crop. */
  crop: number;
  /** torchvision's CenterCrop rounds half to even (Python's round); Caffe divides and floors. */
  cropRounding: CropRounding;
  /** 255 to scale bytes to 0..1 first (torchvision's ToTensor); 1 to keep 0..255 (Caffe). */
  divisor: number;
  /** Per channel, in the tensor's channel order. */
  mean: readonly number[];
  std: readonly number[];
}

export const TORCHVISION_PRESET: Preset = {
  name: 'torchvision',
  color: 'rgb',
  resize: { kind: 'shorter-side', size: 256 },
  crop: 224,
  cropRounding: 'half-even',
  divisor: 255,
  mean: [0.485, 0.456, 0.406],
  std: [0.229, 0.224, 0.225],
};

export const CAFFE_PRESET: Preset = {
  name: 'caffe',
  color: 'bgr',
  resize: { kind: 'warp', width: 256, height: 256 },
  crop: 227,
  cropRounding: 'floor',
  divisor: 1,
  mean: [104.007, 116.669, 122.679], // B, G, R: BVLC's ilsvrc_2012_mean.npy averaged per channel
  std: [1, 1, 1],
};

/** Fashion-MNIST's training-set statistics (60000 images, pixels / 255). */
export const FASHION_MNIST_MEAN = 0.286;
export const FASHION_MNIST_STD = 0.353;

/** The mini preset with the normalisation a training run measured (defaults: Fashion-MNIST's). */
export function miniPreset(stats: { mean?: number; std?: number } = {}): Preset {
  return {
    name: 'mini',
    color: 'gray',
    resize: { kind: 'warp', width: 28, height: 28 },
    crop: 28,
    cropRounding: 'floor',
    divisor: 255,
    mean: [stats.mean ?? FASHION_MNIST_MEAN],
    std: [stats.std ?? FASHION_MNIST_STD],
  };
}

export const MINI_PRESET: Preset = miniPreset();

export const PRESETS = { torchvision: TORCHVISION_PRESET, caffe: CAFFE_PRESET, mini: MINI_PRESET } as const;

/**
 * The preprocessing each architecture's weights expect: torchvision's for torchvision, Caffe's
 * for caffe and caffenet (BVLC and ONNX zoo weights) and for paper (it shares Caffe's 227 input
 * and has no weights of its own), mini's for mini.
 */
export function presetFor(arch: ArchName): Preset {
  switch (arch) {
    case 'torchvision':
      return TORCHVISION_PRESET;
    case 'caffe':
    case 'caffenet':
    case 'paper':
      return CAFFE_PRESET;
    case 'mini':
      return MINI_PRESET;
  }
}

/** Python 3's round() of a float to an integer: halves go to the even neighbour. */
export function roundHalfEven(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  if (d < 0.5) return f;
  if (d > 0.5) return f + 1;
  return f % 2 === 0 ? f : f + 1;
}

/** Offset of a centre crop of `crop` pixels in `size`: torchvision's int(round((size - crop) / 2.0)), or Caffe's floor. */
export function centerCropOffset(size: number, crop: number, rounding: CropRounding): number {
  return rounding === 'half-even' ? roundHalfEven((size - crop) / 2) : Math.floor((size - crop) / 2);
}

/** Limit on the resized picture, in pixels: a 1 x 100000 image resized to 256 high would be huge. */
const MAX_RESIZED_PIXELS = 100e6;

/**
 * [width, height] after the resize rule. For 'shorter-side' this is torchvision's
 * _compute_resized_output_size: the short side becomes `size`, the long side
 * int(size * long / short), the division in double precision and truncated.
 */
export function resizedSize(width: number, height: number, rule: ResizeRule): [number, number] {
  if (rule.kind === 'warp') return [rule.width, rule.height];
  const short = Math.min(width, height), long = Math.max(width, height);
  const newLong = Math.trunc((rule.size * long) / short);
  return width <= height ? [rule.size, newLong] : [newLong, rule.size];
}

/** A centre crop of `size` x `size`, its offsets rounded as the preset says. */
export function centerCrop<T extends RgbImage | GrayImage>(image: T, size: number, rounding: CropRounding = 'half-even'): T {
  return crop(image, centerCropOffset(image.width, size, rounding), centerCropOffset(image.height, size, rounding), size, size);
}

/**
 * The picture after colour conversion and resizing, before cropping: what torchvision's
 * CenterCrop / TenCrop receive. Grey presets convert first and resize the L image (as
 * Grayscale() before Resize() does); RGB and BGR presets resize RGB (the order of the channels
 * only matters when the tensor is built).
 */
export function resizeForPreset(image: RgbImage, preset: Preset): RgbImage | GrayImage {
  const [w, h] = resizedSize(image.width, image.height, preset.resize);
  if (w * h > MAX_RESIZED_PIXELS) {
    throw new UserError(`image is ${image.width}x${image.height} pixels; resizing it for ${preset.name} would make it ${w}x${h}, more than 100 megapixels`);
  }
  const source = preset.color === 'gray' ? rgbToGray(image) : image;
  return resize(source, w, h);
}

/**
 * torchvision's TenCrop(size) (five_crop, then five_crop of the horizontally flipped picture):
 * [top-left, top-right, bottom-left, bottom-right, centre, and the same five of the flipped
 * picture]. The flipped top-left is the mirror of the top-right corner, and the flipped centre
 * is cut from the flipped picture, so with an odd margin it is not the mirror of the centre.
 * (Caffe's oversample() instead mirrors the first five crops themselves.)
 */
export function tenCrop<T extends RgbImage | GrayImage>(image: T, size: number): T[] {
  const five = (img: T): T[] => {
    const { width: W, height: H } = img;
    return [
      crop(img, 0, 0, size, size),
      crop(img, W - size, 0, size, size),
      crop(img, 0, H - size, size, size),
      crop(img, W - size, H - size, size, size),
      centerCrop(img, size, 'half-even'),
    ];
  };
  return [...five(image), ...five(flipHorizontal(image))];
}

/**
 * Stacks same-sized cropped pictures into a float32 [N, C, H, W] tensor with the preset's channel
 * order and normalisation. Every byte value maps to one float per channel, so this is a table
 * lookup: table[c][v] = fround(fround(fround(v / divisor) - fround(mean[c])) / fround(std[c])).
 */
export function toTensor(images: readonly (RgbImage | GrayImage)[], preset: Preset): Tensor<Float32Array> {
  if (images.length === 0) throw new Error('toTensor: no images');
  const { width: W, height: H } = images[0];
  const C = preset.color === 'gray' ? 1 : 3;
  const f = Math.fround;
  const tables = preset.mean.map((m, c) => {
    const t = new Float32Array(256);
    for (let v = 0; v < 256; v++) t[v] = f(f(f(v / preset.divisor) - f(m)) / f(preset.std[c]));
    return t;
  });
  if (tables.length !== C || preset.std.length !== C) throw new Error(`preset ${preset.name}: mean and std need ${C} values`);
  const out = new Float32Array(images.length * C * H * W);
  images.forEach((img, n) => {
    if (img.width !== W || img.height !== H || channelsOf(img) !== C) {
      throw new Error(`toTensor: image ${n} is ${img.width}x${img.height}x${channelsOf(img)}, expected ${W}x${H}x${C}`);
    }
    for (let c = 0; c < C; c++) {
      const src = preset.color === 'bgr' ? 2 - c : c; // byte offset of this tensor channel in a pixel
      const table = tables[c];
      const plane = (n * C + c) * H * W;
      for (let i = 0; i < H * W; i++) out[plane + i] = table[img.data[i * C + src]];
    }
  });
  return { data: out, shape: [images.length, C, H, W] };
}

/** One picture to the preset's [1, C, crop, crop] input tensor. */
export function preprocess(image: RgbImage, preset: Preset): Tensor<Float32Array> {
  return preprocessBatch([image], preset);
}

/** Several pictures (any sizes) to one [N, C, crop, crop] batch. */
export function preprocessBatch(images: readonly RgbImage[], preset: Preset): Tensor<Float32Array> {
  return toTensor(images.map((img) => centerCrop(resizeForPreset(img, preset), preset.crop, preset.cropRounding)), preset);
}

/** The ten crops of test-time augmentation (paper section 4.1) as a [10, C, crop, crop] batch. */
export function preprocessTenCrop(image: RgbImage, preset: Preset): Tensor<Float32Array> {
  return toTensor(tenCrop(resizeForPreset(image, preset), preset.crop), preset);
}
