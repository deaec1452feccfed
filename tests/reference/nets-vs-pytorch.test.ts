/**
 * The five architectures end to end against PyTorch 1.13, at 1/8 width (widthDivisor 8,
 * numClasses 10, batch 2), through the network walker of src/model/network.ts on the reference
 * backend: every layer's eval output, then one training evaluation (loss, logits, every parameter
 * gradient, every layer-output gradient and the input gradient) with PyTorch's dropout masks.
 *
 * The expected values are fixtures/reference/net-<arch>.safetensors, written by
 * `/usr/bin/python3 fixtures/make_fixtures.py`, which builds each net in PyTorch layer by layer
 * from a transcription of src/model/architectures.ts (stored in the file's metadata and checked
 * here against `architecture()`). Weights, input and labels are not stored: both sides generate
 * them with the synthetic generator (src/model/synthetic.ts and its NumPy twin), and the first
 * values and the sum of every tensor are compared to prove the two generators agree.
 *
 * Error measure: max |ours - torch| / max(1e-3, max |torch|). Failure messages name the
 * architecture, the tensor and the worst index.
 */

import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { referenceBackend } from '../../src/backend/reference.js';
import { parseSafetensors, type SafetensorsFile, type StoredTensor } from '../../src/formats/safetensors.js';
import { ARCH_NAMES, type ArchName, architecture } from '../../src/model/architectures.js';
import { forward, lossAndGradients } from '../../src/model/network.js';
import { parameterList } from '../../src/model/shapes.js';
import { syntheticInput, syntheticLabels, syntheticWeights } from '../../src/model/synthetic.js';
import { type Tensor, formatShape, shapeEquals } from '../../src/tensor.js';
import { expectWeightsMatchFixture } from '../helpers/synthetic-agreement.js';

// The fixture's generation settings (fixtures/reference/manifest.json, "seeds").
const WEIGHT_SEED = 1000;
const INPUT_SEED = 7;
const LABEL_SEED = 11;
const OPTIONS = { widthDivisor: 8, numClasses: 10 };

// Tolerances, as max |ours - torch| / max(1e-3, max |torch|). Our reference sums in float64 and
// rounds each layer's output once; PyTorch sums in float32. Through a dozen layers the float32
// rounding of every layer feeds the next, so errors grow with depth.
const TOL = {
  /** Eval activations and the logits: worst seen 2.1e-6 (torchvision prob), a margin of 10. */
  activation: 2e-5,
  /** Mean cross-entropy (a scalar): worst seen 2.1e-7. */
  loss: 1e-5,
  /**
   * Gradients: the backward pass repeats the forward's rounding in reverse and adds its own
   * (dW sums over the batch and all positions). Worst seen 1.6e-6; 1e-4 as for single ops.
   */
  grad: 1e-4,
  /** Sums of synthetic tensors: NumPy sums pairwise, we sum in order; both in float64. */
  weightSum: 1e-12,
} as const;

interface Worst {
  err: number;
  where: string;
}
const worst = new Map<string, Worst>();

function load(name: ArchName): SafetensorsFile {
  return parseSafetensors(new Uint8Array(readFileSync(new URL(`../../fixtures/reference/net-${name}.safetensors`, import.meta.url))));
}

function getter(file: SafetensorsFile, fileName: string) {
  return (key: string): StoredTensor => {
    const t = file.tensors.get(key);
    if (!t) throw new Error(`${fileName} has no tensor "${key}"`);
    return t;
  };
}

function unravel(index: number, shape: readonly number[]): number[] {
  const at: number[] = [];
  for (let d = shape.length - 1; d >= 0; d--) {
    at.unshift(index % shape[d]);
    index = Math.floor(index / shape[d]);
  }
  return at;
}

/**
 * Checks `ours` (values in row-major order, with `shape`) against the stored tensor: same shape
 * and max |ours - torch| / max(1e-3, max |torch|) <= tol. Records the error under `group`.
 */
function check(group: string, label: string, ours: ArrayLike<number>, shape: readonly number[], expected: StoredTensor, tol: number): void {
  if (!shapeEquals(shape, expected.shape)) {
    throw new Error(`${label}: ours has shape ${formatShape(shape)}, PyTorch ${formatShape(expected.shape)}`);
  }
  const e = expected.data as ArrayLike<number>;
  let scale = 1e-3;
  for (let i = 0; i < e.length; i++) scale = Math.max(scale, Math.abs(e[i]));
  let maxDiff = 0;
  let at = 0;
  for (let i = 0; i < e.length; i++) {
    const d = Math.abs(ours[i] - e[i]);
    if (!(d <= maxDiff)) {
      maxDiff = d;
      at = i;
      if (Number.isNaN(d)) break;
    }
  }
  const err = maxDiff / scale;
  const index = unravel(at, expected.shape).join(', ');
  const prev = worst.get(group);
  if (!prev || err > prev.err || Number.isNaN(err)) worst.set(group, { err, where: `${label} [${index}]` });
  if (!(err <= tol)) {
    throw new Error(
      `${label}: max |ours - torch| / max(1e-3, max |torch|) = ${err.toExponential(3)} > ${tol} at index ${at} ` +
        `[${index}] of ${formatShape(expected.shape)}: ours ${ours[at]}, PyTorch ${e[at]} (scale ${scale})`,
    );
  }
}

/** Rows 0, stride, 2*stride, ... of a [R, C] tensor. */
function rows(t: Tensor, stride: number): { data: Float64Array; shape: number[] } {
  const [R, C] = t.shape;
  const n = Math.ceil(R / stride);
  const data = new Float64Array(n * C);
  for (let r = 0; r < n; r++) data.set(t.data.subarray(r * stride * C, (r * stride + 1) * C), r * C);
  return { data, shape: [n, C] };
}

