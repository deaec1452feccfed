import { describe, expect, it } from 'vitest';
import { archOptionsFor, inferArch, loadWeights, sniffFormat } from '../../src/formats/load.js';
import { writeSafetensors } from '../../src/formats/safetensors.js';
import { weightsFromSafetensors } from '../../src/formats/weights.js';
import { ARCH_NAMES, type ArchName, architecture } from '../../src/model/architectures.js';
import { parameterList } from '../../src/model/shapes.js';
import type { Tensor } from '../../src/tensor.js';
import { expectSameWeights, expectUserError, weightFixture } from '../helpers/formats.js';

const fixture = weightFixture;



/** Tensors with the right shapes and no data: enough for inferArch and archOptionsFor. */
function shapesOnly(arch: ArchName, options: { widthDivisor?: number; numClasses?: number } = {}): Map<string, Tensor> {
  return new Map(parameterList(architecture(arch, options)).map((p) => [p.key, { data: new Float32Array(0), shape: p.shape }]));
}

const EXPECTED = 'expected safetensors, a PyTorch .pth (zip or legacy), an ONNX model or a .caffemodel';

describe('loadWeights: every format, the same tensors', () => {
  const cases: [file: string, format: string, arch: ArchName | undefined, expected: string][] = [
    ['tv.safetensors', 'safetensors', undefined, 'tv.safetensors'],
    ['tv.pth', 'pth-zip', undefined, 'tv.safetensors'],
    ['tv-legacy.pth', 'pth-legacy', undefined, 'tv.safetensors'],
    ['tv-opset11.onnx', 'onnx', 'torchvision', 'tv.safetensors'],
    ['tv-opset13.onnx', 'onnx', 'torchvision', 'tv.safetensors'],
    ['tricky-legacy-proto4.pth', 'pth-legacy', undefined, 'tricky.safetensors'],
    ['caffe.onnx', 'onnx', 'caffe', 'caffe.safetensors'],
    ['caffe.caffemodel', 'caffemodel', 'caffe', 'caffe.safetensors'],
    ['caffenet-v1.caffemodel', 'caffemodel', 'caffenet', 'caffe.safetensors'],
  ];
  for (const [file, format, arch, expected] of cases) {
    it(`${file}: ${format}${arch ? `, arch ${arch}` : ''}`, () => {
      const bytes = fixture(file);
      expect(sniffFormat(bytes)).toBe(format);
      const loaded = loadWeights(bytes, file);
      expect(loaded.format).toBe(format);
      expect(loaded.arch).toBe(arch);
      expectSameWeights(loaded.weights, weightsFromSafetensors(fixture(expected)));
    });
  }

  it('the torchvision files are architecture("torchvision", { widthDivisor: 64, numClasses: 10 })', () => {
    for (const file of ['tv.safetensors', 'tv.pth', 'tv-legacy.pth', 'tv-opset11.onnx']) {
      const loaded = loadWeights(fixture(file), file);
      const arch = loaded.arch ?? inferArch(loaded.weights);
      expect(arch).toBe('torchvision');
      expect(archOptionsFor(arch, loaded.weights)).toEqual({ widthDivisor: 64, numClasses: 10 });
    }
    // The Caffe fixtures' made-up widths are no width divisor of any architecture.
    expect(archOptionsFor('caffe', loadWeights(fixture('caffe.caffemodel')).weights)).toBeUndefined();
  });

  it('reports progress through the tensor data of every format, ending at the total', () => {
    for (const file of ['tv.safetensors', 'tv.pth', 'tv-legacy.pth', 'tv-opset13.onnx', 'caffe.caffemodel']) {
      const calls: [number, number][] = [];
      loadWeights(fixture(file), file, { onProgress: (done, total) => calls.push([done, total]) });
      expect(calls.length, file).toBeGreaterThan(0);
      const [done, total] = calls[calls.length - 1];
      expect(done, file).toBe(total);
      expect(calls.every(([d], i) => i === 0 || d >= calls[i - 1][0]), file).toBe(true);
    }
  });

  it('safetensors: F64 tensors are converted to float32, integer ones skipped, each with a note', () => {
    const bytes = writeSafetensors([
      ['a', { dtype: 'F64', shape: [2], data: Float64Array.of(0.1, 2) }],
      ['b', { dtype: 'F32', shape: [1], data: Float32Array.of(3) }],
      ['n', { dtype: 'I64', shape: [], data: BigInt64Array.of(7n) }],
    ]);
    const loaded = loadWeights(bytes);
    expect([...loaded.weights.keys()]).toEqual(['a', 'b']);
    expect([...(loaded.weights.get('a')?.data ?? [])]).toEqual([Math.fround(0.1), 2]);
    expect(loaded.notes).toEqual(['skipped 1 tensors that are not float: "n" (I64)', 'converted 1 F64 tensors to float32']);
  });
});

