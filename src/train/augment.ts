/**
 * From stored 8-bit images to a normalised float batch, with the paper's augmentation
 * (section 4.1): random crops and horizontal reflections, and PCA colour noise.
 *
 *   crop:    the image is padded by `pad` pixels of value 0 on each side and a `crop` x `crop`
 *            window is taken at a uniformly random offset (training) or at the centre (testing).
 *            mini: 28x28 crops of the image padded to 32x32; full size: 224 (or 227) crops of 256x256.
 *   flip:    with probability 1/2 the crop is mirrored left to right (training only).
 *   colour:  for RGB data, each training image gets  sum_i p_i * (a_i * lambda_i)  added to every
 *            pixel (values in [0, 1]), p_i and lambda_i the eigenvectors and eigenvalues of the 3x3
 *            covariance of the training set's RGB values, a_i ~ N(0, sigma^2) drawn once per image.
 *   normalise: x = (v - mean[c]) / std[c] with v in [0, 1].
 *
 * Every random choice comes from the generator passed in, in a fixed order per image
 * (offset y, offset x, flip, then a_1..a_3), so a batch is a pure function of the generator state.
 */

import type { Rng } from '../rng.js';
import type { ImageDataset } from './dataset.js';

export interface Normalisation {
  mean: number[];
  std: number[];
}

export interface PcaNoise {
  /** Eigenvectors as columns: vectors[c * 3 + i] is component c of eigenvector i. */
  vectors: Float64Array;
  values: Float64Array;
  sigma: number;
}

export interface BatchOptions {
  /** Output size (square). */
  crop: number;
  /** Zero padding around the stored image before cropping. */
  pad: number;
  normalisation: Normalisation;
  /** Random crops, flips and colour noise when true; the centre crop when false. */
  train: boolean;
  /** Mirror training crops at random (default true). */
  flip?: boolean;
  pca?: PcaNoise;
}

/**
 * Writes examples `indices` of `data` into `out` [indices.length, C, crop, crop] and their labels
 * into `labels`.
 */
export function assembleBatch(
  data: ImageDataset,
  indices: ArrayLike<number>,
  options: BatchOptions,
  rng: Rng | null,
  out: Float32Array,
  labels: Int32Array,
): void {
  const { channels: C, height: H, width: W } = data;
  const { crop: S, pad: P, normalisation: norm } = options;
  const maxY = H + 2 * P - S;
  const maxX = W + 2 * P - S;
  if (maxY < 0 || maxX < 0) throw new Error(`a ${S}x${S} crop does not fit ${H}x${W} images padded by ${P}`);
  const noise = new Float64Array(C);
  for (let b = 0; b < indices.length; b++) {
    const index = indices[b];
    let oy = maxY >> 1;
    let ox = maxX >> 1;
    let flip = false;
    noise.fill(0);
    if (options.train) {
      if (!rng) throw new Error('training batches need a random generator');
      oy = rng.below(maxY + 1);
      ox = rng.below(maxX + 1);
      flip = (options.flip ?? true) && rng.uniform() < 0.5;
      if (options.pca && C === 3) {
        const { vectors, values, sigma } = options.pca;
        const a = [rng.normal() * sigma, rng.normal() * sigma, rng.normal() * sigma];
        for (let c = 0; c < 3; c++) {
          for (let i = 0; i < 3; i++) noise[c] += vectors[c * 3 + i] * a[i] * values[i];
        }
      }
    }
    const src = index * C * H * W;
    for (let c = 0; c < C; c++) {
      const mean = norm.mean[c];
      const std = norm.std[c];
      const outPlane = (b * C + c) * S * S;
      for (let y = 0; y < S; y++) {
        const sy = y + oy - P;
        for (let x = 0; x < S; x++) {
          const sx = (flip ? S - 1 - x : x) + ox - P;
          const inside = sy >= 0 && sy < H && sx >= 0 && sx < W;
          const v = inside ? data.pixels[src + (c * H + sy) * W + sx] / 255 : 0;
          out[outPlane + y * S + x] = (v + noise[c] - mean) / std;
        }
      }
    }
    labels[b] = data.labels[index];
  }
}

