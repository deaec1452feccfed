/**
 * `alexnet bench`: how fast this machine runs a network on a backend, with nothing to download.
 * Random weights and input of the right shapes (src/model/synthetic.ts), a warm-up, then the
 * median of several timed runs of the forward pass (or, with --train, of a training step: forward
 * in train mode, loss, backward and an SGD update), per image, and the GFLOP/s it means (2 x the
 * multiply-accumulates of the model table; 3 x that for a training step: the forward and the two
 * backward products).
 *
 * For comparisons against other engines side by side, see bench/ (npx tsx bench/peers.ts).
 */

import { Progress, type Writer } from '../progress.js';
import { UserError } from '../../errors.js';
import { forward, lossAndGradients } from '../../model/network.js';
import { summarize } from '../../model/summary.js';
import { syntheticInput, syntheticLabels, syntheticWeights } from '../../model/synthetic.js';
import { Rng } from '../../rng.js';
import { sgdStepOn, zeroMomentum } from '../../train/optimizer.js';
import type { CommandSpec, ParsedOptions } from '../args.js';
import { ARCH_OPTION, BACKEND_OPTION, THREADS_OPTION, archFromOption, backendFromOption } from '../common.js';
import { inScope } from '../../backend/backend.js';

export const benchSpec: CommandSpec = {
  name: 'bench',
  summary: 'Time the forward pass (or a training step) of an architecture on this machine, with random weights.',
  usage: 'alexnet bench --arch A [--batch N] [--threads T] [--backend B] [--train] [--runs R] [--json]',
  options: {
    arch: { ...ARCH_OPTION, required: true },
    batch: { type: 'integer', arg: 'N', help: 'Images per pass', default: 1 },
    train: { type: 'boolean', help: 'Time a training step (forward, loss, backward, SGD update) instead of a forward pass' },
    runs: { type: 'integer', arg: 'R', help: 'Timed runs after the warm-up; the median is reported', default: 5 },
    backend: BACKEND_OPTION,
    threads: THREADS_OPTION,
    json: { type: 'boolean', help: 'Print {"arch", "batch", "threads", "backend", "train", "runs", "msPerImage", "gflops"} as JSON' },
  },
  epilog: [
    'The weights and input are random (seeded), so no file is needed. Times are medians over --runs runs after',
    'two warm-up runs (one for the reference backend); progress on stderr, the result on stdout.',
    '',
    'Example:',
    '  alexnet bench --arch torchvision --batch 8',
    '  alexnet bench --arch mini --batch 128 --train --json',
  ].join('\n'),
};

export interface BenchResult {
  arch: string;
  batch: number;
  threads: number;
  backend: string;
  train: boolean;
  runs: number;
  msPerImage: number;
  gflops: number;
}

export function runBench(options: ParsedOptions, out: Writer, err: Writer): void {
  const arch = archFromOption(options.arch);
  const batch = options.batch as number;
  const runs = options.runs as number;
  const train = Boolean(options.train);
  if (batch < 1) throw new UserError(`--batch must be at least 1, got ${batch}`);
  if (runs < 1) throw new UserError(`--runs must be at least 1, got ${runs}`);
  const backend = backendFromOption(options.backend, options.threads);
  const threads = 'threads' in backend ? (backend as { threads: number }).threads : 1;
  const progress = new Progress('bench', err);

  const S = arch.inputSize;
  const weights = syntheticWeights(arch, 1000);
  const x = syntheticInput(7, [batch, arch.inputChannels, S, S]);
  const labels = syntheticLabels(11, batch, arch.numClasses);
  const momentum = zeroMomentum(weights);
  const rng = new Rng(5);
  // Each run in one scope, as the training loop and classify run theirs (Backend.scope).
  const once = train
    ? (): void => inScope(backend, () => {
      const { grads } = lossAndGradients(arch, weights, x, labels, backend, { rng });
      sgdStepOn(backend, weights, grads.params, momentum, 1e-4, { momentum: 0.9, weightDecay: 5e-4, update: 'pytorch' });
      backend.weightsUpdated?.();
    })
    : (): void => inScope(backend, () => void forward(arch, weights, x, backend, { mode: 'eval' }));

  const warmUps = backend.name === 'reference' ? 1 : 2;
  const ms: number[] = [];
  for (let i = 0; i < warmUps + runs; i++) {
    progress.update(i < warmUps ? `warming up (${i + 1}/${warmUps})` : `run ${i - warmUps + 1}/${runs}`);
    const t0 = performance.now();
    once();
    if (i >= warmUps) ms.push(performance.now() - t0);
  }
  progress.done();

  ms.sort((a, b) => a - b);
  const median = ms.length % 2 ? ms[(ms.length - 1) / 2] : (ms[ms.length / 2 - 1] + ms[ms.length / 2]) / 2;
  const msPerImage = median / batch;
  const flopPerImage = 2 * summarize(arch, S).totalMacs * (train ? 3 : 1);
  const result: BenchResult = {
    arch: arch.name, batch, threads, backend: backend.name, train, runs,
    msPerImage, gflops: flopPerImage / (msPerImage * 1e6),
  };
  if (options.json) {
    out(JSON.stringify(result) + '\n');
    return;
  }
  const what = train ? 'training step (forward, backward, SGD)' : 'forward';
  out(`${arch.name} ${what}, batch ${batch}, ${backend.name} backend${backend.name === 'wasm' ? ` on ${threads} thread(s)` : ''}\n`);
  out(`  ${msPerImage.toFixed(2)} ms per image (median of ${runs} runs: ${median.toFixed(1)} ms per batch), ${result.gflops.toFixed(1)} GFLOP/s\n`);
}