describe('loadWeights: refusals name the file', () => {
  it('the malicious pickles', () => {
    expectUserError(
      () => loadWeights(fixture('malicious.pth'), 'weights/alexnet.pth'),
      'weights/alexnet.pth: pickle asks for global "posix.system", which is not allowed: refusing to load (pickle files can run code; only PyTorch state dicts are accepted)',
    );
    expectUserError(() => loadWeights(fixture('malicious-legacy.pth'), 'old.pth'), /^old\.pth: pickle asks for global "posix\.system"/);
  });

  it('truncated files of each format', () => {
    const cut = (name: string, n: number) => fixture(name).subarray(0, n);
    expectUserError(() => loadWeights(cut('tv.pth', 30000), 'tv.pth'), /^tv\.pth: zip archive is truncated or damaged: no end-of-central-directory record/);
    expectUserError(() => loadWeights(cut('tv-legacy.pth', 30000), 'tv.pth'), /^tv\.pth: legacy \.pth is truncated: storage "\d+"/);
    expectUserError(() => loadWeights(cut('tv-opset13.onnx', 30000), 'tv.onnx'), /^tv\.onnx: ONNX model is damaged: corrupt protobuf: field 7 at byte \d+ says \d+ bytes but only \d+ remain \(truncated file\?\)$/);
    expectUserError(() => loadWeights(cut('tv-opset13.onnx', 30000)), /^ONNX model is damaged: corrupt protobuf: /);
    expectUserError(() => loadWeights(cut('caffe.caffemodel', 20000), 'net.caffemodel'), /^net\.caffemodel: Caffe model is damaged: corrupt protobuf: field 100 at byte \d+ says/);
    expectUserError(() => loadWeights(cut('tv.safetensors', 3000), 'tv.safetensors'), /^tv\.safetensors: tensor "[^"]+" has data_offsets \[\d+, \d+\] but the data buffer has \d+ bytes$/);
  });

  it('files in other formats', () => {
    const check = (bytes: number[] | Uint8Array, message: string) => expectUserError(() => loadWeights(Uint8Array.from(bytes), 'w.bin'), `w.bin: ${message}`);
    check([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0], `this is a PNG image, not a weight file (${EXPECTED})`);
    check([0xff, 0xd8, 0xff, 0xe0, 0, 0x10, 0x4a, 0x46, 0x49, 0x46], `this is a JPEG image, not a weight file (${EXPECTED})`);
    check([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3], `this is a gzip-compressed file: decompress it first (gunzip) (${EXPECTED})`);
    check([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a], `this is an HDF5 file (Keras .h5 or a Caffe HDF5 snapshot), which is not supported (${EXPECTED})`);
    check(fixture('../formats/f4_2x3.npy'), `this is a single NumPy array (.npy), not a set of weights (${EXPECTED})`);
    check(fixture('values-p4.pkl'), 'this is a Python pickle, but not one written by torch.save: only PyTorch .pth files are read');
    check(new TextEncoder().encode('hello, world\n'), `unknown format (${EXPECTED}); it starts with bytes 68 65 6c 6c 6f 2c 20 77`);
    check([], `the file is empty (${EXPECTED})`);
  });

  it('inferArch and the graph mapping do not guess for files that are not AlexNets', () => {
    expectUserError(
      () => inferArch(loadWeights(fixture('tricky.pth')).weights),
      'cannot tell the architecture from the tensor names: expected "features.0.weight" (torchvision) or "conv1.weight" ' +
        '(caffe, caffenet, paper, mini), found "transposed", "slice", "row", "big", ...: pass --arch',
    );
  });
});

describe('inferArch and archOptionsFor', () => {
  it('tells torchvision, the Caffe family and mini apart by names and shapes; paper and caffenet read as caffe', () => {
    const expected: Record<ArchName, ArchName> = { torchvision: 'torchvision', caffe: 'caffe', caffenet: 'caffe', paper: 'caffe', mini: 'mini' };
    for (const arch of ARCH_NAMES) {
      for (const options of [{}, { widthDivisor: 8, numClasses: 10 }]) {
        const weights = shapesOnly(arch, options);
        expect(inferArch(weights), `${arch} ${JSON.stringify(options)}`).toBe(expected[arch]);
        const numClasses = options.numClasses ?? (arch === 'mini' ? 10 : 1000);
        expect(archOptionsFor(arch, weights)).toEqual({ widthDivisor: options.widthDivisor ?? 1, numClasses });
      }
    }
  });

  it('archOptionsFor is undefined when the shapes are no architecture of that name', () => {
    expect(archOptionsFor('torchvision', shapesOnly('caffe'))).toBeUndefined();
    const missing = shapesOnly('caffe');
    missing.delete('fc7.bias');
    expect(archOptionsFor('caffe', missing)).toBeUndefined();
  });

  it('refuses conv1/conv2 shapes of no AlexNet', () => {
    const weights = shapesOnly('caffe');
    weights.set('conv2.weight', { data: new Float32Array(0), shape: [256, 96, 5, 5] });
    expectUserError(
      () => inferArch(weights),
      'conv1.weight [96, 3, 11, 11] and conv2.weight [256, 96, 5, 5] match no AlexNet (caffe: [96, 3, 11, 11] and [256, 48, 5, 5]; mini: [48, 1, 5, 5]): pass --arch',
    );
  });
});
