/**
 * Whole networks on the wasm backend:
 *
 *   1. all five architectures at 1/8 width (widthDivisor 8, numClasses 10, synthetic weights of
 *      src/model/synthetic.ts), wasm against reference: every layer's eval output, then one training
 *      evaluation (loss, every parameter gradient, the input gradient);
 *   2. the same networks and the full-width mini on 1, 2 and 4 threads: forward and backward give
 *      the same bits (the pieces of every op are cut from the shapes alone);
 *   3. inside a scope (activations and gradients stay in the kernels' memory), three SGD steps and
 *      an eval pass give the bits of the same run without one;
 *   4. the PyTorch fixtures of tests/reference/nets-vs-pytorch.test.ts, on the wasm backend.
 *
 * Measure: max |wasm - reference| / max(1e-3, max |reference|) per tensor. The reference sums in
 * float64 and rounds each layer's output once; the wasm kernels sum in float32 (as PyTorch does),
 * so the difference is float32 rounding, fed from layer to layer.
 */

import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { referenceBackend } from '../../src/backend/reference.js';
import type { WasmBackend } from '../../src/backend/wasm/backend.js';
import { createWasmBackendSync } from '../../src/backend/wasm/node-backend.js';
import { parseSafetensors, type StoredTensor } from '../../src/formats/safetensors.js';
import { ARCH_NAMES, type Architecture, architecture } from '../../src/model/architectures.js';
import { forward, lossAndGradients, type Weights } from '../../src/model/network.js';
import { parameterList } from '../../src/model/shapes.js';
import { syntheticInput, syntheticLabels, syntheticWeights } from '../../src/model/synthetic.js';
import { Rng } from '../../src/rng.js';
import type { Tensor } from '../../src/tensor.js';
import { zeroMomentum } from '../../src/train/optimizer.js';
import { expectRelativeError, firstDifference } from './helpers.js';

/**
 * Tolerances, max |wasm - want| / max(1e-3, max |want|). Worst seen (printed at the end of the
 * run): against the reference, activations 1.2e-6, loss 5.5e-7, gradients 1.7e-6; against
 * PyTorch 2.1e-6, 1.1e-6 and 4.0e-6, the order of the reference's own distance to PyTorch
 * (nets-vs-pytorch.test.ts). The same tolerances as there, a margin of about 10.
 */
const TOL = { activation: 2e-5, loss: 1e-5, grad: 1e-4 } as const;

const THREADS = [1, 2, 4];
const backends = new Map<number, WasmBackend>(THREADS.map((t) => [t, createWasmBackendSync({ threads: t })]));
const wasm = backends.get(2)!;
afterAll(() => {
  for (const b of backends.values()) b.dispose();
});

const OPTIONS = { widthDivisor: 8, numClasses: 10 };

/** Worst error per group, printed at the end (the numbers quoted above TOL). */
const worst = new Map<string, { err: number; where: string }>();
function within(group: string, what: string, got: ArrayLike<number>, want: ArrayLike<number>, tol: number): void {
  const err = expectRelativeError(what, got, want, tol);
  const prev = worst.get(group);
  if (!prev || err > prev.err) worst.set(group, { err, where: what });
}
afterAll(() => {
  const lines = [...worst].map(([g, w]) => `  ${g.padEnd(34)} ${w.err.toExponential(2)}  ${w.where}`);
  console.log(`worst max |wasm - want| / max(1e-3, max |want|):\n${lines.join('\n')}`);
});

describe('whole networks at 1/8 width: wasm against reference', () => {
  for (const name of ARCH_NAMES) {
    it(`${name}: every eval output, then loss and every gradient of a training evaluation`, () => {
      const arch = architecture(name, OPTIONS);
      const weights = syntheticWeights(arch, 21);
      const x = syntheticInput(22, [3, arch.inputChannels, arch.inputSize, arch.inputSize]);
      const labels = syntheticLabels(23, 3, arch.numClasses);
      const got = forward(arch, weights, x, wasm);
      const want = forward(arch, weights, x, referenceBackend);
      for (const spec of arch.layers) {
        within('vs reference: activations', `${name} ${spec.name}`, got.outputs.get(spec.name)!.data, want.outputs.get(spec.name)!.data, TOL.activation);
      }
      const g = lossAndGradients(arch, weights, x, labels, wasm, { rng: new Rng(24) });
      const r = lossAndGradients(arch, weights, x, labels, referenceBackend, { rng: new Rng(24) });
      within('vs reference: loss', `${name} loss`, [g.loss], [r.loss], TOL.loss);
      for (const [key, t] of r.grads.params) within('vs reference: gradients', `${name} grad ${key}`, g.grads.params.get(key)!.data, t.data, TOL.grad);
      within('vs reference: gradients', `${name} grad input`, g.grads.input.data, r.grads.input.data, TOL.grad);
    });
  }
});

