/**
 * A full-size AlexNet learns: 24 images with arbitrary labels, trained with the project's loop on
 * the wasm backend, are memorised to 100% training accuracy (eval mode, no dropout) within a
 * bounded number of SGD steps. This is the sanity check that gradients, update and data path work
 * together at full size, where the per-op and per-step tests look at one piece at a time.
 *
 * The images are coarse random colour blocks (8x8 cells of 28 pixels), so that they differ at the
 * scale the network pools to; labels are i mod 8, unrelated to the content: only memorisation
 * fits them. Measured with this seed: 100% first reached after 90 steps (30 epochs of 3 batches).
 * The bound below leaves room for a different kernel build (another summation order changes the
 * trajectory, not the outcome).
 */

import { afterAll, describe, expect, it } from 'vitest';
import { createWasmBackendSync } from '../../src/backend/wasm/node-backend.js';
import { architecture } from '../../src/model/architectures.js';
import { initWeights } from '../../src/model/init.js';
import { Rng } from '../../src/rng.js';
import { subset, type ImageDataset } from '../../src/train/dataset.js';
import { evaluate, newTrainState, train, type TrainConfig, type TrainData } from '../../src/train/loop.js';

const arch = architecture('torchvision');
const S = arch.inputSize;
const COUNT = 24;
const MAX_EPOCHS = 60; // 180 steps
const CHECK_EVERY = 5; // epochs

function blockImages(count: number, seed: number): ImageDataset {
  const rng = new Rng(seed);
  const G = 8;
  const cell = Math.ceil(S / G);
  const pixels = new Uint8Array(count * 3 * S * S);
  for (let i = 0; i < count; i++) {
    const grid = Array.from({ length: 3 * G * G }, () => rng.below(256));
    for (let c = 0; c < 3; c++) {
      for (let y = 0; y < S; y++) {
        for (let x = 0; x < S; x++) pixels[((i * 3 + c) * S + y) * S + x] = grid[(c * G + Math.floor(y / cell)) * G + Math.floor(x / cell)];
      }
    }
  }
  const labels = Int32Array.from({ length: count }, (_, i) => i % 8);
  return { count, channels: 3, height: S, width: S, pixels, labels, classNames: Array.from({ length: 1000 }, (_, i) => `class ${i}`) };
}

const backend = createWasmBackendSync();
afterAll(() => backend.dispose());

describe('a full-size network learns', () => {
  it(`overfits ${COUNT} images to 100% training accuracy within ${MAX_EPOCHS * 3} steps (torchvision, wasm)`, { timeout: 900_000 }, async () => {
    const images = blockImages(COUNT, 11);
    const batch = { crop: S, pad: 0, flip: false, normalisation: { mean: [0.5, 0.5, 0.5], std: [0.29, 0.29, 0.29] } };
    // The loop evaluates its test set every epoch: one image keeps that cheap; the check below uses all.
    const data: TrainData = { train: images, test: subset(images, 1), batch };
    const config: TrainConfig = { epochs: 0, batch: 8, lr: 0.001, momentum: 0.9, weightDecay: 5e-4, update: 'pytorch', seed: 3 };
    const state = newTrainState(arch, initWeights(arch, 'he', 1), config, COUNT);
    const accuracy: number[] = [];
    for (let epochs = CHECK_EVERY; epochs <= MAX_EPOCHS; epochs += CHECK_EVERY) {
      await train(arch, state, { ...config, epochs }, data, backend);
      const losses = state.progress.history.map((r) => r.trainLoss);
      expect(losses.every(Number.isFinite), `training loss per epoch: ${losses.join(', ')}`).toBe(true);
      accuracy.push(evaluate(arch, state.weights, images, batch, backend, COUNT).top1);
      if (accuracy[accuracy.length - 1] === 1) break;
    }
    const history = state.progress.history;
    // Learning, not a lucky draw: the training loss fell well below the first epoch's.
    expect(history[history.length - 1].trainLoss).toBeLessThan(history[0].trainLoss / 4);
    expect(accuracy[accuracy.length - 1], `training accuracy every ${CHECK_EVERY} epochs: ${accuracy.join(', ')}`).toBe(1);
  });
});
