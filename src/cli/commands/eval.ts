import { UserError, inFile } from '../../errors.js';
import { readBytes } from '../../formats/node-fs.js';
import { parseSafetensors } from '../../formats/safetensors.js';
import { weightsFromSafetensors } from '../../formats/weights.js';
import { checkWeights } from '../../model/network.js';
import { evaluate } from '../../train/loop.js';
import { FASHION_MNIST_DIR, loadFashionMnist } from '../../train/node-data.js';
import { FASHION_MNIST_NORMALISATION } from '../../train/presets.js';
import type { Normalisation } from '../../train/augment.js';
import type { CommandSpec, ParsedOptions } from '../args.js';
import { ARCH_OPTION, BACKEND_OPTION, archFromOption, backendFromOption } from '../common.js';
import { Progress } from '../progress.js';
import { DEFAULT_MODEL_PATH } from '../default-model.js';

export const evalSpec: CommandSpec = {
  name: 'eval',
  summary: 'Top-1 and top-5 error of a model on a labelled test set.',
  usage: 'alexnet eval --data fashion-mnist [--weights W.safetensors] [--json]',
  options: {
    data: { type: 'string', arg: 'SOURCE', help: 'Test data: fashion-mnist (its 10,000 test images)', required: true },
    'data-dir': { type: 'string', arg: 'DIR', help: `Where the Fashion-MNIST IDX files are [default: ${FASHION_MNIST_DIR}]` },
    weights: { type: 'string', arg: 'FILE', help: 'Weights (default: the bundled Fashion-MNIST model)' },
    arch: { ...ARCH_OPTION, help: 'Architecture (default: from the weights\' metadata, else mini)' },
    json: { type: 'boolean', help: 'Print JSON' },
    backend: BACKEND_OPTION,
  },
  epilog: 'Example:\n  alexnet eval --data fashion-mnist',
};

export function runEval(options: ParsedOptions, out: (s: string) => void): void {
  if (options.data !== 'fashion-mnist') throw new UserError(`--data ${String(options.data)}: only fashion-mnist is supported so far`);
  const path = (options.weights as string | undefined) ?? DEFAULT_MODEL_PATH;
  const bytes = readBytes(path);
  const { weights, metadata } = inFile(path, () => ({ weights: weightsFromSafetensors(bytes), metadata: parseSafetensors(bytes).metadata }));
  const arch = archFromOption((options.arch as string | undefined) ?? metadata.arch ?? 'mini');
  inFile(path, () => checkWeights(arch, weights, [1, 1, 28, 28]));
  const normalisation: Normalisation = metadata.normalisation ? JSON.parse(metadata.normalisation) : FASHION_MNIST_NORMALISATION;
  const backend = backendFromOption(options.backend);
  const { test } = loadFashionMnist((options['data-dir'] as string | undefined) ?? FASHION_MNIST_DIR);
  const progress = new Progress('eval');
  const r = evaluate(arch, weights, test, { crop: 28, pad: 0, normalisation }, backend, 250, (done, total) => progress.update(`${done}/${total}`));
  progress.done();
  if (options.json) {
    out(JSON.stringify({ weights: path, images: r.count, top1Error: 1 - r.top1, top5Error: 1 - r.top5, top1Accuracy: r.top1, loss: r.loss }) + '\n');
    return;
  }
  out(`${path} on Fashion-MNIST test (${r.count} images, centre crop)\n\n`);
  out('           top-1    top-5\n');
  out(`error    ${(100 * (1 - r.top1)).toFixed(2).padStart(6)}%  ${(100 * (1 - r.top5)).toFixed(2).padStart(6)}%\n`);
  out(`accuracy ${(100 * r.top1).toFixed(2).padStart(6)}%  ${(100 * r.top5).toFixed(2).padStart(6)}%\n`);
}
