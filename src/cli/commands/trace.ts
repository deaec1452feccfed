import { mkdirSync, renameSync, rmSync, mkdtempSync, existsSync, statSync } from 'node:fs';
import { join, dirname, basename, resolve } from 'node:path';
import { UserError, inFile } from '../../errors.js';
import { writeAtomic } from '../../formats/node-fs.js';
import type { Weights } from '../../model/network.js';
import { checkWeights } from '../../model/network.js';
import { traceFiles, traceForward } from '../../oracle/trace.js';
import { type Tensor, cast } from '../../tensor.js';
import type { CommandSpec, ParsedOptions } from '../args.js';
import { ARCH_OPTION, BACKEND_OPTION, THREADS_OPTION, archForWeights, archFromOption, backendFromOption, loadInputNpy, loadWeightsFile } from '../common.js';
import { Progress } from '../progress.js';

export const traceSpec: CommandSpec = {
  name: 'trace',
  summary: 'Run the forward pass (eval mode) and write the input and every layer\'s output as .npy files.',
  usage: 'alexnet trace --arch A --weights FILE --input X.npy --out DIR [--backend reference]',
  options: {
    arch: { ...ARCH_OPTION, required: true },
    weights: { type: 'string', arg: 'FILE', help: 'Weights: .safetensors, PyTorch .pth, ONNX or .caffemodel', required: true },
    input: { type: 'string', arg: 'FILE', help: 'Input batch [N, C, H, W] (.npy, float32 or float64)', required: true },
    out: { type: 'string', arg: 'DIR', help: 'Folder for <layer>.npy files and manifest.json', required: true },
    backend: BACKEND_OPTION,
    threads: THREADS_OPTION,
  },
  epilog: [
    'A float64 input runs the whole pass in float64 (the weights are widened exactly).',
    'Files: DIR/input.npy, DIR/<layer>.npy for conv1, relu1, ... fc8, prob (a conv layer\'s output',
    'is before its ReLU), and DIR/manifest.json listing { name, op, shape, file } per layer.',
    '',
    'Example:',
    '  alexnet trace --arch torchvision --weights alexnet.safetensors --input x.npy --out trace/',
  ].join('\n'),
};

export function runTrace(options: ParsedOptions, out: (s: string) => void): void {
  archFromOption(options.arch); // an unknown name is reported before any file is read
  const backend = backendFromOption(options.backend, options.threads);
  const weightsPath = options.weights as string;
  const x = loadInputNpy(options.input as string);
  const progress = new Progress('trace');
  let weights: Weights = loadWeightsFile(weightsPath, (done, total) => progress.update(`loading weights ${Math.round((100 * done) / total)}%`)).weights;
  const arch = archForWeights(options.arch, weights);
  inFile(weightsPath, () => checkWeights(arch, weights, x.shape));
  if (x.data instanceof Float64Array) {
    weights = new Map([...weights].map(([k, t]) => [k, cast(t, 'float64')] as [string, Tensor]));
  }
  const trace = traceForward(arch, weights, x, backend, {
    onLayer: (i, n, spec) => progress.update(`${spec.name} (${i + 1}/${n})`),
  });
  progress.done();
  const files = traceFiles(trace);
  const dir = options.out as string;
  writeFolder(dir, files);
  out(`${resolve(dir)}: ${files.size - 1} tensors and manifest.json (${arch.name}, ${trace.dtype}, ${backend.name})\n`);
}

/**
 * Writes all files into a fresh temporary folder beside `dir`, then moves them into `dir`, so an
 * error half-way leaves no partial trace behind. Existing files of the same names are replaced.
 */
function writeFolder(dir: string, files: Map<string, Uint8Array>): void {
  if (existsSync(dir) && !statSync(dir).isDirectory()) throw new UserError(`${dir}: exists and is not a directory`);
  const parent = dirname(resolve(dir));
  let tmp: string;
  try {
    mkdirSync(parent, { recursive: true });
    tmp = mkdtempSync(join(parent, `.${basename(dir)}.tmp-`));
  } catch (e) {
    throw new UserError(`${dir}: cannot create folder (${(e as Error).message})`);
  }
  try {
    for (const [name, bytes] of files) writeAtomic(join(tmp, name), bytes);
    mkdirSync(dir, { recursive: true });
    for (const name of files.keys()) renameSync(join(tmp, name), join(dir, name));
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
