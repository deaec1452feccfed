/**
 * One entry point for every weight file a user may bring: the format is sniffed from the first
 * bytes, never taken from the file name.
 *
 *   safetensors   u64 LE header length, then a JSON header starting with '{'  (our own format)
 *   pth-zip       "PK\x03\x04": a zip archive, torch.save since PyTorch 1.6
 *   pth-legacy    the pickled magic number 0x1950a86a20f9469cfc6c (80 02 8a 0a 6c fc 9c 46 ...)
 *   onnx          protobuf ModelProto: has field 7 (graph); serialised files begin with 0x08,
 *                 field 1 (ir_version)
 *   caffemodel    protobuf NetParameter: has field 100 (layer) or 2 (layers), no field 7
 *
 * Every format comes back as float32 tensors under this project's keys (see weights.ts). The
 * architecture is known from the file for ONNX (the graph) and Caffe (the layer order); for
 * safetensors and .pth files inferArch tells it from the key names and shapes, and a command
 * line --arch overrides either.
 */

import { UserError, inFile } from '../errors.js';
import { ARCH_NAMES, type ArchName, architecture } from '../model/architectures.js';
import { parameterList } from '../model/shapes.js';
import { type Tensor, formatShape } from '../tensor.js';
import { parseCaffemodel } from './caffe.js';
import { onnxToAlexnet, parseOnnx } from './onnx.js';
import { readFields } from './protobuf.js';
import { looksLikeLegacyPth, readPth } from './pth.js';
import { parseSafetensors, toFloatTensor } from './safetensors.js';
import { looksLikeZip } from './zip.js';

export type WeightFormat = 'safetensors' | 'pth-zip' | 'pth-legacy' | 'onnx' | 'caffemodel';

export interface LoadedWeights {
  format: WeightFormat;
  /** The architecture, when the file itself says (ONNX graph, Caffe layer order). */
  arch?: ArchName;
  weights: Map<string, Tensor<Float32Array>>;
  /** Conversions, skipped entries and guesses made while reading, one sentence each. */
  notes: string[];
  /** The square input size the file declares (an ONNX graph's input), when it declares one. */
  inputSize?: number;
}

export interface LoadOptions {
  /** Progress through the tensor data of big files: bytes done and in total. */
  onProgress?: (done: number, total: number) => void;
}

/**
 * Reads weights from any supported format. With `name` (the file's name or path), UserErrors are
 * prefixed with it, as `inFile` does.
 */
export function loadWeights(bytes: Uint8Array, name?: string, options: LoadOptions = {}): LoadedWeights {
  const run = (): LoadedWeights => {
    const format = sniffFormat(bytes, name);
    switch (format) {
      case 'safetensors':
        return readSafetensorsWeights(bytes, options);
      case 'pth-zip':
      case 'pth-legacy': {
        const pth = readPth(bytes, options);
        return { format: pth.format, weights: pth.weights, notes: pth.notes };
      }
      case 'onnx': {
        const net = onnxToAlexnet(parseOnnx(bytes, options));
        // A square declared input becomes the crop size; a dynamic or non-square one is left to the preset.
        const declared = net.inputSize && net.inputSize[0] === net.inputSize[1] && net.inputSize[0] > 0 ? net.inputSize[0] : undefined;
        return { format, arch: net.arch, weights: net.weights, notes: net.notes, ...(declared ? { inputSize: declared } : {}) };
      }
      case 'caffemodel': {
        const net = parseCaffemodel(bytes, options);
        return { format, arch: net.arch, weights: net.weights, notes: net.notes };
      }
    }
  };
  return name === undefined ? run() : inFile(name, run);
}