/**
 * Per-channel mean and standard deviation of a dataset's pixels in [0, 1], computed on the 0..255
 * values in two passes (the integer sum is exact, and no E[v^2] - E[v]^2 cancellation).
 */
export function channelStatistics(data: ImageDataset): Normalisation {
  const { channels: C, height: H, width: W, count } = data;
  const n = count * H * W;
  const mean: number[] = [];
  const std: number[] = [];
  for (let c = 0; c < C; c++) {
    let sum = 0;
    for (let i = 0; i < count; i++) {
      const base = (i * C + c) * H * W;
      for (let q = 0; q < H * W; q++) sum += data.pixels[base + q];
    }
    const m = sum / n;
    let ss = 0;
    for (let i = 0; i < count; i++) {
      const base = (i * C + c) * H * W;
      for (let q = 0; q < H * W; q++) ss += (data.pixels[base + q] - m) ** 2;
    }
    mean.push(m / 255);
    std.push(Math.sqrt(ss / n) / 255);
  }
  return { mean, std };
}

/** Eigen-decomposition of the 3x3 RGB covariance of a dataset (pixel values in [0, 1]), for PCA noise. */
export function rgbPca(data: ImageDataset, sigma = 0.1): PcaNoise {
  if (data.channels !== 3) throw new Error('PCA colour noise needs RGB images');
  const { height: H, width: W, count } = data;
  const mean = [0, 0, 0];
  const cov = new Float64Array(9);
  const n = count * H * W;
  for (let i = 0; i < count; i++) {
    for (let q = 0; q < H * W; q++) {
      const v = [0, 1, 2].map((c) => data.pixels[(i * 3 + c) * H * W + q] / 255);
      for (let a = 0; a < 3; a++) {
        mean[a] += v[a];
        for (let b = 0; b < 3; b++) cov[a * 3 + b] += v[a] * v[b];
      }
    }
  }
  for (let a = 0; a < 3; a++) mean[a] /= n;
  for (let a = 0; a < 3; a++) for (let b = 0; b < 3; b++) cov[a * 3 + b] = cov[a * 3 + b] / n - mean[a] * mean[b];
  const { vectors, values } = symmetricEigen3(cov);
  return { vectors, values, sigma };
}

/** Eigenvalues and eigenvectors (as columns) of a symmetric 3x3 matrix by cyclic Jacobi rotations. */
export function symmetricEigen3(m: Float64Array): { vectors: Float64Array; values: Float64Array } {
  const a = Float64Array.from(m);
  const v = Float64Array.from([1, 0, 0, 0, 1, 0, 0, 0, 1]);
  // Stop when the off-diagonal part is negligible relative to the matrix (scale-free).
  let norm = 0;
  for (const x of m) norm += x * x;
  for (let sweep = 0; sweep < 50; sweep++) {
    const off = a[1] * a[1] + a[2] * a[2] + a[5] * a[5];
    if (off <= 1e-30 * norm) break;
    for (const [p, q] of [[0, 1], [0, 2], [1, 2]]) {
      const apq = a[p * 3 + q];
      if (apq === 0) continue;
      const theta = (a[q * 3 + q] - a[p * 3 + p]) / (2 * apq);
      const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
      const c = 1 / Math.sqrt(t * t + 1);
      const s = t * c;
      for (let k = 0; k < 3; k++) {
        // rotate columns p and q of a, then rows
        const akp = a[k * 3 + p];
        const akq = a[k * 3 + q];
        a[k * 3 + p] = c * akp - s * akq;
        a[k * 3 + q] = s * akp + c * akq;
      }
      for (let k = 0; k < 3; k++) {
        const apk = a[p * 3 + k];
        const aqk = a[q * 3 + k];
        a[p * 3 + k] = c * apk - s * aqk;
        a[q * 3 + k] = s * apk + c * aqk;
      }
      for (let k = 0; k < 3; k++) {
        const vkp = v[k * 3 + p];
        const vkq = v[k * 3 + q];
        v[k * 3 + p] = c * vkp - s * vkq;
        v[k * 3 + q] = s * vkp + c * vkq;
      }
    }
  }
  return { vectors: v, values: Float64Array.from([a[0], a[4], a[8]]) };
}
