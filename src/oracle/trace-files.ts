/**
 * How a trace is stored, and read back (ours or another backend's): a folder of .npy files with a
 * manifest.json, or one safetensors file with the manifest in its metadata. Bytes in, bytes out:
 * the CLI does the file system.
 *
 * Folder:      DIR/manifest.json and DIR/<name>.npy for every tensor (names as in trace.ts:
 *              input.npy, conv1.npy, ..., conv1.grad.npy, conv1.weight.grad.npy, drop6.mask.npy).
 * safetensors: one tensor per name (no .npy), little-endian, in trace order; the manifest JSON
 *              is the metadata value "alexnet_trace".
 *
 * manifest.json (format "alexnet-trace", version 2):
 *
 *   { "format": "alexnet-trace", "version": 2, "tool": "alexnet-ts 0.1.0",
 *     "arch": "caffe", "archOptions": { "widthDivisor": 1, "numClasses": 1000 },
 *     "widths": { "conv1": 96, ..., "fc8": 1000 }   (output channels/features of every conv and fc)
 *     "dtype": "float32" | "float64", "backend": "reference", "mode": "eval" | "train",
 *     "seed": 0 (masks drawn here), "loss": 6.9 (with backward), "inputShape": [N, C, H, W],
 *     "sources": { "weights": { "file", "format", "sha256" }, "input": { "file", "sha256", ... },
 *                  "labels": {...}, "masks": {...} }       (SHA-256 of the files as given)
 *     "tensors": [ { "name", "kind", "layer", "op", "dtype", "shape", "file",
 *                    "sha256": of the tensor's data bytes (little-endian, C order, no header),
 *                    "stats": { "min", "max", "mean", "l2" } (null where not finite),
 *                    "reference32": { "maxAbs", "maxRel" } (float64 traces) }, ... ] }
 *
 * Only "tensors" (name and file) matters to compare; every other field is informative. A trace
 * written by another backend may leave the manifest out: its tensors are then its .npy files.
 * Nothing depends on the time or on absolute paths: the same inputs give byte-identical traces.
 */

import { UserError } from '../errors.js';
import { type NpyArray, type NpyDtype, parseNpy, writeNpy } from '../formats/npy.js';
import { type SafetensorsDtype, parseSafetensors, writeSafetensors } from '../formats/safetensors.js';
import type { ArchName } from '../model/architectures.js';
import { type HashFunction, sha256Hex } from './sha256.js';
import type { Trace, TraceData, TraceTensorKind } from './trace.js';

export const TRACE_FORMAT = 'alexnet-trace';
export const TRACE_VERSION = 2;
/** The safetensors metadata key holding the manifest. */
export const SAFETENSORS_MANIFEST_KEY = 'alexnet_trace';

export interface TensorStats {
  min: number;
  max: number;
  mean: number;
  l2: number;
}

export interface ManifestTensor {
  name: string;
  kind?: TraceTensorKind;
  layer?: string;
  op?: string;
  dtype?: string;
  shape: number[];
  file?: string;
  sha256?: string;
  stats?: TensorStats;
  reference32?: { maxAbs: number; maxRel: number };
}

/** What the caller knows about where the trace's inputs came from (files and their hashes). */
export interface SourceInfo {
  file?: string;
  sha256?: string;
  [key: string]: unknown;
}

export interface TraceManifest {
  format: string;
  version: number;
  tool?: string;
  arch?: ArchName;
  archOptions?: { widthDivisor: number; numClasses: number };
  /** Output channels or features of every conv and fully connected layer (any width the weights had). */
  widths?: Record<string, number>;
  dtype?: string;
  backend?: string;
  mode?: 'eval' | 'train';
  seed?: number;
  loss?: number;
  inputShape?: number[];
  sources?: Record<string, SourceInfo>;
  tensors: ManifestTensor[];
}

export interface ManifestOptions {
  /** "alexnet-ts 0.1.0" */
  tool?: string;
  /** weights, input, labels, masks: file names and hashes, recorded as given. */
  sources?: Record<string, SourceInfo>;
  /** Default: sha256Hex (plain TypeScript); the CLI passes Node's crypto. */
  hash?: HashFunction;
}

// ---------------------------------------------------------------------------------------------
// Statistics and bytes

/** min, max, mean and L2 norm, accumulated in float64. NaN if any element is NaN. */
export function tensorStats(data: TraceData): TensorStats {
  let min = Infinity;
  let max = -Infinity;
  let sum = 0;
  let sq = 0;
  let nan = false;
  for (let i = 0; i < data.length; i++) {
    const v = Number(data[i]);
    if (v !== v) nan = true;
    if (v < min) min = v;
    if (v > max) max = v;
    sum += v;
    sq += v * v;
  }
  if (nan) return { min: NaN, max: NaN, mean: NaN, l2: NaN };
  return { min, max, mean: data.length ? sum / data.length : 0, l2: Math.sqrt(sq) };
}

