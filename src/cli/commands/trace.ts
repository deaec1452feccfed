import { createHash } from 'node:crypto';
import { mkdirSync, renameSync, rmSync, mkdtempSync, existsSync, readFileSync, statSync } from 'node:fs';
import { join, dirname, basename, resolve } from 'node:path';
import { UserError, inFile } from '../../errors.js';
import { loadWeights } from '../../formats/load.js';
import { readBytes, writeAtomic } from '../../formats/node-fs.js';
import { parseNpy } from '../../formats/npy.js';
import { loadImage } from '../../image/node-image.js';
import { preprocess, presetFor } from '../../image/preprocess.js';
import type { Weights } from '../../model/network.js';
import { checkWeights } from '../../model/network.js';
import { type SourceInfo, masksFromTrace, traceFiles, traceSafetensors } from '../../oracle/trace-files.js';
import { labelsFromArray, makeTrace } from '../../oracle/trace.js';
import type { Tensor } from '../../tensor.js';
import type { CommandSpec, ParsedOptions } from '../args.js';
import { ARCH_OPTION, BACKEND_OPTION, THREADS_OPTION, archForWeights, archFromOption, backendFromOption, loadInputNpy } from '../common.js';
import { readTracePath } from './compare.js';
import { Progress, type Writer } from '../progress.js';

export const traceSpec: CommandSpec = {
  name: 'trace',
  summary: 'Write every layer\'s output (and with --backward the loss and every gradient) for checking other backends.',
  usage: 'alexnet trace --arch A --weights FILE (--input X.npy | --image FILE) --out DIR [--backward --labels Y.npy] [--train] [--dtype float64]',
  options: {
    arch: { ...ARCH_OPTION, required: true },
    weights: { type: 'string', arg: 'FILE', help: 'Weights: .safetensors, PyTorch .pth, ONNX or .caffemodel', required: true },
    input: { type: 'string', arg: 'FILE', help: 'Input batch [N, C, H, W] (.npy, float32 or float64)' },
    image: { type: 'string', arg: 'FILE', help: 'A PNG or JPEG picture instead, preprocessed as the architecture\'s weights expect' },
    out: { type: 'string', arg: 'DIR', help: 'Folder for <name>.npy files and manifest.json (a .safetensors file with --format safetensors)', required: true },
    // The oracle's default is the plain loops of src/ops; --backend wasm traces the fast kernels.
    backend: { ...BACKEND_OPTION, default: 'reference' },
    threads: THREADS_OPTION,
    dtype: { type: 'string', arg: 'T', help: 'Run the whole pass in this type (default: the input\'s)', choices: ['float32', 'float64'] },
    backward: { type: 'boolean', help: 'Also write the loss, dL/d(output) of every layer and every parameter gradient' },
    labels: { type: 'string', arg: 'FILE', help: 'Class indices [N] for --backward: .npy (int64 or int32), or written out: 281 or 3,7' },
    train: { type: 'boolean', help: 'Dropout in training mode; the masks are written as <drop>.mask.npy' },
    seed: { type: 'integer', arg: 'S', help: 'Seed of the dropout masks with --train [default: 0]' },
    masks: { type: 'string', arg: 'DIR', help: 'Replay these masks (<drop>.mask.npy, e.g. an earlier trace); implies --train' },
    format: { type: 'string', arg: 'F', help: 'One .npy per tensor in a folder, or one safetensors file', choices: ['npy', 'safetensors'] },
  },
  epilog: [
    'Files (docs/oracle.md has the whole layout): manifest.json, input.npy, <layer>.npy for conv1, relu1,',
    '... fc8, prob (a conv layer\'s output is before its ReLU); with --backward labels.npy, loss.npy,',
    '<layer>.grad.npy (dL/d output), <param key>.grad.npy (conv1.weight.grad.npy, ...), input.grad.npy;',
    'with --train <drop>.mask.npy (uint8, 1 = kept). float64 runs the whole pass in float64 (weights',
    'widened exactly): the golden values; its manifest also records our own float32 error per tensor.',
    '',
    'Examples:',
    '  alexnet trace --arch torchvision --weights alexnet-owt-7be5be79.pth --image cat.jpg --out trace/',
    '  alexnet trace --arch caffe --weights w.safetensors --input x.npy --backward --labels y.npy --dtype float64 --out golden/',
  ].join('\n'),
};

