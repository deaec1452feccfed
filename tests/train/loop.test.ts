import { describe, expect, it } from 'vitest';
import { referenceBackend } from '../../src/backend/reference.js';
import { architecture } from '../../src/model/architectures.js';
import { initWeights } from '../../src/model/init.js';
import { Rng } from '../../src/rng.js';
import { decodeCheckpoint, encodeCheckpoint, type TrainState } from '../../src/train/checkpoint.js';
import type { ImageDataset } from '../../src/train/dataset.js';
import { type TrainConfig, type TrainData, evaluate, newTrainState, train } from '../../src/train/loop.js';

// A 1/8-width mini (6-16-24-24-16 channels, fc 64) keeps every step to milliseconds.
const arch = architecture('mini', { widthDivisor: 8 });

/**
 * 28x28 noisy textures in four classes, unchanged in kind by the crops and flips of training:
 * horizontal stripes, vertical stripes, a checkerboard, plain noise.
 */
function textureDataset(count: number, seed: number): ImageDataset {
  const rng = new Rng(seed);
  const pixels = new Uint8Array(count * 28 * 28);
  const labels = new Int32Array(count);
  const pattern = [(y: number) => (y >> 1) & 1, (_: number, x: number) => (x >> 1) & 1, (y: number, x: number) => ((y >> 1) + (x >> 1)) & 1, () => 0];
  for (let i = 0; i < count; i++) {
    const label = rng.below(4);
    labels[i] = label;
    for (let y = 0; y < 28; y++) {
      for (let x = 0; x < 28; x++) pixels[i * 784 + y * 28 + x] = Math.floor(rng.uniform() * 100 + 120 * pattern[label](y, x));
    }
  }
  return { count, channels: 1, height: 28, width: 28, pixels, labels, classNames: ['h', 'v', 'c', 'n', 'e', 'f', 'g', 'h2', 'i', 'j'] };
}

const data: TrainData = {
  train: textureDataset(96, 1),
  test: textureDataset(48, 2),
  batch: { crop: 28, pad: 2, normalisation: { mean: [0.3], std: [0.3] } },
};

const config: TrainConfig = { epochs: 3, batch: 16, lr: 0.02, momentum: 0.9, weightDecay: 5e-4, update: 'pytorch', lrDropEvery: 2, seed: 5 };

function fresh(): TrainState {
  return newTrainState(arch, initWeights(arch, 'he', 3), config, data.train.count);
}

function weightBytes(s: TrainState): Uint8Array {
  return encodeCheckpoint({ ...s, progress: { ...s.progress, history: [], epochSeconds: 0 } });
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.from(a).equals(Buffer.from(b));
}

describe('training loop', { timeout: 60_000 }, () => {
  it('is deterministic: the same seed gives the same bits', async () => {
    const a = await train(arch, fresh(), { ...config, epochs: 1 }, data, referenceBackend);
    const b = await train(arch, fresh(), { ...config, epochs: 1 }, data, referenceBackend);
    expect(sameBytes(weightBytes(a), weightBytes(b))).toBe(true);
    const c = await train(arch, newTrainState(arch, initWeights(arch, 'he', 3), { ...config, seed: 6 }, data.train.count), { ...config, epochs: 1, seed: 6 }, data, referenceBackend);
    expect(sameBytes(weightBytes(a), weightBytes(c))).toBe(false);
  });

  it('resumed from a checkpoint mid-epoch, ends bit-identical to an uninterrupted run', async () => {
    const straight = await train(arch, fresh(), config, data, referenceBackend);

    // Stop after 4 steps (mid-epoch: 6 batches per epoch), then after an epoch boundary, resuming from bytes each time.
    let state = await train(arch, fresh(), { ...config, maxSteps: 4 }, data, referenceBackend);
    expect(state.progress.batchInEpoch).toBe(4);
    state = decodeCheckpoint(encodeCheckpoint(state));
    state = await train(arch, state, { ...config, maxSteps: 9 }, data, referenceBackend);
    expect(state.progress.epoch).toBe(1);
    state = decodeCheckpoint(encodeCheckpoint(state));
    const resumed = await train(arch, state, config, data, referenceBackend);

    expect(resumed.progress.step).toBe(straight.progress.step);
    expect(resumed.progress.rng).toEqual(straight.progress.rng);
    expect(sameBytes(weightBytes(resumed), weightBytes(straight))).toBe(true);
    const strip = (s: TrainState) => s.progress.history.map(({ seconds, imagesPerSecond, ...r }) => r);
    expect(strip(resumed)).toEqual(strip(straight));
  });

  it('extended with more epochs, ends bit-identical to a run given that many from the start', async () => {
    const straight = await train(arch, fresh(), config, data, referenceBackend);
    const short = await train(arch, fresh(), { ...config, epochs: 1 }, data, referenceBackend);
    const extended = await train(arch, decodeCheckpoint(encodeCheckpoint(short)), config, data, referenceBackend);
    expect(sameBytes(weightBytes(extended), weightBytes(straight))).toBe(true);
  });

  it('drops the learning rate on schedule and records each epoch', async () => {
    const s = await train(arch, fresh(), config, data, referenceBackend);
    expect(s.progress.history.map((r) => r.epoch)).toEqual([1, 2, 3]);
    expect(s.progress.history.map((r) => r.lr)).toEqual([0.02, 0.02, 0.02 * 0.1]);
    expect(s.progress.history.map((r) => r.step)).toEqual([6, 12, 18]);
  });

  it('learns: test accuracy well above chance after a few epochs', async () => {
    const s = await train(arch, fresh(), { ...config, epochs: 6, lrDropEvery: undefined }, data, referenceBackend);
    const before = evaluate(arch, fresh().weights, data.test, data.batch, referenceBackend);
    const after = evaluate(arch, s.weights, data.test, data.batch, referenceBackend);
    expect(after.loss).toBeLessThan(before.loss);
    expect(after.top1).toBeGreaterThan(0.6); // chance is 0.25
  });

  it('stops on request after a step and leaves a resumable state', async () => {
    let calls = 0;
    const stopped = await train(arch, fresh(), config, data, referenceBackend, { shouldStop: () => ++calls === 2 });
    expect(stopped.progress.step).toBe(2);
  });
});
