import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { type Model, type Prediction, classifyImages, modelFromBytes, parseLabels } from '../../classify.js';
import { UserError, inFile } from '../../errors.js';
import { readBytes, readWeightBytes } from '../../formats/node-fs.js';
import type { Backend } from '../../backend/backend.js';
import type { RgbImage } from '../../image/image.js';
import { loadImage } from '../../image/node-image.js';
import { type ArchName, isArchName, ARCH_NAMES } from '../../model/architectures.js';
import type { CommandSpec, ParsedOptions } from '../args.js';
import { ARCH_OPTION, BACKEND_OPTION, THREADS_OPTION, backendFromOption } from '../common.js';
import { DEFAULT_MODEL_PATH } from '../default-model.js';
import { Progress } from '../progress.js';
import { existsSync } from 'node:fs';

export const classifySpec: CommandSpec = {
  name: 'classify',
  summary: 'Print the most probable classes of images (PNG, JPEG; folders are walked recursively).',
  usage: 'alexnet classify IMAGE|DIR... [--weights FILE] [--arch A] [--top K] [--ten-crop] [--json] [--labels FILE]',
  options: {
    weights: { type: 'string', arg: 'FILE', help: 'Weights: .safetensors, PyTorch .pth, ONNX, .caffemodel (default: the bundled Fashion-MNIST model)' },
    arch: { ...ARCH_OPTION, help: `Architecture (default: from the file, else inferred from its tensors): ${ARCH_NAMES.join(', ')}` },
    top: { type: 'integer', arg: 'K', help: 'Classes to print per image', default: 5 },
    'ten-crop': { type: 'boolean', help: 'Average over the four corner and centre crops and their mirrors' },
    json: { type: 'boolean', help: 'One JSON object per line: {"file", "top": [{"index", "label", "prob"}]}' },
    labels: { type: 'string', arg: 'FILE', help: 'Class names, one per line (default: from the weights, else ImageNet\'s)' },
    batch: { type: 'integer', arg: 'N', help: 'Images per forward pass', default: 8 },
    backend: BACKEND_OPTION,
    threads: THREADS_OPTION,
  },
  epilog: [
    'Preprocessing follows the weights: torchvision (shorter side 256, centre 224, ImageNet mean/std),',
    'caffe (warp to 256x256, centre 227, BGR minus the mean), mini (gray 28x28, Fashion-MNIST statistics).',
    'A file that cannot be read is reported on stderr and skipped; the exit status is then 2.',
    '',
    'Examples:',
    '  alexnet classify fixtures/images/fashion-mnist/',
    '  alexnet classify photo.jpg --weights alexnet-owt-7be5be79.pth --top 5',
    '  alexnet classify photos/ --weights bvlcalexnet-12.onnx --json',
  ].join('\n'),
};

const IMAGE_EXTENSIONS = /\.(png|jpe?g)$/i;

/** The files named, with folders walked recursively for PNG and JPEG files (sorted). */
export function listImages(paths: readonly string[]): string[] {
  const files: string[] = [];
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir).sort()) {
      const p = join(dir, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (IMAGE_EXTENSIONS.test(name)) files.push(p);
    }
  };
  for (const p of paths) {
    if (!existsSync(p)) throw new UserError(`${p}: no such file or folder`);
    if (statSync(p).isDirectory()) walk(p);
    else files.push(p);
  }
  return files;
}

/**
 * The model of --weights (or the bundled one). With a backend that keeps weights in its own memory
 * (the wasm backend), a safetensors or zip .pth file is read straight into that memory and used
 * there: the process holds one copy of the weights.
 */
export function loadModel(weightsPath: string | undefined, arch: unknown, labelsPath: unknown, progress: Progress, backend?: Backend): Model {
  if (arch !== undefined && (typeof arch !== 'string' || !isArchName(arch))) {
    throw new UserError(`unknown architecture "${String(arch)}": choose one of ${ARCH_NAMES.join(', ')}`);
  }
  const path = weightsPath ?? DEFAULT_MODEL_PATH;
  if (weightsPath === undefined && !existsSync(path)) {
    throw new UserError(`the bundled model ${path} is missing: pass --weights FILE`);
  }
  let labels: string[] | undefined;
  if (typeof labelsPath === 'string') {
    const bytes = readBytes(labelsPath);
    labels = parseLabels(new TextDecoder().decode(bytes)).labels;
  }
  const bytes = readWeightBytes(path, {
    into: backend?.allocateResident?.bind(backend),
    onProgress: (done, total) => progress.update(`reading ${path}: ${Math.round((100 * done) / total)}%`),
  });
  const model = modelFromBytes(bytes, path, {
    arch: arch as ArchName | undefined,
    labels,
    onProgress: (done, total) => progress.update(`loading ${path}: ${Math.round((100 * done) / total)}%`),
  });
  progress.done();
  return model;
}

export function runClassify(options: ParsedOptions, out: (s: string) => void, err: (s: string) => void, positionals: string[]): number {
  if (positionals.length === 0) throw new UserError("classify: name at least one image or folder (see 'alexnet classify --help')");
  const top = options.top as number;
  const batch = options.batch as number;
  if (top < 1) throw new UserError(`--top must be at least 1, got ${top}`);
  if (batch < 1) throw new UserError(`--batch must be at least 1, got ${batch}`);
  const progress = new Progress('classify', err);
  const files = listImages(positionals);
  if (files.length === 0) throw new UserError(`no PNG or JPEG files in ${positionals.join(', ')}`);
  const backend = backendFromOption(options.backend, options.threads);
  const model = loadModel(options.weights as string | undefined, options.arch, options.labels, progress, backend);
  for (const note of model.notes) err(`classify: ${note}\n`);

  const failures: string[] = [];
  const print = (file: string, predictions: Prediction[]): void => {
    if (options.json) {
      out(JSON.stringify({ file, top: predictions.map((p) => ({ index: p.index, label: p.label, prob: p.prob })) }) + '\n');
      return;
    }
    out(`${file}\n`);
    predictions.forEach((p, i) => out(`  ${String(i + 1).padStart(2)}. ${(100 * p.prob).toFixed(2).padStart(6)}%  ${p.label} (${p.index})\n`));
  };

  for (let start = 0; start < files.length; start += batch) {
    const chunk = files.slice(start, start + batch);
    const images: RgbImage[] = [];
    const names: string[] = [];
    for (const file of chunk) {
      try {
        images.push(loadImage(file));
        names.push(file);
      } catch (e) {
        if (!(e instanceof UserError)) throw e;
        failures.push(file);
        progress.done();
        err(`alexnet: ${e.message}\n`);
      }
    }
    if (files.length > 1) progress.update(`${Math.min(start + batch, files.length)}/${files.length} images`);
    const predictions = inFile(names.join(', '), () => classifyImages(model, images, { top, tenCrop: Boolean(options['ten-crop']), backend }));
    progress.done();
    names.forEach((file, i) => print(file, predictions[i]));
  }
  if (failures.length > 0) {
    err(`classify: ${failures.length} of ${files.length} images could not be read\n`);
    return 2;
  }
  return 0;
}