/** Signatures of files people mistake for weights, for a better message than "unknown". */
const OTHER_FORMATS: [bytes: number[], what: string][] = [
  [[0x1f, 0x8b], 'a gzip-compressed file: decompress it first (gunzip)'],
  [[0x28, 0xb5, 0x2f, 0xfd], 'a zstd-compressed file: decompress it first (unzstd)'],
  [[0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00], 'an xz-compressed file: decompress it first (unxz)'],
  [[0x42, 0x5a, 0x68], 'a bzip2-compressed file: decompress it first (bunzip2)'],
  [[0x89, 0x48, 0x44, 0x46], 'an HDF5 file (Keras .h5 or a Caffe HDF5 snapshot), which is not supported'],
  [[0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59], 'a single NumPy array (.npy), not a set of weights'],
  [[0x89, 0x50, 0x4e, 0x47], 'a PNG image, not a weight file'],
  [[0xff, 0xd8, 0xff], 'a JPEG image, not a weight file'],
];

const EXPECTED = 'expected safetensors, a PyTorch .pth (zip or legacy), an ONNX model or a .caffemodel';

/** The format of `bytes` from their first bytes (and, for protobuf, their top-level fields). */
export function sniffFormat(bytes: Uint8Array, name = ''): WeightFormat {
  if (looksLikeZip(bytes)) return 'pth-zip';
  if (looksLikeLegacyPth(bytes)) return 'pth-legacy';
  if (bytes.length >= 9 && bytes[8] === 0x7b) {
    const n = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
    if (n >= 2n && n <= BigInt(bytes.length - 8)) return 'safetensors';
  }
  for (const [sig, what] of OTHER_FORMATS) {
    if (bytes.length >= sig.length && sig.every((b, i) => bytes[i] === b)) throw new UserError(`this is ${what} (${EXPECTED})`);
  }
  if (bytes.length > 0 && bytes[0] === 0x80) {
    throw new UserError('this is a Python pickle, but not one written by torch.save: only PyTorch .pth files are read');
  }

  // ONNX and Caffe are both protobuf; their top-level field numbers tell them apart.
  const lower = name.toLowerCase();
  let fields;
  try {
    fields = readFields(bytes);
  } catch (e) {
    if (!(e instanceof UserError)) throw e;
    if (lower.endsWith('.onnx') || (bytes[0] === 0x08 && !lower.endsWith('.caffemodel'))) throw new UserError(`ONNX model is damaged: ${e.message}`);
    if (lower.endsWith('.caffemodel')) throw new UserError(`Caffe model is damaged: ${e.message}`);
    throw new UserError(`unknown format (${EXPECTED}); it starts with bytes ${hexPrefix(bytes)}`);
  }
  const has = (n: number): boolean => fields.some((f) => f.number === n && f.wireType === 2);
  if (has(7)) return 'onnx';
  if (has(100) || has(2)) return 'caffemodel';
  throw new UserError(
    bytes.length === 0 ? `the file is empty (${EXPECTED})` : `unknown format (${EXPECTED}); it starts with bytes ${hexPrefix(bytes)}`,
  );
}

/**
 * Whether a file starting with `head` (16 bytes are enough) loads as views on its own bytes, with
 * no copy of the tensor data: safetensors (float32 data, which our writer aligns), and zip .pth
 * files, whose records torch.save aligns to 64 bytes. Such a file is worth reading straight into
 * the memory where the weights will be used (Backend.allocateResident); the others (ONNX, Caffe,
 * legacy .pth) are parsed into fresh arrays anyway.
 */
export function readsInPlace(head: Uint8Array): boolean {
  return looksLikeZip(head) || (head.length >= 9 && head[8] === 0x7b && head[7] === 0 && head[6] === 0);
}

function hexPrefix(bytes: Uint8Array): string {
  return Array.from(bytes.subarray(0, 8), (b) => b.toString(16).padStart(2, '0')).join(' ');
}

