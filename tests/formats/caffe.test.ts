import { describe, expect, it } from 'vitest';
import { parseCaffemodel } from '../../src/formats/caffe.js';
import { weightsFromSafetensors } from '../../src/formats/weights.js';
import type { Tensor } from '../../src/tensor.js';
import { expectSameWeights, expectUserError, weightFixture } from '../helpers/formats.js';

const fixture = weightFixture;



// NetParameter by hand (BVLC caffe.proto): layer 100 {name 1, type 2, blobs 7, inner_product_param 117 {transpose 6}},
// layers 2 {name 4, type 5 (enum), blobs 6, layer 1 (V0)}, BlobProto {shape 7 {dim 1 packed}, data 5 packed, double_data 8}.
const enc = (s: string) => [...new TextEncoder().encode(s)];
const varint = (n: number): number[] => (n < 0x80 ? [n] : [(n & 0x7f) | 0x80, ...varint(Math.floor(n / 128))]);
const fVarint = (field: number, n: number) => [...varint((field << 3) | 0), ...varint(n)];
const fLen = (field: number, bytes: number[]) => [...varint((field << 3) | 2), ...varint(bytes.length), ...bytes];
const fStr = (field: number, s: string) => fLen(field, enc(s));
const floats = (a: number[]) => [...new Uint8Array(Float32Array.from(a).buffer)];

/** BlobShape {dim 1, packed}. */
const dims = (shape: number[]) => fLen(1, shape.flatMap((d) => varint(d)));
const blob = (shape: number[], values?: number[]) =>
  fLen(7, [...fLen(7, dims(shape)), ...fLen(5, floats(values ?? Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => i)))]);
const layer = (name: string, type: string, blobs: number[][] = [], extra: number[] = []) =>
  fLen(100, [...fStr(1, name), ...fStr(2, type), ...blobs.flat(), ...extra]);

/** The learned layers of a tiny Caffe AlexNet (conv 2-4-4-4-2, fc 3-3-2), weights 0, 1, 2, ... */
function learnedLayers(options: { fc6Transposed?: boolean } = {}): number[][] {
  const conv = (i: number, shape: number[]) => layer(`conv${i}`, 'Convolution', [blob(shape), blob([shape[0]])]);
  return [
    conv(1, [2, 3, 11, 11]), conv(2, [4, 1, 5, 5]), conv(3, [4, 4, 3, 3]), conv(4, [4, 2, 3, 3]), conv(5, [2, 2, 3, 3]),
    options.fc6Transposed
      ? layer('fc6', 'InnerProduct', [blob([72, 3]), blob([3])], fLen(117, fVarint(6, 1)))
      : layer('fc6', 'InnerProduct', [blob([3, 72]), blob([3])]),
    layer('fc7', 'InnerProduct', [blob([3, 3]), blob([3])]),
    layer('fc8', 'InnerProduct', [blob([2, 3]), blob([2])]),
  ];
}
const net = (layers: number[][]) => Uint8Array.from([...fStr(1, 'AlexNet'), ...layers.flat()]);

describe('caffe: .caffemodel files', () => {
  const expected = weightsFromSafetensors(fixture('caffe.safetensors'));

  it('`layer` (field 100) entries in Caffe AlexNet order: arch caffe, exact weights', () => {
    const model = parseCaffemodel(fixture('caffe.caffemodel'));
    expect(model.arch).toBe('caffe');
    expect(model.encoding).toBe('layer');
    expect(model.notes).toEqual([]);
    expect(model.layers.map((l) => l.name).slice(0, 6)).toEqual(['data', 'conv1', 'relu1', 'norm1', 'pool1', 'conv2']);
    expect(model.layers[1]).toEqual({ name: 'conv1', type: 'Convolution', blobShapes: [[4, 3, 11, 11], [4]] });
    expectSameWeights(model.weights, expected);
  });

  it('legacy `layers` (field 2, V1 enum types, 4-d num/channels/height/width blobs) in CaffeNet order: arch caffenet', () => {
    const model = parseCaffemodel(fixture('caffenet-v1.caffemodel'));
    expect(model.arch).toBe('caffenet');
    expect(model.encoding).toBe('layers (V1)');
    expect(model.layers.map((l) => `${l.name}:${l.type}`).slice(0, 6)).toEqual(
      ['data:Data', 'conv1:Convolution', 'relu1:ReLU', 'pool1:Pooling', 'norm1:LRN', 'conv2:Convolution'],
    );
    expect(model.layers.find((l) => l.name === 'fc6')?.blobShapes).toEqual([[1, 1, 16, 144], [1, 1, 1, 16]]);
    expectSameWeights(model.weights, expected);
  });

  it('a file with only the learned layers: caffe, with a note that the order is unknown', () => {
    const model = parseCaffemodel(net(learnedLayers()));
    expect(model.arch).toBe('caffe');
    expect(model.notes).toEqual([
      "the file does not list its LRN and pooling layers, so their order is unknown: assumed Caffe's AlexNet (LRN before pooling); use --arch caffenet for CaffeNet",
    ]);
    expect([...model.weights.keys()]).toEqual(['conv1.weight', 'conv1.bias', 'conv2.weight', 'conv2.bias', 'conv3.weight', 'conv3.bias',
      'conv4.weight', 'conv4.bias', 'conv5.weight', 'conv5.bias', 'fc6.weight', 'fc6.bias', 'fc7.weight', 'fc7.bias', 'fc8.weight', 'fc8.bias']);
    expect(model.weights.get('fc8.weight')).toEqual({ data: Float32Array.of(0, 1, 2, 3, 4, 5), shape: [2, 3] });
  });

  it('inner product weights stored transposed (transpose: true) are turned back to [OUT, IN]', () => {
    const plain = parseCaffemodel(net(learnedLayers())).weights.get('fc6.weight') as Tensor;
    const model = parseCaffemodel(net(learnedLayers({ fc6Transposed: true })));
    const fc6 = model.weights.get('fc6.weight') as Tensor;
    expect(fc6.shape).toEqual([3, 72]);
    expect(fc6.data[1]).toBe(3); // element [0][1] of the transpose is element [1][0] = 1 * 3 of the stored [72, 3]
    expect(fc6.data[72]).toBe(1);
    expect(plain.shape).toEqual([3, 72]);
    expect(model.notes[0]).toBe('layer "fc6" stores its weights transposed ([IN, OUT]); they were transposed to [OUT, IN]');
  });

  it('double_data blobs are read and rounded to float32', () => {
    const layers = learnedLayers();
    const doubles = [...new Uint8Array(Float64Array.of(0.1, 0.2).buffer)];
    layers[7] = layer('fc8', 'InnerProduct', [blob([2, 3]), fLen(7, [...fLen(7, dims([2])), ...fLen(8, doubles)])]);
    expect([...(parseCaffemodel(net(layers)).weights.get('fc8.bias')?.data ?? [])]).toEqual([Math.fround(0.1), Math.fround(0.2)]);
  });
});