describe('the same bits on 1, 2 and 4 threads, forward and backward', () => {
  const nets = [
    ...ARCH_NAMES.map((name) => ({ arch: architecture(name, OPTIONS), batch: 3 })),
    { arch: architecture('mini'), batch: 12 },
  ];
  for (const { arch, batch } of nets) {
    it(`${arch.name} at ${arch.widthDivisor === 1 ? 'full' : '1/8'} width, batch ${batch}`, () => {
      const weights = syntheticWeights(arch, 31);
      const x = syntheticInput(32, [batch, arch.inputChannels, arch.inputSize, arch.inputSize]);
      const labels = syntheticLabels(33, batch, arch.numClasses);
      const runs = THREADS.map((t) => lossAndGradients(arch, weights, x, labels, backends.get(t)!, { rng: new Rng(34) }));
      const evals = THREADS.map((t) => forward(arch, weights, x, backends.get(t)!));
      for (let i = 1; i < THREADS.length; i++) {
        const what = `${arch.name}, ${THREADS[i]} threads vs 1`;
        expect(runs[i].loss, what).toBe(runs[0].loss);
        for (const [layer, t] of runs[0].pass.outputs) expect(firstDifference(runs[i].pass.outputs.get(layer)!.data, t.data), `${what}: train ${layer}`).toBeNull();
        for (const [layer, t] of evals[0].outputs) expect(firstDifference(evals[i].outputs.get(layer)!.data, t.data), `${what}: eval ${layer}`).toBeNull();
        for (const [key, t] of runs[0].grads.params) expect(firstDifference(runs[i].grads.params.get(key)!.data, t.data), `${what}: grad ${key}`).toBeNull();
        expect(firstDifference(runs[i].grads.input.data, runs[0].grads.input.data), `${what}: grad input`).toBeNull();
      }
    });
  }
});

describe('inside a scope (Backend.scope, no copies between layers): the bits of a run without one', () => {
  /** Three SGD steps, then an eval pass; everything the steps and the pass produced, copied out. */
  function run(arch: Architecture, weights: Weights<Float32Array>, x: Tensor<Float32Array>, labels: Int32Array, scoped: boolean) {
    const w = new Map([...weights].map(([k, t]) => [k, { data: t.data.slice(), shape: t.shape }]));
    const momentum = zeroMomentum(w);
    const rng = new Rng(41);
    const seen: { what: string; data: Float32Array }[] = [];
    const keep = (what: string, t: Tensor): void => void seen.push({ what, data: Float32Array.from(t.data) });
    const within = <T,>(body: () => T): T => (scoped ? wasm.scope(body) : body());
    let views = 0;
    for (let step = 0; step < 3; step++) {
      within(() => {
        const { loss, pass, grads } = lossAndGradients(arch, w, x, labels, wasm, { rng });
        keep(`step ${step} loss`, { data: Float32Array.of(loss), shape: [1] });
        for (const [layer, t] of pass.outputs) keep(`step ${step} ${layer}`, t);
        for (const [layer, t] of grads.layers) keep(`step ${step} d${layer}`, t);
        for (const [key, t] of grads.params) keep(`step ${step} grad ${key}`, t);
        views += [...pass.outputs.values()].filter((t) => t.data.buffer instanceof SharedArrayBuffer).length;
        wasm.sgdStep(w, grads.params, momentum, 0.01, { momentum: 0.9, weightDecay: 5e-4, update: 'pytorch' });
        wasm.weightsUpdated();
      });
    }
    within(() => {
      for (const [layer, t] of forward(arch, w, x, wasm).outputs) keep(`eval ${layer}`, t);
    });
    for (const [key, t] of w) keep(`weights ${key}`, t);
    return { seen, views };
  }

  const cases = [
    ...ARCH_NAMES.map((name) => ({ what: `${name} at 1/8 width`, arch: architecture(name, OPTIONS), batch: 3, scale: 1 })),
    { what: 'mini, batch 12', arch: architecture('mini'), batch: 12, scale: 1 },
    // conv1's weights scaled down so far that its outputs, and what follows, hold subnormals:
    // ops that flush their inputs flush a scope's tensors in place (see WasmKernelBackend.scope)
    { what: 'mini at 1/8 width with subnormal activations', arch: architecture('mini', OPTIONS), batch: 4, scale: 2 ** -130 },
  ];
  for (const { what, arch, batch, scale } of cases) {
    it(what, () => {
      const weights = syntheticWeights(arch, 51);
      const first = arch.layers.find((l) => l.kind === 'conv')!;
      if (first.kind === 'conv') for (const k of ['weight', 'bias']) weights.get(`${first.param}.${k}`)!.data.forEach((v, i, a) => (a[i] = v * scale));
      const x = syntheticInput(52, [batch, arch.inputChannels, arch.inputSize, arch.inputSize]);
      const labels = syntheticLabels(53, batch, arch.numClasses);
      const plain = run(arch, weights, x, labels, false);
      const scoped = run(arch, weights, x, labels, true);
      expect(plain.views, 'outside a scope every output is a fresh JavaScript array').toBe(0);
      expect(scoped.views, 'inside, the kernels\' outputs are views of the memory').toBeGreaterThan(0);
      expect(scoped.seen.map((s) => s.what)).toEqual(plain.seen.map((s) => s.what));
      for (const [i, s] of scoped.seen.entries()) expect(firstDifference(s.data, plain.seen[i].data), s.what).toBeNull();
      if (scale !== 1) {
        const conv1 = plain.seen.find((s) => s.what === 'step 0 conv1')!.data;
        expect(conv1.some((v) => v !== 0 && Math.abs(v) < 2 ** -126), 'the case has subnormals').toBe(true);
      }
    });
  }
});

