/**
 * The one walker that runs any architecture forward and backward on any backend.
 *
 * Forward visits the layer specs in order, keeping each layer's output and the backend's cache.
 * The last layer is the softmax `prob`; the layer before it gives the logits. Training uses the
 * cross-entropy of the logits (PyTorch's CrossEntropyLoss), so backward starts from dL/dlogits and
 * visits the layers in reverse, skipping `prob`, handing each backward op the cache its forward
 * made and collecting every parameter gradient under its weight-file key.
 */

import type { Backend, OpCache } from '../backend/backend.js';
import { UserError } from '../errors.js';
import { dropoutMask } from '../ops/dropout.js';
import { flattenBackward, flattenForward, type FlattenCache } from '../ops/flatten.js';
import type { Rng } from '../rng.js';
import { type FloatArray, type Tensor, formatShape, shapeEquals, sizeOf } from '../tensor.js';
import type { Architecture, LayerSpec } from './architectures.js';
import { inferShapes, ShapeError } from './shapes.js';

/** Parameters by weight-file key (`conv1.weight`, `features.0.bias`, ...). */
export type Weights<A extends FloatArray = FloatArray> = Map<string, Tensor<A>>;

export interface ForwardOptions {
  /** 'eval': dropout is the identity. 'train': dropout masks are applied. Default 'eval'. */
  mode?: 'eval' | 'train';
  /** Train mode: masks to apply, by dropout layer name (replaying another run or framework). */
  masks?: Map<string, Uint8Array>;
  /** Train mode: where masks not given in `masks` are drawn from. */
  rng?: Rng;
  /** Called before each layer runs (progress reporting). */
  onLayer?: (index: number, count: number, spec: LayerSpec) => void;
}

export interface ForwardPass<A extends FloatArray> {
  arch: Architecture;
  input: Tensor<A>;
  /** Every layer's output, by layer name, in layer order. */
  outputs: Map<string, Tensor<A>>;
  /** The backend's cache of every layer, by index into arch.layers. */
  caches: OpCache[];
  /** The dropout masks used (train mode), by layer name. */
  masks: Map<string, Uint8Array>;
  logits: Tensor<A>;
  probs: Tensor<A>;
}

export interface Gradients<A extends FloatArray> {
  /** dL/d(parameter), by weight-file key. */
  params: Map<string, Tensor<A>>;
  /** dL/d(layer output), by layer name (no entry for `prob`). */
  layers: Map<string, Tensor<A>>;
  /** dL/d(input). */
  input: Tensor<A>;
}

function param<A extends FloatArray>(weights: Weights<A>, key: string): Tensor<A> {
  const t = weights.get(key);
  if (!t) throw new UserError(`weights have no tensor "${key}"`);
  return t;
}

/**
 * Checks that `weights` hold exactly the tensors this architecture needs at this input size,
 * with the right shapes. Throws a UserError naming the first missing or mis-shaped key.
 */
export function checkWeights(arch: Architecture, weights: Weights, inputShape: readonly number[]): void {
  let layers;
  try {
    layers = inferShapes(arch, inputShape);
  } catch (e) {
    if (e instanceof ShapeError) throw new UserError(e.message);
    throw e;
  }
  const expected = layers.flatMap((l) => l.params);
  for (const p of expected) {
    const t = weights.get(p.key);
    if (!t) {
      throw new UserError(`no tensor "${p.key}" (${arch.name} needs ${expected.map((q) => q.key).join(', ')})`);
    }
    if (!shapeEquals(t.shape, p.shape)) {
      throw new UserError(`tensor "${p.key}" has shape ${formatShape(t.shape)}, ${arch.name} needs ${formatShape(p.shape)} for input ${formatShape(inputShape.slice(1))}`);
    }
  }
  const known = new Set(expected.map((p) => p.key));
  const extra = [...weights.keys()].filter((k) => !known.has(k));
  if (extra.length > 0) throw new UserError(`unexpected tensor "${extra[0]}" for ${arch.name}`);
}

function layerIndex(arch: Architecture, kind: LayerSpec['kind']): number {
  const i = arch.layers.findIndex((l) => l.kind === kind);
  if (i < 0) throw new Error(`${arch.name} has no ${kind} layer`);
  return i;
}

