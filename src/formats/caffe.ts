/**
 * Caffe .caffemodel files (BVLC bvlc_alexnet, bvlc_reference_caffenet): the learned blobs mapped
 * to this project's keys conv1.weight ... fc8.bias.
 *
 * A .caffemodel is one protobuf message, NetParameter (BVLC caffe src/caffe/proto/caffe.proto):
 *
 *   NetParameter       name 1, layers 2 (V1LayerParameter, before 2015), layer 100 (LayerParameter)
 *   LayerParameter     name 1, type 2 (a string: "Convolution", "LRN", ...), blobs 7,
 *                      inner_product_param 117 {transpose 6}
 *   V1LayerParameter   name 4, type 5 (an enum: CONVOLUTION 4, INNER_PRODUCT 14, LRN 15,
 *                      POOLING 17, ...), blobs 6, inner_product_param 17, layer 1 (a V0 layer,
 *                      the 2013 format, which we refuse)
 *   BlobProto          shape 7 (BlobShape {dim 1, packed int64}), data 5 (packed float),
 *                      double_data 8, and the deprecated 4-d dims num 1, channels 2, height 3,
 *                      width 4 (old files: fc weights 1x1xOUTxIN, biases 1x1x1xN)
 *
 * A learned layer has two blobs, weights then bias: convolution weights [OC, C/groups, KH, KW],
 * inner product weights [OUT, IN] (or [IN, OUT] with transpose: true), exactly our layout. The
 * five convolutions and three inner products, in file order, become conv1..conv5 and fc6..fc8
 * whatever they are called. The data blobs are Float32Array views on the file when aligned.
 *
 * Which AlexNet: the file lists every layer, learned or not, in network order, so LRN before the
 * first pooling is Caffe's AlexNet (`caffe`) and pooling before LRN is CaffeNet (`caffenet`).
 * When the file lists no LRN and pooling layers we say `caffe`; --arch overrides.
 */

import { UserError } from '../errors.js';
import { type Tensor, formatShape, sizeOf } from '../tensor.js';
import {
  type ProtoField, WireType, bool, int64, lastField, message, readFields, repeatedFloat32,
  repeatedFloat64AsFloat32, repeatedInt64, string,
} from './protobuf.js';

export interface CaffeLayer {
  name: string;
  type: string;
  /** Shapes of its blobs, as stored. */
  blobShapes: number[][];
}

export interface CaffeModel {
  arch: 'caffe' | 'caffenet';
  /** conv1.weight ... fc8.bias, in layer order. */
  weights: Map<string, Tensor<Float32Array>>;
  /** Which NetParameter field held the layers. */
  encoding: 'layer' | 'layers (V1)';
  layers: CaffeLayer[];
  notes: string[];
}

export interface CaffeOptions {
  /** Called as blobs are decoded, with bytes of blob data done and in total. */
  onProgress?: (done: number, total: number) => void;
}

/** V1LayerParameter.LayerType, by number, as the type strings LayerParameter uses. */
const V1_TYPES: Record<number, string> = {
  0: 'None', 1: 'Accuracy', 2: 'BNLL', 3: 'Concat', 4: 'Convolution', 5: 'Data', 6: 'Dropout', 7: 'EuclideanLoss',
  8: 'Flatten', 9: 'HDF5Data', 10: 'HDF5Output', 11: 'Im2col', 12: 'ImageData', 13: 'InfogainLoss', 14: 'InnerProduct',
  15: 'LRN', 16: 'MultinomialLogisticLoss', 17: 'Pooling', 18: 'ReLU', 19: 'Sigmoid', 20: 'Softmax', 21: 'SoftmaxWithLoss',
  22: 'Split', 23: 'TanH', 24: 'WindowData', 25: 'Eltwise', 26: 'Power', 27: 'SigmoidCrossEntropyLoss', 28: 'HingeLoss',
  29: 'MemoryData', 30: 'ArgMax', 31: 'Threshold', 32: 'DummyData', 33: 'Slice', 34: 'MVN', 35: 'AbsVal', 36: 'Silence',
  37: 'ContrastiveLoss', 38: 'Exp', 39: 'Deconvolution',
};

/** Layers without parameters that an AlexNet .caffemodel contains (data, activations, losses). */
const PLAIN_TYPES = new Set([
  'Data', 'Input', 'ImageData', 'DummyData', 'MemoryData', 'HDF5Data', 'WindowData', 'ReLU', 'LRN', 'Pooling', 'Dropout',
  'Softmax', 'SoftmaxWithLoss', 'Accuracy', 'Split', 'Flatten', 'Silence',
]);

