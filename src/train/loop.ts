/**
 * The training loop: epochs of shuffled mini-batches, forward and backward on any backend, an
 * SGD step, a test-set evaluation after each epoch, a learning-rate schedule, and checkpoints.
 *
 * Determinism: one seeded generator (rng.ts) supplies, in a fixed order, each epoch's shuffle,
 * each image's crop, flip and colour noise, and each step's dropout masks; its state is part of
 * the checkpoint. Resuming from a checkpoint therefore continues the very same sequence, and an
 * interrupted run ends with the same bits as one that never stopped.
 */

import { type Backend, inScope } from '../backend/backend.js';
import type { Architecture } from '../model/architectures.js';
import { forward, lossAndGradients } from '../model/network.js';
import { Rng } from '../rng.js';
import type { ImageDataset } from './dataset.js';
import { assembleBatch, type BatchOptions } from './augment.js';
import type { EpochRecord, TrainProgress, TrainState } from './checkpoint.js';
import { sgdStepOn, zeroMomentum, type UpdateForm } from './optimizer.js';
import type { Weights } from '../model/network.js';

export interface TrainConfig {
  epochs: number;
  /** Stop after this many optimiser steps in all (quick runs, tests). */
  maxSteps?: number;
  batch: number;
  lr: number;
  momentum: number;
  weightDecay: number;
  update: UpdateForm;
  /** Divide the learning rate by 10 every this many epochs. */
  lrDropEvery?: number;
  /** Divide it by 10 when test accuracy has not improved for `plateauPatience` epochs (at most 3 times). */
  lrPlateau?: boolean;
  plateauPatience?: number;
  seed: number;
}

export interface TrainData {
  train: ImageDataset;
  test: ImageDataset;
  /** How training images become batches (crop, pad, normalisation, colour noise); `train` is set per use. */
  batch: Omit<BatchOptions, 'train'>;
}

export interface StepInfo {
  step: number;
  epoch: number;
  batchInEpoch: number;
  batchesPerEpoch: number;
  loss: number;
  lr: number;
  imagesPerSecond: number;
}

export interface TrainHooks {
  onStep?: (info: StepInfo) => void;
  onEpoch?: (record: EpochRecord, state: TrainState) => void;
  /** Asked after every step whether to checkpoint now (e.g. every N minutes). */
  wantCheckpoint?: () => boolean;
  checkpoint?: (state: TrainState) => void;
  /** Asked after every step whether to stop (e.g. on Ctrl-C); the state is checkpointed first. */
  shouldStop?: () => boolean;
  onEvaluate?: (done: number, total: number) => void;
}

export function batchesPerEpoch(count: number, batch: number): number {
  return Math.ceil(count / batch);
}

/** A fresh run: the given initial weights, zero momentum, epoch 0, the first shuffle drawn. */
export function newTrainState(arch: Architecture, weights: Weights<Float32Array>, config: TrainConfig, trainCount: number): TrainState {
  const rng = new Rng(config.seed);
  const progress: TrainProgress = {
    version: 1,
    arch: arch.name,
    step: 0,
    epoch: 0,
    batchInEpoch: 0,
    lr: config.lr,
    rng: rng.state(),
    epochLossSum: 0,
    epochCorrect: 0,
    epochSeen: 0,
    epochSeconds: 0,
    history: [],
    config: { ...config },
  };
  const order = shuffle(trainCount, rng);
  progress.rng = rng.state();
  return { progress, weights, momentum: zeroMomentum(weights), order };
}

/** A uniformly random permutation of 0..n-1 (Fisher-Yates). */
export function shuffle(n: number, rng: Rng): Int32Array {
  const order = Int32Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = rng.below(i + 1);
    const t = order[i];
    order[i] = order[j];
    order[j] = t;
  }
  return order;
}

function argmaxRow(x: ArrayLike<number>, n: number, K: number): number {
  let best = 0;
  for (let k = 1; k < K; k++) if (x[n * K + k] > x[n * K + best]) best = k;
  return best;
}

/** Is `label` among the `k` largest of row n? (ties counted against the label) */
function inTopK(x: ArrayLike<number>, n: number, K: number, label: number, k: number): boolean {
  const v = x[n * K + label];
  let above = 0;
  for (let j = 0; j < K; j++) if (j !== label && x[n * K + j] >= v) above++;
  return above < k;
}

export interface Evaluation {
  loss: number;
  top1: number;
  top5: number;
  count: number;
}

/** Mean cross-entropy, top-1 and top-5 accuracy of `weights` on a dataset, in eval mode (centre crops). */
export function evaluate(
  arch: Architecture,
  weights: Weights<Float32Array>,
  data: ImageDataset,
  batch: Omit<BatchOptions, 'train'>,
  backend: Backend,
  batchSize = 250,
  onProgress?: (done: number, total: number) => void,
): Evaluation {
  const C = data.channels;
  const S = batch.crop;
  let lossSum = 0;
  let top1 = 0;
  let top5 = 0;
  for (let start = 0; start < data.count; start += batchSize) {
    const n = Math.min(batchSize, data.count - start);
    const x = new Float32Array(n * C * S * S);
    const labels = new Int32Array(n);
    const indices = Int32Array.from({ length: n }, (_, i) => start + i);
    assembleBatch(data, indices, { ...batch, train: false }, null, x, labels);
    inScope(backend, () => {
      const pass = forward(arch, weights, { data: x, shape: [n, C, S, S] }, backend, { mode: 'eval' });
      const K = pass.logits.shape[1];
      lossSum += backend.crossEntropyForward(pass.logits, labels).loss * n;
      for (let i = 0; i < n; i++) {
        if (argmaxRow(pass.logits.data, i, K) === labels[i]) top1++;
        if (inTopK(pass.logits.data, i, K, labels[i], 5)) top5++;
      }
    });
    onProgress?.(start + n, data.count);
  }
  return { loss: lossSum / data.count, top1: top1 / data.count, top5: top5 / data.count, count: data.count };
}

