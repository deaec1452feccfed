/**
 * A trace: the input and every layer's output of one forward pass, as .npy files plus a manifest,
 * the form in which other backends compare their numbers with ours.
 *
 * Layout of a trace folder:
 *   manifest.json   { "arch", "dtype", "backend", "inputShape",
 *                     "layers": [{ "name", "op", "shape", "file" }, ...] }   (input first, then layer order)
 *   input.npy       the input batch [N, C, H, W]
 *   <layer>.npy     each layer's output, named as in the architecture (conv1, relu1, norm1, pool1, ...,
 *                   fc8, prob); a conv layer's file holds its output before ReLU.
 */

import type { Backend } from '../backend/backend.js';
import { writeNpy } from '../formats/npy.js';
import type { Architecture } from '../model/architectures.js';
import { forward, type ForwardOptions, type Weights } from '../model/network.js';
import { type FloatArray, type Tensor, dtypeOf } from '../tensor.js';

export interface TraceEntry {
  name: string;
  op: string;
  tensor: Tensor;
}

export interface Trace {
  arch: string;
  dtype: string;
  backend: string;
  entries: TraceEntry[];
}

export function traceForward<A extends FloatArray>(
  arch: Architecture,
  weights: Weights<A>,
  x: Tensor<A>,
  backend: Backend,
  options: Pick<ForwardOptions, 'onLayer'> = {},
): Trace {
  const pass = forward(arch, weights, x, backend, { mode: 'eval', onLayer: options.onLayer });
  const entries: TraceEntry[] = [{ name: 'input', op: 'input', tensor: x }];
  for (const spec of arch.layers) entries.push({ name: spec.name, op: spec.kind, tensor: pass.outputs.get(spec.name)! });
  return { arch: arch.name, dtype: dtypeOf(x.data), backend: backend.name, entries };
}

/** The files of a trace folder: name -> bytes, manifest.json last. */
export function traceFiles(trace: Trace): Map<string, Uint8Array> {
  const files = new Map<string, Uint8Array>();
  const layers = trace.entries.map((e) => {
    const file = `${e.name}.npy`;
    files.set(file, writeNpy({ dtype: dtypeOf(e.tensor.data), shape: [...e.tensor.shape], data: e.tensor.data }));
    return { name: e.name, op: e.op, shape: [...e.tensor.shape], file };
  });
  const manifest = {
    arch: trace.arch,
    dtype: trace.dtype,
    backend: trace.backend,
    inputShape: [...trace.entries[0].tensor.shape],
    layers,
  };
  files.set('manifest.json', new TextEncoder().encode(JSON.stringify(manifest, null, 2) + '\n'));
  return files;
}