/** Caffe's AlexNet kernels, conv1..conv5, and which have 2 groups. */
const CONV_KERNELS = [11, 5, 3, 3, 3];
const CONV_GROUPS = [1, 2, 1, 2, 2];

interface RawLayer {
  name: string;
  type: string;
  blobs: ProtoField[];
  transpose: boolean;
}

export function parseCaffemodel(bytes: Uint8Array, options: CaffeOptions = {}): CaffeModel {
  const top = readFields(bytes);
  const v2 = top.filter((f) => f.number === 100);
  const v1 = top.filter((f) => f.number === 2);
  if (v2.length === 0 && v1.length === 0) throw new UserError('not a Caffe model: no layer (NetParameter field 100) or layers (field 2)');
  const encoding = v2.length > 0 ? 'layer' : 'layers (V1)';
  const raw = v2.length > 0 ? v2.map((f) => readLayer(bytes, f)) : v1.map((f) => readV1Layer(bytes, f));

  // Every layer must be one an AlexNet has; the learned ones are its 5 convolutions and 3 inner products.
  const learned: RawLayer[] = [];
  for (const l of raw) {
    if (l.blobs.length > 0) {
      if (l.type !== 'Convolution' && l.type !== 'InnerProduct') throw new UserError(`layer "${l.name}" (${l.type}) has learned parameters but is not part of any AlexNet`);
      learned.push(l);
    } else if (!PLAIN_TYPES.has(l.type) && l.type !== 'Convolution' && l.type !== 'InnerProduct') {
      throw new UserError(`layer "${l.name}" (${l.type}) is not part of any AlexNet`);
    }
  }
  const convs = learned.filter((l) => l.type === 'Convolution');
  const fcs = learned.filter((l) => l.type === 'InnerProduct');
  if (convs.length !== 5 || fcs.length !== 3 || learned.slice(0, 5).some((l) => l.type !== 'Convolution')) {
    throw new UserError(
      `an AlexNet has 5 convolution layers then 3 inner-product layers with weights; this file has ` +
        `${learned.map((l) => `"${l.name}" (${l.type})`).join(', ') || 'no layers with weights'}`,
    );
  }

  const total = learned.reduce((n, l) => n + l.blobs.reduce((m, b) => m + (b.end - b.start), 0), 0);
  let done = 0;
  const weights = new Map<string, Tensor<Float32Array>>();
  const notes: string[] = [];
  let channels = 3;
  learned.forEach((l, i) => {
    const isConv = i < 5;
    const key = isConv ? `conv${i + 1}` : `fc${i + 1}`;
    if (l.blobs.length !== 2) throw new UserError(`layer "${l.name}" has ${l.blobs.length} blobs, expected weights and bias`);
    const [w, b] = l.blobs.map((f) => readBlob(bytes, f, l.name));
    let weight: Tensor<Float32Array>;
    if (isConv) {
      const K = CONV_KERNELS[i];
      const groups = CONV_GROUPS[i];
      const shape = squeezeTo(w.shape, 4);
      if (!shape || shape[2] !== K || shape[3] !== K || shape[1] * groups !== channels || shape[0] % groups !== 0) {
        throw new UserError(
          `layer "${l.name}" has weights ${formatShape(w.shape)}, but Caffe's AlexNet ${key} is ${K}x${K} with ${groups} group${groups > 1 ? 's' : ''} ` +
            `over the ${channels} channels before it`,
        );
      }
      weight = { data: w.data, shape };
      channels = shape[0];
    } else {
      const shape = squeezeTo(w.shape, 2);
      if (!shape) throw new UserError(`layer "${l.name}" has weights ${formatShape(w.shape)}, expected a matrix`);
      weight = { data: w.data, shape };
      if (l.transpose) {
        weight = transpose(weight);
        notes.push(`layer "${l.name}" stores its weights transposed ([IN, OUT]); they were transposed to [OUT, IN]`);
      }
      const expectedIn = i === 5 ? channels * 6 * 6 : channels;
      if (weight.shape[1] !== expectedIn) {
        throw new UserError(`layer "${l.name}" has weights ${formatShape(weight.shape)}, but ${key} takes ${expectedIn} inputs here`);
      }
      channels = weight.shape[0];
    }
    if (sizeOf(b.shape) !== weight.shape[0]) throw new UserError(`layer "${l.name}" has ${weight.shape[0]} outputs but a bias of shape ${formatShape(b.shape)}`);
    weights.set(`${key}.weight`, weight);
    weights.set(`${key}.bias`, { data: b.data, shape: [weight.shape[0]] });
    done += l.blobs.reduce((m, f) => m + (f.end - f.start), 0);
    options.onProgress?.(done, total);
  });

  // Caffe's AlexNet normalises then pools; CaffeNet pools then normalises.
  const firstLrn = raw.findIndex((l) => l.type === 'LRN');
  const firstPool = raw.findIndex((l) => l.type === 'Pooling');
  let arch: 'caffe' | 'caffenet' = 'caffe';
  if (firstLrn >= 0 && firstPool >= 0) arch = firstPool < firstLrn ? 'caffenet' : 'caffe';
  else notes.push('the file does not list its LRN and pooling layers, so their order is unknown: assumed Caffe\'s AlexNet (LRN before pooling); use --arch caffenet for CaffeNet');

  const layers = raw.map((l) => ({ name: l.name, type: l.type, blobShapes: l.blobs.map((f) => blobShape(bytes, message(bytes, f))) }));
  return { arch, weights, encoding, layers, notes };
}

