/**
 * exportOnnx: the graph written by hand runs in onnxruntime-node and gives our outputs, for every
 * architecture at 1/8 width (every layer compared, not only the logits) and full-size torchvision
 * and caffe; our own ONNX reader maps it back to the same weights; the protobuf encoder writes
 * what the decoder (src/formats/protobuf.ts) reads.
 */

import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { referenceBackend } from '../../src/backend/reference.js';
import { loadWeights } from '../../src/formats/load.js';
import { parseOnnx } from '../../src/formats/onnx.js';
import { encodeVarint } from '../../src/formats/onnx-write.js';
import { int64, readFields } from '../../src/formats/protobuf.js';
import { type ArchName, architecture } from '../../src/model/architectures.js';
import { forward } from '../../src/model/network.js';
import { syntheticInput, syntheticWeights } from '../../src/model/synthetic.js';
import { adaptiveAvgPoolMatrix, exportOnnx } from '../../src/oracle/export-onnx.js';

/** max |ort - ours| / max |ours|: worst seen 8e-7 (float32 sums in a different order). */
const TOL = 1e-5;

function relError(got: ArrayLike<number>, ref: ArrayLike<number>): number {
  let err = 0;
  let scale = 0;
  for (let i = 0; i < ref.length; i++) {
    err = Math.max(err, Math.abs(got[i] - ref[i]));
    scale = Math.max(scale, Math.abs(ref[i]));
  }
  return err / scale;
}

describe('protobuf writing', () => {
  it('varints as the reader decodes them, negative int64 in ten bytes', () => {
    for (const v of [0, 1, 127, 128, 300, 2 ** 31, 2 ** 32 + 5, Number.MAX_SAFE_INTEGER, -1, -300]) {
      const tag = encodeVarint(1 * 8);
      const bytes = Uint8Array.from([...tag, ...encodeVarint(v)]);
      const [f] = readFields(bytes);
      expect(int64(f), String(v)).toBe(v);
    }
    expect(encodeVarint(-1).length).toBe(10);
    expect(Array.from(encodeVarint(300))).toEqual([0xac, 0x02]);
  });
});

describe('the adaptive average pooling matrix', () => {
  it('averages each window: every column sums to 1 and 4x4 -> 6x6 repeats rows and columns', () => {
    const m = adaptiveAvgPoolMatrix(4, 4, 6, 6);
    for (let col = 0; col < 36; col++) {
      let s = 0;
      for (let row = 0; row < 16; row++) s += m[row * 36 + col];
      expect(s).toBeCloseTo(1, 6);
    }
  });
});

const reduced: [ArchName, number][] = [['torchvision', 159], ['torchvision', 224], ['torchvision', 252], ['caffe', 71], ['caffe', 224], ['caffenet', 71], ['paper', 67], ['mini', 28]];

describe('exported graphs in onnxruntime-node, 1/8 width, every layer', () => {
  for (const [name, size] of reduced) {
    it(`${name} at ${size}x${size}`, async () => {
      const arch = architecture(name, { widthDivisor: 8, numClasses: 10 });
      const weights = syntheticWeights(arch, 1000, size);
      const x = syntheticInput(7, [2, arch.inputChannels, size, size]);
      const bytes = exportOnnx(arch, weights, { inputSize: size, allOutputs: true });
      const session = await ort.InferenceSession.create(bytes);
      expect(session.outputNames).toEqual(arch.layers.map((l) => l.name));
      const out = await session.run({ input: new ort.Tensor('float32', x.data, [...x.shape]) });
      const pass = forward(arch, weights, x, referenceBackend);
      for (const l of arch.layers) {
        const ours = pass.outputs.get(l.name)!;
        expect(out[l.name].dims, l.name).toEqual(ours.shape);
        const err = relError(out[l.name].data as Float32Array, ours.data);
        expect(err, `${name} ${l.name}`).toBeLessThanOrEqual(TOL);
      }
    });
  }

  it('Caffe\'s ceil pooling at 224 becomes explicit end padding (the ONNX zoo\'s encoding)', () => {
    const arch = architecture('caffe', { widthDivisor: 8, numClasses: 10 });
    const model = parseOnnx(exportOnnx(arch, syntheticWeights(arch, 1, 224), { inputSize: 224 }));
    const pools = model.nodes.filter((n) => n.opType === 'MaxPool').map((n) => n.attributes.get('pads')!.value);
    // 54 -> 27 windows needs one sample after (floor would give 26); 27 -> 13 and 13 -> 6 fit exactly
    expect(pools).toEqual([[0, 0, 1, 1], [0, 0, 0, 0], [0, 0, 0, 0]]);
    expect(model.nodes.some((n) => n.attributes.has('ceil_mode'))).toBe(false);
    expect(model.opset).toBe(13);
    expect(model.outputs.map((o) => o.name)).toEqual(['prob', 'fc8']);
    expect(model.inputs[0].shape).toEqual(['N', 3, 224, 224]);
  });

  it('the paper\'s LRN (alpha not divided by n) exports alpha * size; Gemm has transB = 1', () => {
    const arch = architecture('paper', { widthDivisor: 8, numClasses: 10 });
    const model = parseOnnx(exportOnnx(arch, syntheticWeights(arch, 1, 67), { inputSize: 67 }));
    const lrn = model.nodes.find((n) => n.opType === 'LRN')!;
    expect(lrn.attributes.get('alpha')!.value).toBeCloseTo(5e-4, 10);
    expect(lrn.attributes.get('bias')!.value).toBe(2);
    expect(model.nodes.filter((n) => n.opType === 'Gemm').every((n) => n.attributes.get('transB')!.value === 1)).toBe(true);
  });

  it('our ONNX reader maps the export back to the same weights (at sizes without the MatMul pooling)', () => {
    for (const [name, size] of [['torchvision', 224], ['caffe', 227], ['caffenet', 227], ['paper', 227], ['mini', 28]] as [ArchName, number][]) {
      const arch = architecture(name, { widthDivisor: 8, numClasses: 10 });
      const weights = syntheticWeights(arch, 2, size);
      const back = loadWeights(exportOnnx(arch, weights, { inputSize: size }), `${name}.onnx`);
      expect(back.arch).toBe(name);
      expect([...back.weights.keys()]).toEqual([...weights.keys()]);
      for (const [k, t] of weights) expect(Buffer.from(back.weights.get(k)!.data.buffer, back.weights.get(k)!.data.byteOffset, t.data.byteLength).equals(Buffer.from(t.data.buffer)), k).toBe(true);
    }
  });
});

describe('full size in onnxruntime-node: the logits', () => {
  for (const [name, size] of [['torchvision', 224], ['caffe', 227]] as [ArchName, number][]) {
    it(`${name} at ${size}x${size}, 61M parameters`, async () => {
      const arch = architecture(name);
      const weights = syntheticWeights(arch, 1000, size);
      const x = syntheticInput(7, [1, 3, size, size]);
      const session = await ort.InferenceSession.create(exportOnnx(arch, weights));
      const out = await session.run({ input: new ort.Tensor('float32', x.data, [...x.shape]) });
      const pass = forward(arch, weights, x, referenceBackend);
      expect(relError(out.fc8.data as Float32Array, pass.logits.data)).toBeLessThanOrEqual(TOL);
      expect(relError(out.prob.data as Float32Array, pass.probs.data)).toBeLessThanOrEqual(TOL);
    }, 120_000);
  }
});