/** The little-endian bytes of the data (a view on little-endian hosts, a swapped copy otherwise). */
export function dataBytes(data: TraceData): Uint8Array {
  const view = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (HOST_IS_LITTLE_ENDIAN || data.BYTES_PER_ELEMENT === 1) return view;
  const copy = view.slice();
  const k = data.BYTES_PER_ELEMENT;
  for (let i = 0; i < copy.length; i += k) copy.subarray(i, i + k).reverse();
  return copy;
}

const HOST_IS_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function dtypeName(data: TraceData): NpyDtype {
  if (data instanceof Float32Array) return 'float32';
  if (data instanceof Float64Array) return 'float64';
  if (data instanceof Uint8Array) return 'uint8';
  return 'int64';
}

const SAFETENSORS_DTYPE: Record<string, SafetensorsDtype> = { float32: 'F32', float64: 'F64', uint8: 'U8', int64: 'I64' };

// ---------------------------------------------------------------------------------------------
// Writing

export function traceManifest(trace: Trace, options: ManifestOptions = {}, fileOf?: (name: string) => string): TraceManifest {
  const hash = options.hash ?? sha256Hex;
  // Keys in a fixed order, optional ones only when present: the same trace gives the same bytes.
  const tensors = trace.tensors.map((t): ManifestTensor => {
    const r = trace.reference32?.get(t.name);
    return {
      name: t.name,
      kind: t.kind,
      ...(t.layer !== undefined && { layer: t.layer }),
      ...(t.op !== undefined && { op: t.op }),
      dtype: dtypeName(t.data),
      shape: [...t.shape],
      ...(fileOf && { file: fileOf(t.name) }),
      sha256: hash(dataBytes(t.data)),
      stats: tensorStats(t.data), // JSON writes NaN and infinities as null
      ...(r && { reference32: { ...r } }),
    };
  });
  const m: TraceManifest = {
    format: TRACE_FORMAT,
    version: TRACE_VERSION,
    ...(options.tool && { tool: options.tool }),
    arch: trace.arch.name,
    archOptions: { widthDivisor: trace.arch.widthDivisor, numClasses: trace.arch.numClasses },
    widths: Object.fromEntries(trace.arch.layers.flatMap((l) => (l.kind === 'conv' ? [[l.name, l.outChannels]] : l.kind === 'linear' ? [[l.name, l.outFeatures]] : []))),
    dtype: trace.dtype,
    backend: trace.backend,
    mode: trace.mode,
    ...(trace.seed !== undefined && { seed: trace.seed }),
    ...(trace.loss !== undefined && { loss: trace.loss }),
    inputShape: [...trace.tensors[0].shape],
    ...(options.sources && { sources: options.sources }),
    tensors,
  };
  return m;
}

function manifestBytes(m: TraceManifest): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(m, null, 2) + '\n');
}

/** The files of a trace folder: name -> bytes, the .npy files in trace order, manifest.json last. */
export function traceFiles(trace: Trace, options: ManifestOptions = {}): Map<string, Uint8Array> {
  const files = new Map<string, Uint8Array>();
  for (const t of trace.tensors) {
    files.set(`${t.name}.npy`, writeNpy({ dtype: dtypeName(t.data), shape: [...t.shape], data: t.data }));
  }
  files.set('manifest.json', manifestBytes(traceManifest(trace, options, (name) => `${name}.npy`)));
  return files;
}

/** The whole trace as one safetensors file, the manifest in its metadata. */
export function traceSafetensors(trace: Trace, options: ManifestOptions = {}): Uint8Array {
  const manifest = traceManifest(trace, options);
  return writeSafetensors(
    trace.tensors.map((t) => [t.name, { dtype: SAFETENSORS_DTYPE[dtypeName(t.data)], shape: [...t.shape], data: t.data }] as const),
    { [SAFETENSORS_MANIFEST_KEY]: JSON.stringify(manifest) },
  );
}

// ---------------------------------------------------------------------------------------------
// Reading (ours or another backend's)

export interface LoadedTensor {
  dtype: NpyDtype;
  shape: number[];
  data: TraceData | Int32Array;
}

export interface LoadedTrace {
  /** How the user named it (a path), for messages. */
  label: string;
  manifest?: TraceManifest;
  /** In trace order: the manifest's, then any tensor it does not list, by name. */
  tensors: Map<string, LoadedTensor>;
}

function fromNpy(a: NpyArray): LoadedTensor {
  return { dtype: a.dtype, shape: a.shape, data: a.data as TraceData | Int32Array };
}