/** Sums along each row (axis 1) and each column (axis 0) of a [R, C] tensor, in float64. */
function rowColSums(t: Tensor): { rowSum: Float64Array; colSum: Float64Array } {
  const [R, C] = t.shape;
  const rowSum = new Float64Array(R);
  const colSum = new Float64Array(C);
  for (let r = 0; r < R; r++) {
    for (let c = 0; c < C; c++) {
      rowSum[r] += t.data[r * C + c];
      colSum[c] += t.data[r * C + c];
    }
  }
  return { rowSum, colSum };
}

for (const name of ARCH_NAMES) {
  describe(`${name} at 1/8 width against PyTorch (fixtures/reference/net-${name}.safetensors)`, () => {
    const file = load(name);
    const get = getter(file, `net-${name}.safetensors`);
    const arch = architecture(name, OPTIONS);
    const inputShape = JSON.parse(file.metadata.input_shape) as number[];
    const size = inputShape[2];
    const x = syntheticInput(INPUT_SEED, inputShape);
    const weights = syntheticWeights(arch, WEIGHT_SEED, size);
    const labels = syntheticLabels(LABEL_SEED, inputShape[0], arch.numClasses);

    it('was generated from this architecture, seeds and input shape', () => {
      expect(file.metadata.format_version).toBe('1');
      // The PyTorch net was built from this transcription of architectures.ts.
      expect(JSON.parse(file.metadata.architecture)).toEqual(JSON.parse(JSON.stringify(arch)));
      expect([file.metadata.weight_seed, file.metadata.input_seed, file.metadata.label_seed]).toEqual(
        [WEIGHT_SEED, INPUT_SEED, LABEL_SEED].map(String),
      );
      expect(inputShape).toEqual([2, arch.inputChannels, size, size]);
    });

    it('synthetic generator agrees with its NumPy twin (input, labels, every parameter)', () => {
      expect(Array.from(get('input_head').data as Float32Array)).toEqual(Array.from(x.data.subarray(0, 16)));
      expect(Array.from(get('labels').data as BigInt64Array, Number)).toEqual(Array.from(labels));
      const keys = parameterList(arch, size).map((p) => p.key);
      expect([...file.tensors.keys()].filter((k) => k.startsWith('weight_head/')).map((k) => k.slice(12)).sort()).toEqual([...keys].sort());
      expectWeightsMatchFixture(weights, keys, get, TOL.weightSum);
    });

    it('every layer output in eval mode', () => {
      const pass = forward(arch, weights, x, referenceBackend);
      for (const spec of arch.layers) {
        const y = pass.outputs.get(spec.name)!;
        check('eval activations', `${name} act/${spec.name}`, y.data, y.shape, get(`act/${spec.name}`), TOL.activation);
      }
    });

    it('training: loss, logits, every parameter gradient, every layer-output gradient, input gradient', () => {
      const masks = new Map<string, Uint8Array>();
      for (const spec of arch.layers) {
        if (spec.kind === 'dropout') masks.set(spec.name, get(`mask/${spec.name}`).data as Uint8Array);
      }
      const { loss, pass, grads } = lossAndGradients(arch, weights, x, labels, referenceBackend, { masks });

      const logitsName = arch.layers[arch.layers.length - 2].name;
      check('train loss', `${name} loss`, [loss], [], get('loss'), TOL.loss);
      check('train logits', `${name} train/${logitsName}`, pass.logits.data, pass.logits.shape, get(`train/${logitsName}`), TOL.activation);
      check('input gradient', `${name} grad/input`, grads.input.data, grads.input.shape, get('grad/input'), TOL.grad);

      // Every parameter: in full, or (the big fc weights) every k-th row plus all row and column sums.
      const subsampled = JSON.parse(file.metadata.subsampled_grads) as { rowStride: number; keys: Record<string, number[]> };
      for (const p of parameterList(arch, size)) {
        const g = grads.params.get(p.key);
        if (!g) throw new Error(`${name}: no gradient for ${p.key}`);
        if (p.key in subsampled.keys) {
          const r = rows(g, subsampled.rowStride);
          check('parameter gradients', `${name} gradrows/${p.key}`, r.data, r.shape, get(`gradrows/${p.key}`), TOL.grad);
          const { rowSum, colSum } = rowColSums(g);
          check('parameter gradient sums', `${name} gradrowsum/${p.key}`, rowSum, [rowSum.length], get(`gradrowsum/${p.key}`), TOL.grad);
          check('parameter gradient sums', `${name} gradcolsum/${p.key}`, colSum, [colSum.length], get(`gradcolsum/${p.key}`), TOL.grad);
        } else {
          check('parameter gradients', `${name} grad/${p.key}`, g.data, g.shape, get(`grad/${p.key}`), TOL.grad);
        }
      }

      // dL/d(output) of every layer but prob.
      for (const spec of arch.layers.slice(0, -1)) {
        const g = grads.layers.get(spec.name);
        if (!g) throw new Error(`${name}: no gradient for the output of ${spec.name}`);
        check('layer-output gradients', `${name} layergrad/${spec.name}`, g.data, g.shape, get(`layergrad/${spec.name}`), TOL.grad);
      }
    });
  });
}

afterAll(() => {
  const lines = [...worst].sort(([a], [b]) => a.localeCompare(b)).map(([g, w]) => `  ${g.padEnd(26)} ${w.err.toExponential(2)}  ${w.where}`);
  console.log(`worst error per group (max |ours - torch| / max(1e-3, max |torch|)):\n${lines.join('\n')}`);
});
