import { readdirSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { type Model, classifyImages, parseLabels } from '../../classify.js';
import { UserError } from '../../errors.js';
import { readBytes } from '../../formats/node-fs.js';
import type { RgbImage } from '../../image/image.js';
import { loadImage } from '../../image/node-image.js';
import { evaluate } from '../../train/loop.js';
import { FASHION_MNIST_DIR, loadFashionMnist } from '../../train/node-data.js';
import type { CommandSpec, ParsedOptions } from '../args.js';
import { ARCH_OPTION, BACKEND_OPTION, THREADS_OPTION, backendFromOption } from '../common.js';
import { Progress } from '../progress.js';
import { listImages, loadModel } from './classify.js';

export const evalSpec: CommandSpec = {
  name: 'eval',
  summary: 'Top-1 and top-5 error of a model on a labelled folder of images or on Fashion-MNIST\'s test set.',
  usage: 'alexnet eval DIR --weights FILE [--ten-crop] [--labels FILE] | alexnet eval --data fashion-mnist [--weights FILE]',
  options: {
    weights: { type: 'string', arg: 'FILE', help: 'Weights of any supported format (default: the bundled Fashion-MNIST model)' },
    arch: { ...ARCH_OPTION, help: 'Architecture (default: from the file, else inferred from its tensors)' },
    data: { type: 'string', arg: 'SOURCE', help: 'fashion-mnist: its 10,000 test images (instead of DIR)', choices: ['fashion-mnist'] },
    'data-dir': { type: 'string', arg: 'DIR', help: `Where the Fashion-MNIST IDX files are [default: ${FASHION_MNIST_DIR}]` },
    'ten-crop': { type: 'boolean', help: 'Average the softmax over four corner and centre crops and their mirrors (paper, section 4.1)' },
    labels: { type: 'string', arg: 'FILE', help: 'Class names (or "synset name" lines, as Caffe\'s synset_words.txt), one per line' },
    json: { type: 'boolean', help: 'Print JSON' },
    batch: { type: 'integer', arg: 'N', help: 'Images per forward pass', default: 8 },
    backend: BACKEND_OPTION,
    threads: THREADS_OPTION,
  },
  epilog: [
    'DIR holds one sub-folder per class, named by class index (0, 1, ...), by synset id (n01440764, with',
    'a synset_words.txt given as --labels), or by label (case and _ / space ignored); images anywhere below.',
    '',
    'Examples:',
    '  alexnet eval --data fashion-mnist',
    '  alexnet eval imagenet-val/ --weights alexnet-owt-7be5be79.pth --ten-crop',
  ].join('\n'),
};

interface Result {
  images: number;
  top1Errors: number;
  top5Errors: number;
}

export function runEval(options: ParsedOptions, out: (s: string) => void, err: (s: string) => void, positionals: string[]): number {
  const progress = new Progress('eval', err);
  const backend = backendFromOption(options.backend, options.threads);
  let labelsFile: { labels: string[]; synsets?: string[] } | undefined;
  if (typeof options.labels === 'string') labelsFile = parseLabels(new TextDecoder().decode(readBytes(options.labels)));

  if (options.data === 'fashion-mnist') {
    if (positionals.length > 0) throw new UserError('eval: give either DIR or --data fashion-mnist, not both');
    const model = loadModel(options.weights as string | undefined, options.arch, options.labels, progress, backend);
    if (model.arch.inputChannels !== 1 || model.arch.numClasses !== 10) throw new UserError(`--data fashion-mnist needs a 1x28x28 network with 10 classes, not ${model.arch.name}`);
    const { test } = loadFashionMnist((options['data-dir'] as string | undefined) ?? FASHION_MNIST_DIR);
    const normalisation = { mean: [...model.preset.mean], std: [...model.preset.std] };
    const r = evaluate(model.arch, model.weights, test, { crop: 28, pad: 0, normalisation }, backend, 250, (d, t) => progress.update(`${d}/${t}`));
    progress.done();
    report(out, options, 'Fashion-MNIST test set', model, { images: r.count, top1Errors: Math.round((1 - r.top1) * r.count), top5Errors: Math.round((1 - r.top5) * r.count) });
    return 0;
  }

  if (positionals.length !== 1) throw new UserError("eval: name one labelled folder, or use --data fashion-mnist (see 'alexnet eval --help')");
  const dir = positionals[0];
  const model = loadModel(options.weights as string | undefined, options.arch, options.labels, progress, backend);
  const classes = classFolders(dir, model, labelsFile?.synsets);
  const batch = options.batch as number;
  const total = classes.reduce((n, c) => n + c.files.length, 0);
  if (total === 0) throw new UserError(`${dir}: no PNG or JPEG images in its class folders`);
  const result: Result = { images: 0, top1Errors: 0, top5Errors: 0 };
  const failures: string[] = [];
  const jobs = classes.flatMap((c) => c.files.map((file) => ({ file, index: c.index })));
  for (let start = 0; start < jobs.length; start += batch) {
    const chunk = jobs.slice(start, start + batch);
    const images: RgbImage[] = [];
    const truth: number[] = [];
    for (const job of chunk) {
      try {
        images.push(loadImage(job.file));
        truth.push(job.index);
      } catch (e) {
        if (!(e instanceof UserError)) throw e;
        failures.push(job.file);
        progress.done();
        err(`alexnet: ${e.message}\n`);
      }
    }
    const predictions = classifyImages(model, images, { top: 5, tenCrop: Boolean(options['ten-crop']), backend });
    predictions.forEach((p, i) => {
      result.images++;
      if (p[0].index !== truth[i]) result.top1Errors++;
      if (!p.some((q) => q.index === truth[i])) result.top5Errors++;
    });
    progress.update(`${Math.min(start + batch, jobs.length)}/${jobs.length} images, top-1 error so far ${((100 * result.top1Errors) / Math.max(1, result.images)).toFixed(2)}%`);
  }
  progress.done();
  report(out, options, `${dir} (${result.images} images, ${classes.length} classes)`, model, result);
  if (failures.length > 0) {
    err(`eval: ${failures.length} of ${jobs.length} images could not be read and were left out\n`);
    return 2;
  }
  return 0;
}

function report(out: (s: string) => void, options: ParsedOptions, what: string, model: Model, r: Result): void {
  const crops = options['ten-crop'] ? '10 crops' : '1 crop';
  const weights = (options.weights as string | undefined) ?? 'bundled model';
  if (options.json) {
    out(JSON.stringify({ weights, arch: model.arch.name, data: what, tenCrop: Boolean(options['ten-crop']), images: r.images, top1Error: r.top1Errors / r.images, top5Error: r.top5Errors / r.images }) + '\n');
    return;
  }
  const pct = (n: number): string => `${((100 * n) / r.images).toFixed(2)}%`;
  const name = `${basename(weights)} (${crops})`;
  const width = Math.max(5, name.length);
  out(`${what}\n\n`);
  out(`${'Model'.padEnd(width)}  ${'Top-1 error'.padStart(11)}  ${'Top-5 error'.padStart(11)}\n`);
  out(`${name.padEnd(width)}  ${pct(r.top1Errors).padStart(11)}  ${pct(r.top5Errors).padStart(11)}\n`);
}

/** Normalised for matching folder names against labels: lower case, _ and - as spaces. */
function normalise(s: string): string {
  return s.toLowerCase().replace(/[_-]+/g, ' ').replace(/\s+/g, ' ').trim();
}

/** Maps each sub-folder of `dir` to a class index: by index, by synset id, or by label. */
export function classFolders(dir: string, model: Model, synsets?: string[]): { name: string; index: number; files: string[] }[] {
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => statSync(join(dir, n)).isDirectory()).sort();
  } catch {
    throw new UserError(`${dir}: no such folder`);
  }
  if (names.length === 0) throw new UserError(`${dir}: no class folders (expected one sub-folder per class)`);
  const byLabel = new Map<string, number>();
  model.labels.forEach((label, i) => {
    byLabel.set(normalise(label), i);
    const first = normalise(label.split(',')[0]);
    if (!byLabel.has(first)) byLabel.set(first, i);
  });
  return names.map((name) => {
    let index = -1;
    if (/^\d+$/.test(name) && Number(name) < model.arch.numClasses) index = Number(name);
    else if (synsets?.includes(name)) index = synsets.indexOf(name);
    else index = byLabel.get(normalise(name)) ?? -1;
    if (index < 0) throw new UserError(`${join(dir, name)}: the folder name matches no class index, synset id or label of the model`);
    return { name, index, files: listImages([join(dir, name)]) };
  });
}