/** Checks the fields compare relies on; older manifests ({ layers: [...] }, version 1) are read too. */
export function parseManifest(label: string, bytes: Uint8Array): TraceManifest {
  let m: unknown;
  try {
    m = JSON.parse(new TextDecoder().decode(bytes));
  } catch (e) {
    throw new UserError(`${label}: manifest is not valid JSON (${(e as Error).message})`);
  }
  if (typeof m !== 'object' || m === null || Array.isArray(m)) throw new UserError(`${label}: manifest is not a JSON object`);
  const o = m as Record<string, unknown>;
  const list = o.tensors ?? o.layers; // version 1 called them layers
  if (!Array.isArray(list)) throw new UserError(`${label}: manifest has no "tensors" list`);
  for (const [i, t] of list.entries()) {
    const e = t as Record<string, unknown>;
    if (typeof e !== 'object' || e === null || typeof e.name !== 'string' || !Array.isArray(e.shape)) {
      throw new UserError(`${label}: manifest entry ${i} needs a "name" and a "shape"`);
    }
  }
  return { ...(o as object), format: String(o.format ?? TRACE_FORMAT), version: Number(o.version ?? 1), tensors: list as ManifestTensor[] } as TraceManifest;
}

/**
 * A trace folder from its files (file name -> bytes; the caller reads the folder). With a
 * manifest.json, its tensors come first and every file it names must be there.
 */
export function traceFromFiles(label: string, files: Map<string, Uint8Array>): LoadedTrace {
  const manifestFile = files.get('manifest.json');
  const manifest = manifestFile ? parseManifest(label, manifestFile) : undefined;
  const tensors = new Map<string, LoadedTensor>();
  const used = new Set<string>();
  const read = (name: string, file: string, shape?: number[]): void => {
    const bytes = files.get(file);
    if (!bytes) throw new UserError(`${label}: manifest.json lists ${name} in ${file}, which is missing`);
    const a = parseNpyIn(`${label}/${file}`, bytes);
    if (shape && !sameShape(a.shape, shape)) {
      throw new UserError(`${label}/${file}: has shape [${a.shape.join(', ')}], manifest.json says [${shape.join(', ')}]`);
    }
    tensors.set(name, fromNpy(a));
    used.add(file);
  };
  for (const t of manifest?.tensors ?? []) read(t.name, t.file ?? `${t.name}.npy`, t.shape);
  const rest = [...files.keys()].filter((f) => f.endsWith('.npy') && !used.has(f)).sort();
  for (const f of rest) read(f.slice(0, -4), f);
  if (tensors.size === 0) throw new UserError(`${label}: no .npy files and no manifest.json: not a trace folder`);
  return { label, manifest, tensors };
}

/** A trace in one safetensors file (the manifest, if any, in metadata "alexnet_trace"). */
export function traceFromSafetensors(label: string, bytes: Uint8Array): LoadedTrace {
  let file;
  try {
    file = parseSafetensors(bytes);
  } catch (e) {
    if (e instanceof UserError) throw new UserError(`${label}: ${e.message}`);
    throw e;
  }
  const text = file.metadata[SAFETENSORS_MANIFEST_KEY];
  const manifest = text === undefined ? undefined : parseManifest(label, new TextEncoder().encode(text));
  const names = [...(manifest?.tensors.map((t) => t.name) ?? []), ...[...file.tensors.keys()].sort()];
  const tensors = new Map<string, LoadedTensor>();
  const DTYPE: Record<SafetensorsDtype, NpyDtype> = { F32: 'float32', F64: 'float64', U8: 'uint8', I64: 'int64', I32: 'int32' };
  for (const name of names) {
    if (tensors.has(name)) continue;
    const t = file.tensors.get(name);
    if (!t) throw new UserError(`${label}: the manifest lists tensor "${name}", which is not in the file`);
    tensors.set(name, { dtype: DTYPE[t.dtype], shape: [...t.shape], data: t.data as TraceData | Int32Array });
  }
  return { label, manifest, tensors };
}

/** One .npy file as a trace of one tensor, named after the file. */
export function traceFromNpy(label: string, name: string, bytes: Uint8Array): LoadedTrace {
  return { label, tensors: new Map([[name, fromNpy(parseNpyIn(label, bytes))]]) };
}

function parseNpyIn(label: string, bytes: Uint8Array): NpyArray {
  try {
    return parseNpy(bytes);
  } catch (e) {
    if (e instanceof UserError) throw new UserError(`${label}: ${e.message}`);
    throw e;
  }
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/**
 * Dropout masks from a trace (e.g. `trace --train` output, or masks saved by another framework
 * as `<drop>.mask.npy`): uint8, or any integer or float array of 0s and 1s. Every name in
 * `dropouts` must be present.
 */
export function masksFromTrace(t: LoadedTrace, dropouts: readonly string[]): Map<string, Uint8Array> {
  const masks = new Map<string, Uint8Array>();
  for (const name of dropouts) {
    const m = t.tensors.get(`${name}.mask`);
    if (!m) throw new UserError(`${t.label}: no mask for ${name} (${name}.mask.npy); masks are needed for ${dropouts.join(', ')}`);
    const mask = new Uint8Array(m.data.length);
    for (let i = 0; i < mask.length; i++) {
      const v = Number(m.data[i]);
      if (v !== 0 && v !== 1) throw new UserError(`${t.label}: ${name}.mask holds ${v} at index ${i}; masks are 0 (dropped) or 1 (kept)`);
      mask[i] = v;
    }
    masks.set(name, mask);
  }
  return masks;
}
