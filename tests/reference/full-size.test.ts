/**
 * Full-size torchvision (224x224) and Caffe (227x227) AlexNets against PyTorch 1.13: the logits
 * and, for every layer, (min, max, mean, L2 norm) of its eval output. Batch 1; weights (61M
 * parameters) and input from the synthetic generator on both sides, so the fixture stores no
 * activations: fixtures/reference/full-<arch>.safetensors is a few kilobytes.
 *
 * The fixture script also checked that its layer-by-layer torchvision net gives exactly the
 * logits of torchvision.models.alexnet() loaded with the same weights (metadata
 * `torchvision_check`), so this test ties our walker to torchvision's own model.
 *
 * Each case takes a few seconds: 61M synthetic parameters, then ~0.7 GMAC of plain loops.
 */

import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { referenceBackend } from '../../src/backend/reference.js';
import { parseSafetensors, type StoredTensor } from '../../src/formats/safetensors.js';
import { type ArchName, architecture } from '../../src/model/architectures.js';
import { forward } from '../../src/model/network.js';
import { parameterList } from '../../src/model/shapes.js';
import { syntheticInput, syntheticWeights } from '../../src/model/synthetic.js';
import { formatShape, shapeEquals } from '../../src/tensor.js';
import { expectWeightsMatchFixture } from '../helpers/synthetic-agreement.js';

const WEIGHT_SEED = 1000;
const INPUT_SEED = 7;
const TIMEOUT_MS = 300_000;

// Tolerances. Full width means sums of up to 9216 products (fc6) and 2400-3456 (conv2-5) in
// PyTorch's float32, against our float64 sums rounded once per layer.
const TOL = {
  /** Logits: max |ours - torch| / max(1e-3, max |torch|); worst seen 3.5e-6 (torchvision). */
  logits: 3e-5,
  /**
   * Layer statistics: |ours - torch| / scale with scale = max(|min|, |max|) of PyTorch's output
   * (for min, max and mean), and relative to PyTorch's value for the L2 norm. The statistics
   * are dominated by single elements (min, max) or average many elements' rounding errors (mean,
   * L2). Worst seen 3.5e-6 (min of torchvision fc8, the smallest logit); the logits' bound.
   */
  stats: 3e-5,
} as const;

const worst = new Map<string, { err: number; where: string }>();

function record(group: string, err: number, where: string): void {
  const prev = worst.get(group);
  if (!prev || err > prev.err || Number.isNaN(err)) worst.set(group, { err, where });
}

for (const [name, size] of [['torchvision', 224], ['caffe', 227]] as [ArchName, number][]) {
  describe(`${name} at full size (${size}x${size}) against PyTorch (fixtures/reference/full-${name}.safetensors)`, () => {
    const file = parseSafetensors(new Uint8Array(readFileSync(new URL(`../../fixtures/reference/full-${name}.safetensors`, import.meta.url))));
    const get = (key: string): StoredTensor => {
      const t = file.tensors.get(key);
      if (!t) throw new Error(`full-${name}.safetensors has no tensor "${key}"`);
      return t;
    };
    const arch = architecture(name);

    it('logits and per-layer statistics of the eval forward pass', () => {
      expect(file.metadata.format_version).toBe('1');
      expect(JSON.parse(file.metadata.architecture)).toEqual(JSON.parse(JSON.stringify(arch)));
      const inputShape = JSON.parse(file.metadata.input_shape) as number[];
      expect(inputShape).toEqual([1, 3, size, size]);

      // The two generators agree (first values exactly; sums to float64 rounding).
      const x = syntheticInput(INPUT_SEED, inputShape);
      expect(Array.from(get('input_head').data as Float32Array)).toEqual(Array.from(x.data.subarray(0, 16)));
      const weights = syntheticWeights(arch, WEIGHT_SEED, size);
      expectWeightsMatchFixture(weights, parameterList(arch, size).map((p) => p.key), get, 1e-12);

      const pass = forward(arch, weights, x, referenceBackend);

      // Logits.
      const expected = get('logits');
      const e = expected.data as Float32Array;
      if (!shapeEquals(pass.logits.shape, expected.shape)) {
        throw new Error(`${name} logits: ours ${formatShape(pass.logits.shape)}, PyTorch ${formatShape(expected.shape)}`);
      }
      let scale = 1e-3;
      for (const v of e) scale = Math.max(scale, Math.abs(v));
      let maxDiff = 0;
      let at = 0;
      for (let i = 0; i < e.length; i++) {
        const d = Math.abs(pass.logits.data[i] - e[i]);
        if (!(d <= maxDiff)) {
          maxDiff = d;
          at = i;
        }
      }
      record('logits', maxDiff / scale, `${name} class ${at}`);
      if (!(maxDiff / scale <= TOL.logits)) {
        throw new Error(
          `${name} logits: max |ours - torch| / max(1e-3, max |torch|) = ${(maxDiff / scale).toExponential(3)} > ${TOL.logits} ` +
            `at class ${at}: ours ${pass.logits.data[at]}, PyTorch ${e[at]}`,
        );
      }

      // Per-layer statistics, in float64 over our float32 output, as the script computed them.
      for (const spec of arch.layers) {
        const y = pass.outputs.get(spec.name)!.data;
        let min = Infinity;
        let max = -Infinity;
        let sum = 0;
        let sq = 0;
        for (const v of y) {
          min = Math.min(min, v);
          max = Math.max(max, v);
          sum += v;
          sq += v * v;
        }
        const ours = [min, max, sum / y.length, Math.sqrt(sq)];
        const theirs = Array.from(get(`stats/${spec.name}`).data as Float64Array);
        const s = Math.max(1e-3, Math.abs(theirs[0]), Math.abs(theirs[1]));
        const errs = [0, 1, 2].map((j) => Math.abs(ours[j] - theirs[j]) / s).concat(Math.abs(ours[3] - theirs[3]) / Math.max(1e-3, theirs[3]));
        const labels = ['min', 'max', 'mean', 'L2'];
        errs.forEach((err, j) => record(`stats ${labels[j]}`, err, `${name} ${spec.name}`));
        const j = errs.findIndex((err) => !(err <= TOL.stats));
        if (j >= 0) {
          throw new Error(
            `${name} stats/${spec.name} ${labels[j]}: ours ${ours[j]}, PyTorch ${theirs[j]} ` +
              `(error ${errs[j].toExponential(3)} > ${TOL.stats}; [min, max, mean, L2] ours ${ours.join(', ')}, PyTorch ${theirs.join(', ')})`,
          );
        }
      }
    }, TIMEOUT_MS);
  });
}

afterAll(() => {
  const lines = [...worst].sort(([a], [b]) => a.localeCompare(b)).map(([g, w]) => `  ${g.padEnd(10)} ${w.err.toExponential(2)}  ${w.where}`);
  console.log(`worst error per group:\n${lines.join('\n')}`);
});