describe('the PyTorch fixtures (fixtures/reference/net-*.safetensors) on the wasm backend', () => {
  // As tests/reference/nets-vs-pytorch.test.ts, which documents the fixtures and checks their
  // generation; here only the comparisons, with the same tolerances.
  for (const name of ARCH_NAMES) {
    it(`${name}: eval outputs, loss, logits and every gradient against PyTorch 1.13`, () => {
      const file = parseSafetensors(new Uint8Array(readFileSync(new URL(`../../fixtures/reference/net-${name}.safetensors`, import.meta.url))));
      const get = (key: string): StoredTensor => {
        const t = file.tensors.get(key);
        if (!t) throw new Error(`net-${name}.safetensors has no tensor "${key}"`);
        return t;
      };
      const arch = architecture(name, OPTIONS);
      const inputShape = JSON.parse(file.metadata.input_shape) as number[];
      const x = syntheticInput(7, inputShape);
      const weights = syntheticWeights(arch, 1000, inputShape[2]);
      const labels = syntheticLabels(11, inputShape[0], arch.numClasses);
      const check = (what: string, ours: ArrayLike<number>, key: string, tol: number): void => {
        const group = tol === TOL.activation ? 'vs PyTorch: activations' : tol === TOL.loss ? 'vs PyTorch: loss' : 'vs PyTorch: gradients';
        within(group, `${name} ${what}`, ours, get(key).data as ArrayLike<number>, tol);
      };

      const pass = forward(arch, weights, x, wasm);
      for (const spec of arch.layers) check(`act/${spec.name}`, pass.outputs.get(spec.name)!.data, `act/${spec.name}`, TOL.activation);

      const masks = new Map<string, Uint8Array>();
      for (const spec of arch.layers) if (spec.kind === 'dropout') masks.set(spec.name, get(`mask/${spec.name}`).data as Uint8Array);
      const { loss, grads } = lossAndGradients(arch, weights, x, labels, wasm, { masks });
      check('loss', [loss], 'loss', TOL.loss);
      check('grad/input', grads.input.data, 'grad/input', TOL.grad);
      const subsampled = JSON.parse(file.metadata.subsampled_grads) as { rowStride: number; keys: Record<string, number[]> };
      for (const p of parameterList(arch, inputShape[2])) {
        const g = grads.params.get(p.key)!;
        if (p.key in subsampled.keys) {
          const [R, C] = g.shape;
          const rows: number[] = [];
          for (let r = 0; r < R; r += subsampled.rowStride) rows.push(...g.data.subarray(r * C, (r + 1) * C));
          check(`gradrows/${p.key}`, rows, `gradrows/${p.key}`, TOL.grad);
        } else {
          check(`grad/${p.key}`, g.data, `grad/${p.key}`, TOL.grad);
        }
      }
      for (const spec of arch.layers.slice(0, -1)) check(`layergrad/${spec.name}`, grads.layers.get(spec.name)!.data, `layergrad/${spec.name}`, TOL.grad);
    });
  }
});
