/**
 * Winograd's F(2x2, 3x3) against the direct convolution (im2col and GEMM) in the wasm backend, side
 * by side: two backends that differ only in WasmBackendOptions.winograd, taking turns.
 *
 *   npm run build && npx tsx bench/winograd.ts [--runs 7] [--threads 2] [--only TEXT]     (or npm run bench:winograd)
 *
 * Per 3x3 layer of mini (batch 128), caffe and torchvision (batch 8): the layer's forward and
 * backward (y, then dx, dW, db) on synthetic weights and input; then a whole training step of mini
 * at batch 128 (forward, loss, backward; no update), each engine inside a scope as the training
 * loop runs it. Every case is first validated: the Winograd results against the direct ones,
 * max |diff| / max |direct| over y, dx and dW (the tests hold both to the float64 reference within
 * their float32 bounds). Each case gets two fresh backends. Times are medians over --runs turns; the ratio is the median of the
 * per-turn ratios. --only keeps the cases whose description contains TEXT (e.g. "step").
 * Results go to bench/results/winograd-<date>.md.
 */

import { writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { inScope } from '../src/backend/backend.js';
import { type WasmBackend } from '../src/backend/wasm/backend.js';
import { createWasmBackendSync } from '../src/backend/wasm/node-backend.js';
import { type ArchName, architecture } from '../src/model/architectures.js';
import { lossAndGradients } from '../src/model/network.js';
import { inferShapes } from '../src/model/shapes.js';
import { syntheticInput, syntheticLabels, syntheticWeights } from '../src/model/synthetic.js';
import { Rng } from '../src/rng.js';
import type { Tensor } from '../src/tensor.js';
import { flag, maxRelativeError, rerunWithRelaxedSimd, textFlag } from './engines.js';
import { machineDescription, median, today } from './machine.js';

const args = process.argv.slice(2);
const RUNS = flag(args, 'runs', 7);
const THREADS = flag(args, 'threads', 2);
const ONLY = textFlag(args, 'only', '');

// Re-run with the relaxed-SIMD flag if this Node needs it (Node 20), so that the fastest build runs.
rerunWithRelaxedSimd(import.meta.url);


interface Case {
  what: string;
  /** Runs the case once on a backend, returning the arrays to compare. */
  run: (backend: WasmBackend) => Float32Array[];
}

function uniform(seed: number, shape: number[]): Tensor<Float32Array> {
  const rng = new Rng(seed);
  const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
  for (let i = 0; i < data.length; i++) data[i] = 2 * rng.uniform() - 1;
  return { data, shape };
}

/** The 3x3 layers of a network at a batch size, each as forward + backward of that layer alone. */
function layerCases(name: ArchName, batch: number): Case[] {
  const arch = architecture(name);
  const cases: Case[] = [];
  for (const info of inferShapes(arch, [batch, arch.inputChannels, arch.inputSize, arch.inputSize])) {
    const spec = info.spec;
    if (spec.kind !== 'conv' || spec.kernel !== 3 || spec.stride !== 1) continue;
    const inShape = [...info.inShape];
    const x = uniform(1, inShape);
    const w = uniform(2, [spec.outChannels, inShape[1] / spec.groups, 3, 3]);
    const b = uniform(3, [spec.outChannels]);
    const dy = uniform(4, [...info.outShape]);
    const params = { stride: 1, pad: spec.pad, groups: spec.groups };
    cases.push({
      what: `${name} ${spec.name}, batch ${batch}: x [${inShape.join(', ')}], ${spec.outChannels} filters, groups ${spec.groups}`,
      run: (backend) => inScope(backend, () => {
        const f = backend.conv2dForward(x, w, b, params);
        const g = backend.conv2dBackward(f.cache, dy);
        return [f.y.data, g.dx.data, g.dw.data].map((a) => Float32Array.from(a));
      }),
    });
  }
  return cases;
}

function stepCase(): Case {
  const arch = architecture('mini');
  const weights = syntheticWeights(arch, 1000);
  const x = syntheticInput(7, [128, 1, 28, 28]);
  const labels = syntheticLabels(11, 128, 10);
  return {
    what: 'mini training step, batch 128: forward, loss, backward',
    run: (backend) => inScope(backend, () => {
      const { grads } = lossAndGradients(arch, weights, x, labels, backend, { mode: 'train', rng: new Rng(3) });
      return [...grads.params.values()].map((t) => Float32Array.from(t.data));
    }),
  };
}

const cases = [...layerCases('mini', 128), ...layerCases('caffe', 8), ...layerCases('torchvision', 8), stepCase()]
  .filter((c) => c.what.includes(ONLY));
const rows: string[] = [];
let build = '';
console.log(`machine: ${machineDescription()}; ${THREADS} threads; load average ${loadavg()[0].toFixed(2)}`);
for (const c of cases) {
  // fresh backends per case: what one case leaves in a backend (packed weights, a grown memory,
  // V8's state of the worker threads) measurably slowed the next cases, the direct engine more
  const direct = createWasmBackendSync({ threads: THREADS, winograd: false });
  const winograd = createWasmBackendSync({ threads: THREADS, winograd: true });
  build = winograd.build;
  // validate (and warm up both)
  const want = c.run(direct), got = c.run(winograd);
  const err = Math.max(...want.map((a, i) => maxRelativeError(got[i], a)));
  const times: [number[], number[]] = [[], []];
  const ratios: number[] = [];
  for (let r = 0; r < RUNS; r++) {
    const order = r % 2 === 0 ? [0, 1] : [1, 0];
    const turn: number[] = [0, 0];
    for (const e of order) {
      const t = performance.now();
      c.run(e === 0 ? direct : winograd);
      turn[e] = performance.now() - t;
      times[e].push(turn[e]);
    }
    ratios.push(turn[1] / turn[0]);
  }
  const row = `| ${c.what} | ${median(times[0]).toFixed(1)} | ${median(times[1]).toFixed(1)} | ${median(ratios).toFixed(2)}x | ${err.toExponential(1)} |`;
  console.log(row);
  rows.push(row);
  direct.dispose();
  winograd.dispose();
}

const file = `bench/results/winograd-${today()}.md`;
writeFileSync(file, `# Winograd F(2x2, 3x3) against the direct convolution, ${today()}

Machine: ${machineDescription()}; build ${build}, ${THREADS} threads; load average at the end ${loadavg().map((l) => l.toFixed(2)).join(' ')}.
Command: \`npx tsx bench/winograd.ts --runs ${RUNS} --threads ${THREADS}${ONLY ? ` --only '${ONLY}'` : ''}\`.

Two wasm backends that differ only in \`winograd\`, taking turns (the order alternating), ${RUNS} turns
each, two fresh backends per case; times are medians, the ratio the median of the per-turn ratios
(below 1: Winograd is faster).
A layer row is that layer's forward and backward alone (y, dx, dW, db), in a scope, on synthetic
weights and input, including the packing of its weights (and for Winograd their transform U), which
training redoes after every update. "max rel. diff" compares the Winograd results with the direct ones (y, dx, dW;
for the step, every gradient): max |diff| / max |direct|.

| case | direct ms | Winograd ms | Winograd / direct | max rel. diff |
|---|---:|---:|---:|---:|
${rows.join('\n')}
`);
console.log(`wrote ${file}`);
