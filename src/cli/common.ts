/** Helpers shared by the commands: turning flags and files into library objects, with clear errors. */

import { UserError, inFile } from '../errors.js';
import { parseNpy } from '../formats/npy.js';
import { readBytes } from '../formats/node-fs.js';
import { loadWeights, type LoadedWeights } from '../formats/load.js';
import { ARCH_NAMES, architecture, fitWidthsTo, isArchName, type Architecture } from '../model/architectures.js';
import type { Weights } from '../model/network.js';
import type { Backend } from '../backend/backend.js';
import { referenceBackend } from '../backend/reference.js';
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
  help: 'Compute backend',
  choices: ['reference'],
  default: 'reference',
};

export function archFromOption(value: unknown): Architecture {
  if (typeof value !== 'string') throw new UserError(`--arch is required: one of ${ARCH_NAMES.join(', ')}`);
  if (!isArchName(value)) throw new UserError(`unknown architecture "${value}": choose one of ${ARCH_NAMES.join(', ')}`);
  return architecture(value);
}

export function backendFromOption(value: unknown): Backend {
  if (value === undefined || value === 'reference') return referenceBackend;
  throw new UserError(`unknown backend "${String(value)}": choose reference`);
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
