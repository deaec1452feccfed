/**
 * Classification as a library: weights in any supported format become a Model (architecture,
 * weights, class labels, the preprocessing the weights were trained with), and decoded images
 * become top-k predictions.
 *
 *   const model = modelFromBytes(bytes, 'alexnet-owt-7be5be79.pth');
 *   const [top5] = classifyImages(model, [decodeImage(jpegBytes)], { top: 5 });
 */

import { type Backend, inScope } from './backend/backend.js';
import { referenceBackend } from './backend/reference.js';
import { UserError, inFile } from './errors.js';
import { inferArch, loadWeights, type LoadOptions, type WeightFormat } from './formats/load.js';
import { parseSafetensors } from './formats/safetensors.js';
import type { RgbImage } from './image/image.js';
import { miniPreset, preprocessBatch, preprocessTenCrop, presetFor, type Preset } from './image/preprocess.js';
import { type ArchName, type Architecture, architecture, fitWidthsTo, isArchName, ARCH_NAMES } from './model/architectures.js';
import { IMAGENET_CLASSES } from './model/imagenet-classes.js';
import { checkWeights, forward, type Weights } from './model/network.js';
import type { Tensor } from './tensor.js';

export interface Model {
  arch: Architecture;
  weights: Weights<Float32Array>;
  /** One name per output class. */
  labels: readonly string[];
  /** How an image becomes the network's input. */
  preset: Preset;
  format: WeightFormat;
  /** What the loader converted, skipped or guessed, one sentence each. */
  notes: string[];
}

export interface ModelOptions extends LoadOptions {
  /** Overrides the architecture found in, or inferred from, the file. */
  arch?: ArchName;
  /** Overrides the class names (else the file's `classes` metadata, else ImageNet's for 1000 classes). */
  labels?: readonly string[];
}

/** Loads weights of any supported format (sniffed from the bytes) as a ready-to-run Model. */
export function modelFromBytes(bytes: Uint8Array, name: string, options: ModelOptions = {}): Model {
  const loaded = loadWeights(bytes, name, options);
  const metadata = loaded.format === 'safetensors' ? parseSafetensors(bytes).metadata : {};
  return inFile(name, () => {
    const fileArch = metadata.arch;
    if (fileArch !== undefined && !isArchName(fileArch)) throw new UserError(`metadata names an unknown architecture "${fileArch}"`);
    const archName = options.arch ?? (fileArch as ArchName | undefined) ?? loaded.arch ?? inferArch(loaded.weights);
    const arch = fitWidthsTo(architecture(archName), loaded.weights);
    let preset = presetFor(arch.name);
    if (arch.name === 'mini' && metadata.normalisation) {
      const n = JSON.parse(metadata.normalisation) as { mean: number[]; std: number[] };
      preset = miniPreset({ mean: n.mean[0], std: n.std[0] });
    }
    if (loaded.inputSize !== undefined && loaded.inputSize !== preset.crop) {
      // An ONNX graph declares its input size (the zoo's Caffe AlexNet takes 224, not Caffe's 227):
      // crop what the graph was made to run on, so results match a runtime fed the same tensor.
      preset = { ...preset, crop: loaded.inputSize };
    }
    checkWeights(arch, loaded.weights, [1, arch.inputChannels, preset.crop, preset.crop]);
    const labels = options.labels ?? (metadata.classes ? (JSON.parse(metadata.classes) as string[]) : undefined) ?? defaultLabels(arch.numClasses);
    if (labels.length !== arch.numClasses) {
      throw new UserError(`${labels.length} class labels for a network with ${arch.numClasses} outputs`);
    }
    return { arch, weights: loaded.weights, labels, preset, format: loaded.format, notes: loaded.notes };
  });
}

function defaultLabels(n: number): readonly string[] {
  return n === IMAGENET_CLASSES.length ? IMAGENET_CLASSES : Array.from({ length: n }, (_, i) => `class ${i}`);
}

/**
 * Parses a labels file: one class per line, in class-index order. Lines may start with a WordNet
 * synset id, as Caffe's synset_words.txt does ("n01440764 tench, Tinca tinca"); the id is then
 * returned separately and the rest of the line is the label.
 */
export function parseLabels(text: string): { labels: string[]; synsets?: string[] } {
  const lines = text.split(/\r?\n/);
  if (lines.at(-1) === '') lines.pop();
  const withSynset = /^(n\d{8})\s+(.*)$/;
  if (lines.length > 0 && lines.every((l) => withSynset.test(l))) {
    const parts = lines.map((l) => withSynset.exec(l)!);
    return { labels: parts.map((m) => m[2]), synsets: parts.map((m) => m[1]) };
  }
  return { labels: lines };
}

export interface Prediction {
  index: number;
  label: string;
  prob: number;
}

export interface ClassifyOptions {
  top?: number;
  /** Average the softmax over the four corner and centre crops and their mirrors (paper section 4.1). */
  tenCrop?: boolean;
  backend?: Backend;
}

/** The `top` most probable classes of each image, most probable first. */
export function classifyImages(model: Model, images: readonly RgbImage[], options: ClassifyOptions = {}): Prediction[][] {
  const top = Math.min(options.top ?? 5, model.arch.numClasses);
  const backend = options.backend ?? referenceBackend;
  const K = model.arch.numClasses;
  const probs: Float64Array[] = [];
  if (options.tenCrop) {
    for (const image of images) {
      const p = run(model, preprocessTenCrop(image, model.preset), backend);
      const mean = new Float64Array(K);
      for (let c = 0; c < 10; c++) for (let k = 0; k < K; k++) mean[k] += p[c * K + k] / 10;
      probs.push(mean);
    }
  } else if (images.length > 0) {
    const p = run(model, preprocessBatch(images, model.preset), backend);
    for (let i = 0; i < images.length; i++) probs.push(Float64Array.from(p.subarray(i * K, (i + 1) * K)));
  }
  return probs.map((p) => topK(p, top).map((index) => ({ index, label: model.labels[index], prob: p[index] })));
}

function run(model: Model, x: Tensor<Float32Array>, backend: Backend): Float32Array {
  if (x.shape[1] !== model.arch.inputChannels) throw new Error('preprocessing gave the wrong number of channels');
  // The probabilities are copied out of the scope; the activations need not be (Backend.scope).
  return inScope(backend, () => forward(model.arch, model.weights, x, backend).probs.data.slice());
}

/** Indices of the k largest values, largest first; ties to the lower index. */
export function topK(p: ArrayLike<number>, k: number): number[] {
  const idx = Array.from({ length: p.length }, (_, i) => i);
  idx.sort((a, b) => p[b] - p[a] || a - b);
  return idx.slice(0, k);
}

export { ARCH_NAMES };