function readSafetensorsWeights(bytes: Uint8Array, options: LoadOptions): LoadedWeights {
  const file = parseSafetensors(bytes);
  const weights = new Map<string, Tensor<Float32Array>>();
  const notes: string[] = [];
  const skipped: string[] = [];
  let converted = 0;
  for (const [key, stored] of file.tensors) {
    if (stored.dtype !== 'F32' && stored.dtype !== 'F64') {
      skipped.push(`"${key}" (${stored.dtype})`);
      continue;
    }
    const t = toFloatTensor(stored, key);
    if (t.data instanceof Float32Array) weights.set(key, t as Tensor<Float32Array>);
    else {
      weights.set(key, { data: Float32Array.from(t.data), shape: t.shape });
      converted++;
    }
  }
  if (skipped.length > 0) notes.push(`skipped ${skipped.length} tensors that are not float: ${skipped.join(', ')}`);
  if (converted > 0) notes.push(`converted ${converted} F64 tensors to float32`);
  options.onProgress?.(bytes.length, bytes.length);
  return { format: 'safetensors', weights, notes };
}

/**
 * The architecture whose key names and shapes these weights have. torchvision's keys
 * (`features.0.weight`) are its own; of the others, mini takes 1-channel 5x5 conv1 filters, and
 * caffe, caffenet and paper have identical parameters (they differ in LRN constants, the order
 * of LRN and pooling, and pooling rounding), so those weights say `caffe`.
 */
export function inferArch(weights: Map<string, Tensor>): ArchName {
  if (weights.has('features.0.weight')) return 'torchvision';
  const conv1 = weights.get('conv1.weight');
  if (conv1 && conv1.shape.length === 4) {
    const [OC, C, KH] = conv1.shape;
    if (C === 1 && KH === 5) return 'mini';
    const conv2 = weights.get('conv2.weight');
    // conv2 has 2 groups in every Caffe-style AlexNet: each filter sees half of conv1's outputs.
    if (C === 3 && KH === 11 && conv2 && conv2.shape.length === 4 && conv2.shape[1] * 2 === OC) return 'caffe';
    throw new UserError(
      `conv1.weight ${formatShape(conv1.shape)} and conv2.weight ${conv2 ? formatShape(conv2.shape) : '(missing)'} match no AlexNet ` +
        `(caffe: [96, 3, 11, 11] and [256, 48, 5, 5]; mini: [48, 1, 5, 5]): pass --arch`,
    );
  }
  const keys = [...weights.keys()];
  throw new UserError(
    'cannot tell the architecture from the tensor names: expected "features.0.weight" (torchvision) or "conv1.weight" ' +
      `(${ARCH_NAMES.filter((a) => a !== 'torchvision').join(', ')}), found ${keys.slice(0, 4).map((k) => `"${k}"`).join(', ')}` +
      `${keys.length > 4 ? ', ...' : ''}: pass --arch`,
  );
}

/**
 * The architecture options (width divisor, classes) under which these weights have exactly the
 * shapes of architecture(arch, options), or undefined when no options give them.
 */
export function archOptionsFor(arch: ArchName, weights: Map<string, Tensor>): { widthDivisor: number; numClasses: number } | undefined {
  const full = parameterList(architecture(arch));
  const conv1 = weights.get(full[0].key);
  const last = weights.get(full[full.length - 1].key);
  if (!conv1 || !last || conv1.shape.length !== 4 || last.shape.length !== 1) return undefined;
  const widthDivisor = full[0].shape[0] / conv1.shape[0];
  const numClasses = last.shape[0];
  if (!Number.isInteger(widthDivisor)) return undefined;
  let params;
  try {
    params = parameterList(architecture(arch, { widthDivisor, numClasses }));
  } catch {
    return undefined; // some width is not divisible by widthDivisor
  }
  if (params.length !== weights.size) return undefined;
  for (const p of params) {
    const t = weights.get(p.key);
    if (!t || t.shape.length !== p.shape.length || !t.shape.every((d, i) => d === p.shape[i])) return undefined;
  }
  return { widthDivisor, numClasses };
}
