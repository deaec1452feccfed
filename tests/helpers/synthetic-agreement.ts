/**
 * The fixtures regenerate their weights from the synthetic generator in NumPy (fixtures/make_fixtures.py)
 * and store the first values and the float64 sum of each tensor: this checks that src/model/synthetic.ts
 * gives the same numbers, so the fixtures' outputs belong to the weights the tests build.
 */
import { expect } from 'vitest';
import type { StoredTensor } from '../../src/formats/safetensors.js';
import type { Weights } from '../../src/model/network.js';

export function expectWeightsMatchFixture(weights: Weights, keys: readonly string[], get: (name: string) => StoredTensor, sumTolerance: number): void {
  for (const key of keys) {
    const w = weights.get(key)!;
    expect(Array.from(get(`weight_head/${key}`).data as Float32Array), `weight_head/${key}`).toEqual(Array.from(w.data.subarray(0, 8)));
    let sum = 0;
    let abs = 0;
    for (const v of w.data) {
      sum += v;
      abs += Math.abs(v);
    }
    const theirs = (get(`weight_sum/${key}`).data as Float64Array)[0];
    expect(Math.abs(sum - theirs), `weight_sum/${key}: ours ${sum}, NumPy ${theirs}`).toBeLessThanOrEqual(sumTolerance * abs);
  }
}
