/**
 * Where a training step (or a forward pass) of the wasm backend spends its time, kernel by kernel.
 *
 *   npm run build && npx tsx bench/profile.ts [--arch mini] [--batch 128] [--threads 2] [--steps 7]
 *                                             [--forward] [--direct]     (or npm run bench:profile)
 *
 * A step is the training loop's: one scope, lossAndGradients (train mode), the SGD update on
 * weights and momenta in the backend's memory, weightsUpdated (--forward: one forward in eval
 * mode instead). The backend runs on a runner that times each job, so every task kernel's time
 * is its wall time from the main thread, all threads' pieces included; "the rest" is the step's
 * time minus the kernels': the JavaScript around them (the network walker, dropout, softmax,
 * the optimiser's bookkeeping) and the memory handling. Medians over --steps steps after two
 * warm-up steps; --direct runs 3x3 convolutions as im2col and GEMM instead of Winograd's F(2x2, 3x3).
 * Results go to bench/results/profile-<arch>-<date>.md.
 */

import { writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { inScope } from '../src/backend/backend.js';
import { WasmKernelBackend } from '../src/backend/wasm/backend.js';
import { createMemory } from '../src/backend/wasm/kernels.js';
import { loadKernels } from '../src/backend/wasm/node-loader.js';
import { WorkerPool } from '../src/backend/wasm/node-pool.js';
import { InlineRunner, type TaskJob, type TaskRunner } from '../src/backend/wasm/runner.js';
import { type ArchName, architecture, isArchName } from '../src/model/architectures.js';
import { forward, lossAndGradients } from '../src/model/network.js';
import { syntheticInput, syntheticLabels, syntheticWeights } from '../src/model/synthetic.js';
import { Rng } from '../src/rng.js';
import { residentTrainingState, sgdStepOn, zeroMomentum } from '../src/train/optimizer.js';
import { flag, rerunWithRelaxedSimd, textFlag } from './engines.js';
import { machineDescription, median, today } from './machine.js';

const args = process.argv.slice(2);
const ARCH = textFlag(args, 'arch', 'mini');
if (!isArchName(ARCH)) throw new Error(`--arch: unknown architecture ${ARCH}`);
const BATCH = flag(args, 'batch', ARCH === 'mini' ? 128 : 8);
const THREADS = flag(args, 'threads', 2);
const STEPS = flag(args, 'steps', 7);
const FORWARD = args.includes('--forward');
const DIRECT = args.includes('--direct');

// Re-run with the relaxed-SIMD flag if this Node needs it (Node 20), so that the fastest build runs.
rerunWithRelaxedSimd(import.meta.url);

/** A runner that times every job it passes on, by kernel. */
class TimingRunner implements TaskRunner {
  readonly times = new Map<string, number>();
  constructor(private readonly inner: TaskRunner) {}
  get threads(): number {
    return this.inner.threads;
  }
  run(job: TaskJob): void {
    const t = performance.now();
    this.inner.run(job);
    this.times.set(job.kernel, (this.times.get(job.kernel) ?? 0) + performance.now() - t);
  }
  dispose(): void {
    this.inner.dispose();
  }
}

const setup = loadKernels({ memory: createMemory({ initialBytes: 16 * 2 ** 20 }) });
const runner = new TimingRunner(THREADS > 1 ? new WorkerPool(setup.kernels, THREADS) : new InlineRunner(setup.kernels));
const backend = new WasmKernelBackend(setup, runner, { winograd: !DIRECT });
backend.warmUp();

const arch = architecture(ARCH as ArchName);
const x = syntheticInput(7, [BATCH, arch.inputChannels, arch.inputSize, arch.inputSize]);
const labels = syntheticLabels(11, BATCH, arch.numClasses);
const state = residentTrainingState(backend, syntheticWeights(arch, 1000), zeroMomentum(syntheticWeights(arch, 1000)));
const rng = new Rng(3);

function step(): void {
  inScope(backend, () => {
    if (FORWARD) {
      forward(arch, state.weights, x, backend);
      return;
    }
    const { grads } = lossAndGradients(arch, state.weights, x, labels, backend, { rng });
    sgdStepOn(backend, state.weights, grads.params, state.momentum, 0.001, { momentum: 0.9, weightDecay: 5e-4, update: 'pytorch' });
    backend.weightsUpdated();
  });
}

for (let i = 0; i < 2; i++) step();
const totals: number[] = [];
const perKernel = new Map<string, number[]>();
for (let i = 0; i < STEPS; i++) {
  runner.times.clear();
  const t = performance.now();
  step();
  totals.push(performance.now() - t);
  for (const [k, ms] of runner.times) perKernel.set(k, [...(perKernel.get(k) ?? []), ms]);
}
backend.dispose();

const total = median(totals);
const rows = [...perKernel].map(([k, ms]) => ({ k, ms: median(ms) })).sort((a, b) => b.ms - a.ms);
const kernels = rows.reduce((s, r) => s + r.ms, 0);
const what = `${ARCH}, batch ${BATCH}, ${THREADS} thread(s), ${backend.build} build, ${FORWARD ? 'forward (eval)' : 'training step'}, ${DIRECT ? 'direct 3x3 convolutions' : 'Winograd 3x3 convolutions'}`;
const lines = [
  `| kernel | ms per ${FORWARD ? 'forward' : 'step'} (median) | share |`,
  '|---|---:|---:|',
  ...rows.map((r) => `| \`${r.k}\` | ${r.ms.toFixed(1)} | ${((100 * r.ms) / total).toFixed(1)}% |`),
  `| the rest (JavaScript, memory) | ${Math.max(0, total - kernels).toFixed(1)} | ${((100 * Math.max(0, total - kernels)) / total).toFixed(1)}% |`,
  `| **all** | **${total.toFixed(1)}** | 100% |`,
];
console.log(`${what}\n${lines.join('\n')}`);
const file = `bench/results/profile-${ARCH}-${today()}.md`;
writeFileSync(file, `# Profile: ${what}, ${today()}

Machine: ${machineDescription()}; load average at the end ${loadavg().map((l) => l.toFixed(2)).join(' ')}.
Command: \`npx tsx bench/profile.ts ${args.join(' ')}\`.

Each task kernel's wall time from the main thread (all threads' pieces of its jobs), median over
${STEPS} ${FORWARD ? 'forwards' : 'steps'} after two warm-up ones; the step is the training loop's (one scope: forward in
train mode, loss, backward, SGD on resident weights and momenta). "The rest" is the step's time
minus the kernels'. Medians of parts need not add up to the median of the whole exactly.

${lines.join('\n')}
`);
console.log(`wrote ${file}`);
