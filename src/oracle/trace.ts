/**
 * A trace: every tensor of one pass of the network (the input, each layer's output, and with
 * backward the loss and every gradient), in the order they are computed. It is what other
 * backends compare their numbers with (compare.ts); trace-files.ts lays it out as a folder of
 * .npy files or one safetensors file, with a manifest. docs/oracle.md describes the layout.
 *
 * Tensor names, in the order of a trace ("computation order"):
 *
 *   input                 the batch [N, C, H, W]
 *   labels                class indices [N] (int64), with backward
 *   <layer>               each layer's output (conv1, relu1, norm1, pool1, ..., fc8, prob); a conv
 *                         layer's output is before its ReLU. In train mode a dropout layer's mask
 *   <drop>.mask           (uint8, 1 = kept, the shape of the layer's input) comes just before it.
 *   loss                  mean cross-entropy of the logits (a scalar), with backward
 *   <layer>.grad          dL/d(output of layer), from fc8 back to conv1 (prob has none), each
 *   <key>.grad            followed by the gradients of that layer's parameters, keyed as in the
 *                         weight file (conv1.weight.grad, features.0.bias.grad, ...)
 *   input.grad            dL/d(input)
 *
 * Backward runs after a forward pass in the same mode: eval (dropout the identity, as
 * `model.eval()` then `loss.backward()` in PyTorch) unless `train`, where each dropout layer
 * applies a mask, given or drawn from `Rng(seed)` in layer order.
 *
 * A float64 trace is the golden reference a float32 backend's error is measured against; it
 * also records, per tensor, the error of this reference's own float32 pass (`reference32`), so a
 * comparison can say how much of a float32 backend's error is float32 rounding itself.
 */

import type { Backend } from '../backend/backend.js';
import { UserError } from '../errors.js';
import type { Architecture } from '../model/architectures.js';
import { type ForwardOptions, type Weights, backward, forward } from '../model/network.js';
import { inferShapes } from '../model/shapes.js';
import { Rng } from '../rng.js';
import { type DType, type FloatArray, type Tensor, cast, dtypeOf, formatShape } from '../tensor.js';

export type TraceTensorKind = 'input' | 'labels' | 'activation' | 'mask' | 'loss' | 'layer-grad' | 'param-grad' | 'input-grad';

/** Element types a trace holds: floats for values, uint8 for masks, int64 for labels. */
export type TraceData = Float32Array | Float64Array | Uint8Array | BigInt64Array;

export interface TraceTensor {
  name: string;
  kind: TraceTensorKind;
  /** The layer it belongs to (activations, masks, gradients), as named in the architecture. */
  layer?: string;
  /** The layer's kind (conv, relu, ...), for activations and layer gradients. */
  op?: string;
  data: TraceData;
  shape: number[];
}

/** Error of this reference's float32 pass against its float64 pass, for one tensor. */
export interface Float32Error {
  /** max |float32 - float64| over the tensor. */
  maxAbs: number;
  /** maxAbs / max |float64|. */
  maxRel: number;
}

export interface Trace {
  arch: Architecture;
  dtype: DType;
  backend: string;
  mode: 'eval' | 'train';
  /** Seed of the masks drawn in train mode (absent when every mask was given). */
  seed?: number;
  /** Mean cross-entropy, with backward. */
  loss?: number;
  tensors: TraceTensor[];
  /** float64 traces: this reference's float32 error per float tensor, by name. */
  reference32?: Map<string, Float32Error>;
}

export interface TraceOptions {
  /** Element type of the whole pass (weights and input are converted). Default: the input's. */
  dtype?: DType;
  /** Class indices [N]: run backward from the mean cross-entropy against them. */
  labels?: Int32Array;
  /** Dropout in training mode (implied by `masks`). */
  train?: boolean;
  /** Train mode: masks by dropout layer name; layers without one draw from Rng(seed). */
  masks?: Map<string, Uint8Array>;
  /** Train mode: seed of the masks drawn here. Default 0. */
  seed?: number;
  /** float64 traces: also run in float32 and record its error per tensor. Default true. */
  float32Error?: boolean;
  onLayer?: ForwardOptions['onLayer'];
}