function readLayer(bytes: Uint8Array, f: ProtoField): RawLayer {
  const fields = message(bytes, f);
  const name = lastField(fields, 1);
  const type = lastField(fields, 2);
  const ip = lastField(fields, 117);
  return {
    name: name ? string(bytes, name) : '',
    type: type ? string(bytes, type) : '',
    blobs: fields.filter((g) => g.number === 7),
    transpose: ip ? transposeFlag(bytes, ip) : false,
  };
}

function readV1Layer(bytes: Uint8Array, f: ProtoField): RawLayer {
  const fields = message(bytes, f);
  if (lastField(fields, 1)) {
    throw new UserError("this .caffemodel is in Caffe's V0 format (2013), which is not supported: upgrade it with Caffe's upgrade_net_proto_binary");
  }
  const name = lastField(fields, 4);
  const type = lastField(fields, 5);
  const typeNumber = type ? int64(type) : 0;
  const ip = lastField(fields, 17);
  return {
    name: name ? string(bytes, name) : '',
    type: V1_TYPES[typeNumber] ?? `layer type ${typeNumber}`,
    blobs: fields.filter((g) => g.number === 6),
    transpose: ip ? transposeFlag(bytes, ip) : false,
  };
}

/** InnerProductParameter.transpose (field 6). */
function transposeFlag(bytes: Uint8Array, f: ProtoField): boolean {
  const t = lastField(message(bytes, f), 6);
  return t ? bool(t) : false;
}

function blobShape(bytes: Uint8Array, fields: ProtoField[]): number[] {
  const shape = lastField(fields, 7);
  if (shape) return repeatedInt64(bytes, message(bytes, shape), 1);
  // The deprecated 4-d dims; absent ones are 0 in proto2 defaults, which means an old empty blob.
  return [1, 2, 3, 4].map((n) => {
    const f = lastField(fields, n);
    return f && f.wireType === WireType.Varint ? int64(f) : 0;
  });
}

function readBlob(bytes: Uint8Array, f: ProtoField, layer: string): { data: Float32Array; shape: number[] } {
  const fields = message(bytes, f);
  const shape = blobShape(bytes, fields);
  const data = fields.some((g) => g.number === 5) ? repeatedFloat32(bytes, fields, 5) : repeatedFloat64AsFloat32(bytes, fields, 8);
  if (data.length !== sizeOf(shape)) {
    throw new UserError(`layer "${layer}" has a blob of shape ${formatShape(shape)} (${sizeOf(shape)} values) holding ${data.length} values`);
  }
  return { data, shape };
}

/** Drops leading 1s (the legacy 4-d dims) down to `rank` dimensions, or undefined if it cannot. */
function squeezeTo(shape: number[], rank: number): number[] | undefined {
  const s = [...shape];
  while (s.length > rank && s[0] === 1) s.shift();
  return s.length === rank ? s : undefined;
}

function transpose(t: Tensor<Float32Array>): Tensor<Float32Array> {
  const [R, C] = t.shape;
  const out = new Float32Array(R * C);
  for (let r = 0; r < R; r++) for (let c = 0; c < C; c++) out[c * R + r] = t.data[r * C + c];
  return { data: out, shape: [C, R] };
}