function scheduledLr(config: TrainConfig, progress: TrainProgress): number {
  if (config.lrDropEvery) return config.lr * 0.1 ** Math.floor(progress.epoch / config.lrDropEvery);
  return progress.lr;
}

/** Lets pending events (a Ctrl-C handler, say) run between steps; setTimeout exists everywhere. */
function yieldToEvents(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

/**
 * Trains until `config.epochs` epochs (or `config.maxSteps` steps) are done, starting from
 * wherever `state` is, and resolves to the final state (mutated in place). It returns to the event
 * loop after every step, so a signal handler can ask it to stop (hooks.shouldStop).
 */
export async function train(arch: Architecture, state: TrainState, config: TrainConfig, data: TrainData, backend: Backend, hooks: TrainHooks = {}): Promise<TrainState> {
  const p = state.progress;
  const { batch: B } = config;
  const { channels: C } = data.train;
  const S = data.batch.crop;
  const perEpoch = batchesPerEpoch(data.train.count, B);
  const x = new Float32Array(B * C * S * S);
  const labels = new Int32Array(B);

  while (p.epoch < config.epochs) {
    if (config.maxSteps !== undefined && p.step >= config.maxSteps) break;
    p.lr = scheduledLr(config, p);
    const rng = Rng.fromState(p.rng);
    const start = p.batchInEpoch * B;
    const n = Math.min(B, data.train.count - start);
    const t0 = performance.now();

    assembleBatch(data.train, state.order.subarray(start, start + n), { ...data.batch, train: true }, rng, x, labels);
    const batchX = { data: x.subarray(0, n * C * S * S), shape: [n, C, S, S] };
    const batchLabels = labels.subarray(0, n);
    // One scope per step: the step's activations and gradients may stay in the backend's memory.
    const { loss, K } = inScope(backend, () => {
      const { loss, pass, grads } = lossAndGradients(arch, state.weights, batchX, batchLabels, backend, { rng });
      sgdStepOn(backend, state.weights, grads.params, state.momentum, p.lr, config);
      backend.weightsUpdated?.(); // the weights changed in place: drop any packed copies
      const K = pass.logits.shape[1];
      for (let i = 0; i < n; i++) if (argmaxRow(pass.logits.data, i, K) === batchLabels[i]) p.epochCorrect++;
      return { loss, K };
    });
    p.epochLossSum += loss * n;
    p.epochSeen += n;
    const seconds = (performance.now() - t0) / 1000;
    p.epochSeconds += seconds;
    p.step++;
    p.batchInEpoch++;

    if (p.batchInEpoch === perEpoch) {
      // End of the epoch: evaluate, record, schedule, reshuffle.
      const test = evaluate(arch, state.weights, data.test, data.batch, backend, 250, hooks.onEvaluate);
      const record: EpochRecord = {
        epoch: p.epoch + 1,
        step: p.step,
        lr: p.lr,
        trainLoss: p.epochLossSum / p.epochSeen,
        trainAccuracy: p.epochCorrect / p.epochSeen,
        testLoss: test.loss,
        testAccuracy: test.top1,
        ...(K >= 100 ? { testTop5: test.top5 } : {}),
        imagesPerSecond: p.epochSeen / p.epochSeconds,
        seconds: p.epochSeconds,
      };
      p.history.push(record);
      if (config.lrPlateau && !config.lrDropEvery) {
        const patience = config.plateauPatience ?? 2;
        const drops = Math.round(Math.log10(config.lr / p.lr));
        const best = Math.max(...p.history.map((r) => r.testAccuracy));
        const recent = p.history.slice(-patience);
        const bestBefore = Math.max(-Infinity, ...p.history.slice(0, -patience).map((r) => r.testAccuracy));
        if (drops < 3 && p.history.length > patience && Math.max(...recent.map((r) => r.testAccuracy)) <= bestBefore && best === bestBefore) {
          p.lr /= 10;
        }
      }
      p.epoch++;
      p.batchInEpoch = 0;
      p.epochLossSum = 0;
      p.epochCorrect = 0;
      p.epochSeen = 0;
      p.epochSeconds = 0;
      // Drawn even after the last epoch, so that a run extended later (--epochs raised, --resume)
      // continues exactly as one that was given the larger count from the start.
      state.order = shuffle(data.train.count, rng);
      p.rng = rng.state();
      hooks.onEpoch?.(record, state);
      hooks.checkpoint?.(state);
    } else {
      p.rng = rng.state();
      hooks.onStep?.({ step: p.step, epoch: p.epoch, batchInEpoch: p.batchInEpoch, batchesPerEpoch: perEpoch, loss, lr: p.lr, imagesPerSecond: n / seconds });
      if (hooks.wantCheckpoint?.()) hooks.checkpoint?.(state);
    }
    await yieldToEvents();
    if (hooks.shouldStop?.()) {
      hooks.checkpoint?.(state);
      break;
    }
  }
  return state;
}