/** Runs the pass and collects every tensor. Bad labels or masks are UserErrors. */
export function makeTrace(arch: Architecture, weights: Weights, x: Tensor, backend: Backend, options: TraceOptions = {}): Trace {
  const dtype = options.dtype ?? dtypeOf(x.data);
  const train = Boolean(options.train || options.masks);
  const layers = inferShapes(arch, x.shape);
  if (options.labels) checkLabels(options.labels, x.shape[0], arch.numClasses);
  if (options.masks) checkMasks(arch, layers, options.masks);

  const w = convertWeights(weights, dtype);
  const input = x.data instanceof (dtype === 'float64' ? Float64Array : Float32Array) ? x : cast(x, dtype);
  const drawn = train && arch.layers.some((l) => l.kind === 'dropout' && !options.masks?.has(l.name));
  const seed = options.seed ?? 0;
  const pass = forward(arch, w, input, backend, {
    mode: train ? 'train' : 'eval',
    masks: options.masks,
    rng: train ? new Rng(seed) : undefined,
    onLayer: options.onLayer,
  });

  const tensors: TraceTensor[] = [{ name: 'input', kind: 'input', data: input.data, shape: [...input.shape] }];
  if (options.labels) {
    tensors.push({ name: 'labels', kind: 'labels', data: BigInt64Array.from(options.labels, (v) => BigInt(v)), shape: [options.labels.length] });
  }
  layers.forEach(({ spec, inShape }) => {
    const mask = pass.masks.get(spec.name);
    if (mask) tensors.push({ name: `${spec.name}.mask`, kind: 'mask', layer: spec.name, data: mask, shape: [...inShape] });
    const y = pass.outputs.get(spec.name)!;
    tensors.push({ name: spec.name, kind: 'activation', layer: spec.name, op: spec.kind, data: y.data, shape: [...y.shape] });
  });

  let loss: number | undefined;
  if (options.labels) {
    const ce = backend.crossEntropyForward(pass.logits, options.labels);
    loss = ce.loss;
    const lossData = dtype === 'float64' ? Float64Array.of(loss) : Float32Array.of(loss);
    tensors.push({ name: 'loss', kind: 'loss', data: lossData, shape: [] });
    const grads = backward(pass, backend.crossEntropyBackward<FloatArray>(ce.cache).dlogits, backend);
    for (let i = arch.layers.length - 1; i >= 0; i--) {
      const spec = arch.layers[i];
      const g = grads.layers.get(spec.name);
      if (!g) continue; // prob
      tensors.push({ name: `${spec.name}.grad`, kind: 'layer-grad', layer: spec.name, op: spec.kind, data: g.data, shape: [...g.shape] });
      if (spec.kind === 'conv' || spec.kind === 'linear') {
        for (const role of ['weight', 'bias']) {
          const key = `${spec.param}.${role}`;
          const p = grads.params.get(key)!;
          tensors.push({ name: `${key}.grad`, kind: 'param-grad', layer: spec.name, data: p.data, shape: [...p.shape] });
        }
      }
    }
    tensors.push({ name: 'input.grad', kind: 'input-grad', data: grads.input.data, shape: [...grads.input.shape] });
  }

  const trace: Trace = { arch, dtype, backend: backend.name, mode: train ? 'train' : 'eval', tensors };
  if (train && drawn) trace.seed = seed;
  if (loss !== undefined) trace.loss = loss;
  if (dtype === 'float64' && options.float32Error !== false) {
    // The same pass in float32 with the same masks: what float32 storage alone costs.
    const t32 = makeTrace(arch, weights, x, backend, { ...options, dtype: 'float32', masks: train ? pass.masks : undefined, onLayer: undefined });
    trace.reference32 = float32Errors(trace, t32);
  }
  return trace;
}

function convertWeights(weights: Weights, dtype: DType): Weights {
  const want = dtype === 'float64' ? Float64Array : Float32Array;
  if ([...weights.values()].every((t) => t.data instanceof want)) return weights;
  // float32 -> float64 is exact; float64 -> float32 rounds each value once.
  return new Map([...weights].map(([k, t]) => [k, cast(t, dtype)] as [string, Tensor]));
}

function float32Errors(t64: Trace, t32: Trace): Map<string, Float32Error> {
  const by32 = new Map(t32.tensors.map((t) => [t.name, t]));
  const out = new Map<string, Float32Error>();
  for (const t of t64.tensors) {
    const s = by32.get(t.name);
    if (!s || !(t.data instanceof Float64Array) || !(s.data instanceof Float32Array)) continue;
    let maxAbs = 0;
    let scale = 0;
    for (let i = 0; i < t.data.length; i++) {
      const d = Math.abs(s.data[i] - t.data[i]);
      if (!(d <= maxAbs)) maxAbs = d;
      scale = Math.max(scale, Math.abs(t.data[i]));
    }
    out.set(t.name, { maxAbs, maxRel: scale > 0 ? maxAbs / scale : maxAbs === 0 ? 0 : Infinity });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Checking what the user gave

/** Labels must be class indices in [0, K), one per sample. */
export function checkLabels(labels: Int32Array, N: number, K: number): void {
  if (labels.length !== N) throw new UserError(`${labels.length} labels for a batch of ${N}: give one class index per sample`);
  labels.forEach((v, n) => {
    if (!(v >= 0 && v < K)) throw new UserError(`label ${v} of sample ${n} is outside [0, ${K}) (the network has ${K} classes)`);
  });
}

/** Class indices from an int64 or int32 array of shape [N]. */
export function labelsFromArray(a: { dtype: string; shape: readonly number[]; data: ArrayLike<number | bigint> }, N: number, K: number): Int32Array {
  if (a.dtype !== 'int64' && a.dtype !== 'int32') throw new UserError(`labels must be int64 or int32 class indices, got ${a.dtype}`);
  if (a.shape.length !== 1) throw new UserError(`labels must have shape [N], got ${formatShape(a.shape)}`);
  const labels = new Int32Array(a.data.length);
  for (let i = 0; i < labels.length; i++) {
    const v = Number(a.data[i]);
    if (!(v >= 0 && v < K)) throw new UserError(`label ${v} of sample ${i} is outside [0, ${K}) (the network has ${K} classes)`);
    labels[i] = v;
  }
  checkLabels(labels, N, K);
  return labels;
}

function checkMasks(arch: Architecture, layers: ReturnType<typeof inferShapes>, masks: Map<string, Uint8Array>): void {
  const dropouts = layers.filter((l) => l.spec.kind === 'dropout');
  for (const [name, mask] of masks) {
    const layer = dropouts.find((l) => l.spec.name === name);
    if (!layer) throw new UserError(`a mask for "${name}", which is not a dropout layer of ${arch.name} (${dropouts.map((l) => l.spec.name).join(', ')})`);
    const n = layer.inShape.reduce((a, b) => a * b, 1);
    if (mask.length !== n) throw new UserError(`mask ${name} has ${mask.length} entries, ${name}'s input ${formatShape(layer.inShape)} has ${n}`);
    for (let i = 0; i < mask.length; i++) {
      if (mask[i] > 1) throw new UserError(`mask ${name} holds ${mask[i]} at ${i}: masks are 0 (dropped) or 1 (kept)`);
    }
  }
}