export function runTrace(options: ParsedOptions, out: Writer, err: Writer): void {
  archFromOption(options.arch); // an unknown name is reported before any file is read
  const backend = backendFromOption(options.backend, options.threads);
  if ((options.input === undefined) === (options.image === undefined)) throw new UserError('trace: give either --input X.npy or --image FILE');
  if (options.backward && options.labels === undefined) throw new UserError('trace: --backward needs --labels Y.npy (class indices)');
  if (!options.backward && options.labels !== undefined) throw new UserError('trace: --labels is used with --backward');
  if (options.seed !== undefined && !options.train) throw new UserError('trace: --seed is used with --train');
  const dir = options.out as string;
  const format = (options.format as string | undefined) ?? (dir.endsWith('.safetensors') ? 'safetensors' : 'npy');

  const weightsPath = options.weights as string;
  const progress = new Progress('trace', err);
  const weightBytes = readBytes(weightsPath);
  const loaded = loadWeights(weightBytes, weightsPath, { onProgress: (done, total) => progress.update(`loading weights ${Math.round((100 * done) / total)}%`) });
  const weights: Weights = loaded.weights;
  const arch = archForWeights(options.arch, weights);
  const sources: Record<string, SourceInfo> = { weights: { file: basename(weightsPath), format: loaded.format, sha256: sha256(weightBytes) } };

  let x: Tensor;
  if (options.input !== undefined) {
    const path = options.input as string;
    x = loadInputNpy(path);
    sources.input = { file: basename(path), sha256: sha256(readBytes(path)) };
  } else {
    const path = options.image as string;
    const preset = presetFor(arch.name);
    x = inFile(path, () => preprocess(loadImage(path), preset));
    sources.input = { file: basename(path), sha256: sha256(readBytes(path)), preset: preset.name };
  }
  inFile(weightsPath, () => checkWeights(arch, weights, x.shape));

  let labels: Int32Array | undefined;
  if (options.labels !== undefined) {
    const path = options.labels as string;
    if (/^\d+(,\d+)*$/.test(path) && !existsSync(path)) {
      // A list written out, --labels 281 or --labels 3,7: one class index per sample.
      const list = path.split(',').map(Number);
      labels = inFile('--labels', () => labelsFromArray({ dtype: 'int64', shape: [list.length], data: list }, x.shape[0], arch.numClasses));
      sources.labels = { list };
    } else {
      const bytes = readBytes(path);
      labels = inFile(path, () => labelsFromArray(parseNpy(bytes), x.shape[0], arch.numClasses));
      sources.labels = { file: basename(path), sha256: sha256(bytes) };
    }
  }
  let masks: Map<string, Uint8Array> | undefined;
  if (options.masks !== undefined) {
    const path = options.masks as string;
    const dropouts = arch.layers.filter((l) => l.kind === 'dropout').map((l) => l.name);
    masks = masksFromTrace(readTracePath(path), dropouts);
    sources.masks = { file: basename(path) };
  }

  const run = () => makeTrace(arch, weights, x, backend, {
    dtype: options.dtype as 'float32' | 'float64' | undefined,
    labels,
    train: Boolean(options.train),
    masks,
    seed: options.seed as number | undefined,
    onLayer: (i, n, spec) => progress.update(`${spec.name} (${i + 1}/${n})`),
  });
  const trace = options.masks !== undefined ? inFile(options.masks as string, run) : run(); // mask sizes are checked here
  progress.done();
  const manifest = { tool: toolVersion(), sources, hash: sha256 };
  let count = trace.tensors.length;
  if (format === 'safetensors') {
    if (existsSync(dir) && statSync(dir).isDirectory()) throw new UserError(`${dir}: is a folder; --format safetensors writes one file`);
    writeAtomic(dir, traceSafetensors(trace, manifest));
  } else {
    const files = traceFiles(trace, manifest);
    writeFolder(dir, files);
    count = files.size - 1;
  }
  const loss = trace.loss === undefined ? '' : `, loss ${trace.loss}`;
  out(`${resolve(dir)}: ${count} tensors${format === 'npy' ? ' and manifest.json' : ''} (${arch.name}, ${trace.dtype}, ${trace.mode}, ${backend.name}${loss})\n`);
}

/** SHA-256 with Node's crypto (the library's own sha256Hex gives the same digests, slower). */
function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** "alexnet-ts 0.1.0", from package.json (beside src/ and dist/ alike). */
function toolVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { name: string; version: string };
    return `${pkg.name} ${pkg.version}`;
  } catch {
    return 'alexnet-ts';
  }
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
