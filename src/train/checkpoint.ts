/**
 * Training checkpoints: everything needed to continue a run so that the result is bit-identical
 * to a run that was never interrupted. One safetensors file:
 *
 *   <key>             the weights (the project's key names, float32)
 *   momentum/<key>    the SGD momentum buffers
 *   order             this epoch's example order (int32)
 *   __metadata__      "checkpoint": JSON of TrainProgress (arch, step, epoch, position in the
 *                     epoch, learning rate, generator state, per-epoch history, configuration)
 *
 * Written by the caller with an atomic write (temporary file, fsync, rename), so a run killed at
 * any moment leaves the previous checkpoint intact.
 */

import { UserError } from '../errors.js';
import { parseSafetensors, toFloatTensor, writeSafetensors, type StoredTensor } from '../formats/safetensors.js';
import type { Weights } from '../model/network.js';
import type { RngState } from '../rng.js';
import type { Tensor } from '../tensor.js';

export interface EpochRecord {
  epoch: number;
  step: number;
  lr: number;
  trainLoss: number;
  trainAccuracy: number;
  testLoss: number;
  testAccuracy: number;
  testTop5?: number;
  imagesPerSecond: number;
  seconds: number;
}

export interface TrainProgress {
  version: 1;
  arch: string;
  /** Optimiser steps taken so far. */
  step: number;
  /** The epoch in progress (0-based). */
  epoch: number;
  /** Batches of the current epoch already done. */
  batchInEpoch: number;
  lr: number;
  rng: RngState;
  /** Running sums over the current epoch (for its train loss and accuracy). */
  epochLossSum: number;
  epochCorrect: number;
  epochSeen: number;
  epochSeconds: number;
  history: EpochRecord[];
  /** The training configuration, checked on resume. */
  config: Record<string, unknown>;
}

export interface TrainState {
  progress: TrainProgress;
  weights: Weights<Float32Array>;
  momentum: Map<string, Float32Array>;
  order: Int32Array;
}

export function encodeCheckpoint(state: TrainState): Uint8Array {
  const tensors: [string, StoredTensor][] = [];
  for (const [k, t] of state.weights) tensors.push([k, { dtype: 'F32', shape: [...t.shape], data: t.data }]);
  for (const [k, v] of state.momentum) {
    tensors.push([`momentum/${k}`, { dtype: 'F32', shape: [...state.weights.get(k)!.shape], data: v }]);
  }
  tensors.push(['order', { dtype: 'I32', shape: [state.order.length], data: state.order }]);
  return writeSafetensors(tensors, { checkpoint: JSON.stringify(state.progress) });
}

export function decodeCheckpoint(bytes: Uint8Array): TrainState {
  const file = parseSafetensors(bytes);
  const json = file.metadata.checkpoint;
  if (!json) throw new UserError('not a training checkpoint (no "checkpoint" metadata)');
  const progress = JSON.parse(json) as TrainProgress;
  if (progress.version !== 1) throw new UserError(`checkpoint version ${progress.version} is not supported`);
  const weights: Weights<Float32Array> = new Map();
  const momentum = new Map<string, Float32Array>();
  let order: Int32Array | undefined;
  for (const [key, t] of file.tensors) {
    if (key === 'order') {
      order = Int32Array.from(t.data as Int32Array);
    } else if (key.startsWith('momentum/')) {
      momentum.set(key.slice('momentum/'.length), Float32Array.from(t.data as Float32Array));
    } else {
      const f = toFloatTensor(t, key) as Tensor<Float32Array>;
      weights.set(key, { data: Float32Array.from(f.data), shape: f.shape });
    }
  }
  if (!order) throw new UserError('checkpoint has no "order" tensor');
  for (const k of weights.keys()) if (!momentum.has(k)) throw new UserError(`checkpoint has no momentum for "${k}"`);
  return { progress, weights, momentum, order };
}
