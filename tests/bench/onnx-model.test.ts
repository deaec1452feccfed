/**
 * bench/onnx-model.ts encodes an architecture and its weights as an ONNX ModelProto by hand, for
 * the ONNX Runtime peers of bench/peers.ts. Smoke tests at reduced width (fast): onnxruntime-node
 * runs the model and gives the reference's logits; the project's own ONNX reader reads it back.
 *
 *   torchvision /8 at 127: pool5 is 3x3, so AdaptiveAvgPool(6, 6) is not the identity and goes
 *                          through the encoder's Reshape-MatMul-Reshape
 *   caffe /8 at 71:        LRN (alpha convention), grouped convolutions, ceil pooling
 */

import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { alexnetOnnx, ONNX_IR_VERSION, ONNX_OPSET } from '../../bench/onnx-model.js';
import { maxRelativeError } from '../../bench/engines.js';
import { referenceBackend } from '../../src/backend/reference.js';
import { parseOnnx } from '../../src/formats/onnx.js';
import { type ArchName, architecture } from '../../src/model/architectures.js';
import { forward } from '../../src/model/network.js';
import { syntheticInput, syntheticWeights } from '../../src/model/synthetic.js';

const CASES: { name: ArchName; size: number }[] = [
  { name: 'torchvision', size: 127 },
  { name: 'caffe', size: 71 },
];

describe('bench/onnx-model.ts', () => {
  for (const { name, size } of CASES) {
    const arch = architecture(name, { widthDivisor: 8, numClasses: 10 });
    const weights = syntheticWeights(arch, 1000, size);
    const bytes = alexnetOnnx(arch, weights, { inputSize: size });

    it(`${name} /8 at ${size}: onnxruntime-node gives the reference's logits within 1e-4 relative`, async () => {
      const x = syntheticInput(7, [2, arch.inputChannels, size, size]);
      const session = await ort.InferenceSession.create(bytes);
      const out = await session.run({ input: new ort.Tensor('float32', x.data, x.shape) });
      expect(out.logits.dims).toEqual([2, 10]);
      const want = forward(arch, weights, x, referenceBackend).logits.data;
      const err = maxRelativeError(out.logits.data as Float32Array, want);
      expect(err, `max |ort - reference| / max |reference| = ${err}`).toBeLessThan(1e-4);
    });

    it(`${name} /8 at ${size}: src/formats/onnx.ts reads back the header, the symbolic batch and every weight bit for bit`, () => {
      const model = parseOnnx(bytes);
      expect(model.irVersion).toBe(ONNX_IR_VERSION);
      expect(model.opset).toBe(ONNX_OPSET);
      expect(model.inputs).toEqual([{ name: 'input', elemType: 1, shape: ['N', arch.inputChannels, size, size] }]);
      expect(model.outputs).toEqual([{ name: 'logits', elemType: 1, shape: ['N', 10] }]);
      for (const [key, t] of weights) {
        const got = model.initializers.get(key);
        expect(got?.shape, key).toEqual(t.shape);
        expect(Buffer.from(got!.data.buffer, got!.data.byteOffset, got!.data.byteLength).equals(Buffer.from(t.data.buffer)), key).toBe(true);
      }
    });
  }
});