export function forward<A extends FloatArray>(
  arch: Architecture,
  weights: Weights<A>,
  x: Tensor<A>,
  backend: Backend,
  options: ForwardOptions = {},
): ForwardPass<A> {
  const mode = options.mode ?? 'eval';
  checkWeights(arch, weights, x.shape);
  const outputs = new Map<string, Tensor<A>>();
  const caches: OpCache[] = [];
  const masks = new Map<string, Uint8Array>();
  let h = x;
  for (const [index, spec] of arch.layers.entries()) {
    options.onLayer?.(index, arch.layers.length, spec);
    let step: { y: Tensor<A>; cache: OpCache };
    switch (spec.kind) {
      case 'conv':
        step = backend.conv2dForward(h, param(weights, `${spec.param}.weight`), param(weights, `${spec.param}.bias`), spec);
        break;
      case 'relu':
        step = backend.reluForward(h);
        break;
      case 'lrn':
        step = backend.lrnForward(h, spec.lrn);
        break;
      case 'maxpool':
        step = backend.maxPoolForward(h, spec);
        break;
      case 'adaptiveavgpool':
        step = backend.adaptiveAvgPoolForward(h, spec);
        break;
      case 'flatten':
        step = flattenForward(h); // a view: the same on every backend
        break;
      case 'linear':
        step = backend.linearForward(h, param(weights, `${spec.param}.weight`), param(weights, `${spec.param}.bias`));
        break;
      case 'dropout':
        if (mode === 'eval') {
          step = { y: h, cache: null };
        } else {
          let mask = options.masks?.get(spec.name);
          if (!mask) {
            if (!options.rng) throw new Error(`${spec.name}: train mode needs a mask or an rng`);
            mask = dropoutMask(options.rng, h.data.length, spec.p);
          }
          masks.set(spec.name, mask);
          step = backend.dropoutForward(h, spec.p, mask);
        }
        break;
      case 'softmax':
        step = backend.softmaxForward(h);
        break;
    }
    caches.push(step.cache);
    outputs.set(spec.name, step.y);
    h = step.y;
  }
  const probIndex = layerIndex(arch, 'softmax');
  const logits = outputs.get(arch.layers[probIndex - 1].name)!;
  return { arch, input: x, outputs, caches, masks, logits, probs: outputs.get(arch.layers[probIndex].name)! };
}

/** Back-propagates dL/dlogits through the layers before `prob`. */
export function backward<A extends FloatArray>(pass: ForwardPass<A>, dlogits: Tensor<A>, backend: Backend): Gradients<A> {
  const { arch, caches } = pass;
  const probIndex = layerIndex(arch, 'softmax');
  if (!shapeEquals(dlogits.shape, pass.logits.shape)) {
    throw new Error(`backward: dlogits ${formatShape(dlogits.shape)} != logits ${formatShape(pass.logits.shape)}`);
  }
  const params = new Map<string, Tensor<A>>();
  const layers = new Map<string, Tensor<A>>();
  let dy = dlogits;
  for (let i = probIndex - 1; i >= 0; i--) {
    const spec = arch.layers[i];
    const cache = caches[i];
    layers.set(spec.name, dy);
    let dx: Tensor<A>;
    switch (spec.kind) {
      case 'conv':
      case 'linear': {
        const g = spec.kind === 'conv' ? backend.conv2dBackward(cache, dy) : backend.linearBackward(cache, dy);
        params.set(`${spec.param}.weight`, g.dw);
        params.set(`${spec.param}.bias`, g.db);
        dx = g.dx;
        break;
      }
      case 'relu':
        dx = backend.reluBackward(cache, dy).dx;
        break;
      case 'lrn':
        dx = backend.lrnBackward(cache, dy).dx;
        break;
      case 'maxpool':
        dx = backend.maxPoolBackward(cache, dy).dx;
        break;
      case 'adaptiveavgpool':
        dx = backend.adaptiveAvgPoolBackward(cache, dy).dx;
        break;
      case 'flatten':
        dx = flattenBackward(cache as FlattenCache, dy).dx;
        break;
      case 'dropout':
        dx = cache === null ? dy : backend.dropoutBackward(cache, dy).dx;
        break;
      case 'softmax':
        throw new Error(`${spec.name}: softmax may only be the last layer`);
    }
    dy = dx;
  }
  if (sizeOf(dy.shape) !== pass.input.data.length) throw new Error('backward: input gradient has the wrong size');
  return { params, layers, input: dy };
}

/** One training evaluation: forward (train mode), mean cross-entropy against `labels`, backward. */
export function lossAndGradients<A extends FloatArray>(
  arch: Architecture,
  weights: Weights<A>,
  x: Tensor<A>,
  labels: Int32Array,
  backend: Backend,
  options: ForwardOptions = {},
): { loss: number; pass: ForwardPass<A>; grads: Gradients<A> } {
  const pass = forward(arch, weights, x, backend, { mode: 'train', ...options });
  const ce = backend.crossEntropyForward(pass.logits, labels);
  const { dlogits } = backend.crossEntropyBackward<A>(ce.cache);
  return { loss: ce.loss, pass, grads: backward(pass, dlogits, backend) };
}
