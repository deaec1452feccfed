/** Helpers shared by the commands: turning flags and files into library objects, with clear errors. */

import { UserError, inFile } from '../errors.js';
import { parseNpy } from '../formats/npy.js';
import { readBytes } from '../formats/node-fs.js';
import { loadWeights, type LoadedWeights } from '../formats/load.js';
import { ARCH_NAMES, architecture, fitWidthsTo, isArchName, type Architecture } from '../model/architectures.js';
import type { Weights } from '../model/network.js';
import type { Backend } from '../backend/backend.js';
import { referenceBackend } from '../backend/reference.js';
import type { WasmBackend } from '../backend/wasm/backend.js';
import { createWasmBackendSync } from '../backend/wasm/node-backend.js';
import { defaultThreads } from '../backend/wasm/node-pool.js';
import type { Tensor } from '../tensor.js';
import type { OptionSpec } from './args.js';

export const ARCH_OPTION: OptionSpec = {
  type: 'string',
  arg: 'A',
  help: `Architecture: ${ARCH_NAMES.join(', ')}`,
};

export const BACKEND_OPTION: OptionSpec = {
  type: 'string',
  arg: 'B',
  help: 'Compute backend: wasm (WebAssembly SIMD kernels, every core) or reference (the plain loops of src/ops)',
  choices: ['reference', 'wasm'],
  default: 'wasm',
};

export const THREADS_OPTION: OptionSpec = {
  type: 'integer',
  arg: 'N',
  help: `Threads of the wasm backend [default: ${defaultThreads()}, every core]`,
};

export function archFromOption(value: unknown): Architecture {
  if (typeof value !== 'string') throw new UserError(`--arch is required: one of ${ARCH_NAMES.join(', ')}`);
  if (!isArchName(value)) throw new UserError(`unknown architecture "${value}": choose one of ${ARCH_NAMES.join(', ')}`);
  return architecture(value);
}

/** One wasm backend per thread count for the whole process (its worker threads do not keep Node alive). */
const wasmBackends = new Map<number, WasmBackend>();

/**
 * The backend named by --backend (and --threads for wasm). Undefined, for a command whose spec
 * leaves the option unset, is the reference backend.
 *
 * Synchronous: the wasm backend is set up with createWasmBackendSync (the worker threads start
 * while this thread waits), so callers may `await` the result or not. A process keeps one wasm
 * backend per thread count; handing it out again drops the weights it packed for the last caller.
 */
export function backendFromOption(value: unknown, threads?: unknown): Backend {
  if (value === undefined || value === 'reference') {
    if (threads !== undefined) throw new UserError('--threads is for --backend wasm');
    return referenceBackend;
  }
  if (value !== 'wasm') throw new UserError(`unknown backend "${String(value)}": choose wasm or reference`);
  const n = threads === undefined ? defaultThreads() : threads;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > 256) throw new UserError(`--threads must be an integer from 1 to 256, got ${String(threads)}`);
  let backend = wasmBackends.get(n);
  if (backend) {
    backend.weightsUpdated();
    return backend;
  }
  try {
    backend = createWasmBackendSync({ threads: n });
  } catch (e) {
    throw new UserError(`the wasm backend could not start (${(e as Error).message.split('\n')[0]}); --backend reference needs no build`);
  }
  wasmBackends.set(n, backend);
  return backend;
}

/** Weights of any supported format (safetensors, .pth, ONNX, .caffemodel), with progress for big files. */
export function loadWeightsFile(path: string, onProgress?: (done: number, total: number) => void): LoadedWeights {
  const bytes = readBytes(path);
  return loadWeights(bytes, path, { onProgress });
}

/**
 * The architecture named by --arch, at the width these weights have (the reduced-width variants
 * used by fixtures have every channel count divided by a factor).
 */
export function archForWeights(value: unknown, weights: Weights): Architecture {
  return fitWidthsTo(archFromOption(value), weights);
}

/** A float32 or float64 .npy batch [N, C, H, W]. */
export function loadInputNpy(path: string): Tensor {
  const bytes = readBytes(path);
  return inFile(path, () => {
    const a = parseNpy(bytes);
    if (a.dtype !== 'float32' && a.dtype !== 'float64') {
      throw new UserError(`input must be float32 or float64, got ${a.dtype}`);
    }
    if (a.shape.length !== 4) throw new UserError(`input must be a batch [N, C, H, W], got shape [${a.shape.join(', ')}]`);
    return { data: a.data as Float32Array | Float64Array, shape: a.shape };
  });
}

export function formatInt(n: number): string {
  return n.toLocaleString('en-US');
}