describe('caffe: refusals', () => {
  it('layers that are not part of AlexNet', () => {
    const withSigmoid = learnedLayers();
    withSigmoid.splice(1, 0, layer('sig', 'Sigmoid'));
    expectUserError(() => parseCaffemodel(net(withSigmoid)), 'layer "sig" (Sigmoid) is not part of any AlexNet');
    const withBn = learnedLayers();
    withBn.splice(1, 0, layer('bn1', 'BatchNorm', [blob([2]), blob([2]), blob([1])]));
    expectUserError(() => parseCaffemodel(net(withBn)), 'layer "bn1" (BatchNorm) has learned parameters but is not part of any AlexNet');
  });

  it('the wrong number of learned layers, or the wrong shapes', () => {
    expectUserError(
      () => parseCaffemodel(net(learnedLayers().slice(0, 7))),
      /^an AlexNet has 5 convolution layers then 3 inner-product layers with weights; this file has "conv1" \(Convolution\), .*"fc7" \(InnerProduct\)$/,
    );
    const badKernel = learnedLayers();
    badKernel[1] = layer('conv2', 'Convolution', [blob([4, 1, 3, 3]), blob([4])]);
    expectUserError(() => parseCaffemodel(net(badKernel)), "layer \"conv2\" has weights [4, 1, 3, 3], but Caffe's AlexNet conv2 is 5x5 with 2 groups over the 2 channels before it");
    const badFc = learnedLayers();
    badFc[5] = layer('fc6', 'InnerProduct', [blob([3, 70]), blob([3])]);
    expectUserError(() => parseCaffemodel(net(badFc)), 'layer "fc6" has weights [3, 70], but fc6 takes 72 inputs here');
    const short = learnedLayers();
    short[7] = layer('fc8', 'InnerProduct', [fLen(7, [...fLen(7, dims([2, 3])), ...fLen(5, floats([1, 2]))]), blob([2])]);
    expectUserError(() => parseCaffemodel(net(short)), 'layer "fc8" has a blob of shape [2, 3] (6 values) holding 2 values');
    const noBias = learnedLayers();
    noBias[7] = layer('fc8', 'InnerProduct', [blob([2, 3])]);
    expectUserError(() => parseCaffemodel(net(noBias)), 'layer "fc8" has 1 blobs, expected weights and bias');
  });

  it("Caffe's 2013 V0 format, files that are not Caffe models, and truncated files", () => {
    const v0 = Uint8Array.from(fLen(2, fLen(1, [...fStr(1, 'conv1'), ...fStr(2, 'conv')])));
    expectUserError(() => parseCaffemodel(v0), "this .caffemodel is in Caffe's V0 format (2013), which is not supported: upgrade it with Caffe's upgrade_net_proto_binary");
    expectUserError(() => parseCaffemodel(Uint8Array.from(fStr(1, 'just a name'))), 'not a Caffe model: no layer (NetParameter field 100) or layers (field 2)');
    const bytes = fixture('caffe.caffemodel');
    expectUserError(() => parseCaffemodel(bytes.subarray(0, bytes.length - 10)), /^corrupt protobuf: field 100 at byte \d+ says \d+ bytes but only \d+ remain \(truncated file\?\)$/);
  });
});
