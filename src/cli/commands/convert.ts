import { UserError, inFile } from '../../errors.js';
import { writeAtomic } from '../../formats/node-fs.js';
import { inferArch } from '../../formats/load.js';
import { weightsToSafetensors } from '../../formats/weights.js';
import { isArchName, ARCH_NAMES } from '../../model/architectures.js';
import { checkWeights } from '../../model/network.js';
import type { CommandSpec, ParsedOptions } from '../args.js';
import { ARCH_OPTION, archForWeights, loadWeightsFile } from '../common.js';
import { Progress } from '../progress.js';

export const convertSpec: CommandSpec = {
  name: 'convert',
  summary: 'Convert weights (.pth, ONNX, .caffemodel, safetensors) to the project\'s safetensors.',
  usage: 'alexnet convert IN OUT.safetensors [--arch A]',
  options: {
    arch: { ...ARCH_OPTION, help: `Architecture (default: from the file, else inferred): ${ARCH_NAMES.join(', ')}` },
  },
  epilog: [
    'The output holds float32 tensors under the project\'s key names (torchvision: features.0.weight ...',
    'classifier.6.bias; others conv1.weight ... fc8.bias), and the architecture in its metadata.',
    '',
    'Example:',
    '  alexnet convert alexnet-owt-7be5be79.pth alexnet.safetensors',
  ].join('\n'),
};

export function runConvert(options: ParsedOptions, out: (s: string) => void, err: (s: string) => void, positionals: string[]): void {
  if (positionals.length !== 2) throw new UserError("convert: give an input and an output file (see 'alexnet convert --help')");
  const [input, output] = positionals;
  if (!output.endsWith('.safetensors')) throw new UserError(`${output}: the output must be a .safetensors file`);
  if (options.arch !== undefined && !isArchName(String(options.arch))) {
    throw new UserError(`unknown architecture "${String(options.arch)}": choose one of ${ARCH_NAMES.join(', ')}`);
  }
  const progress = new Progress('convert', err);
  const loaded = loadWeightsFile(input, (done, total) => progress.update(`reading ${Math.round((100 * done) / total)}%`));
  progress.done();
  const arch = inFile(input, () => {
    const a = archForWeights(options.arch ?? loaded.arch ?? inferArch(loaded.weights), loaded.weights);
    checkWeights(a, loaded.weights, [1, a.inputChannels, a.inputSize, a.inputSize]);
    return a;
  });
  for (const note of loaded.notes) err(`convert: ${note}\n`);
  writeAtomic(output, weightsToSafetensors(loaded.weights, { arch: arch.name, source: loaded.format }));
  let count = 0;
  for (const t of loaded.weights.values()) count += t.data.length;
  out(`${output}: ${loaded.weights.size} tensors, ${count.toLocaleString('en-US')} parameters (${arch.name}, from ${loaded.format})\n`);
}
