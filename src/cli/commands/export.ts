import { UserError, inFile } from '../../errors.js';
import { inferArch } from '../../formats/load.js';
import { writeAtomic } from '../../formats/node-fs.js';
import { ARCH_NAMES, isArchName } from '../../model/architectures.js';
import { checkWeights } from '../../model/network.js';
import { exportOnnx } from '../../oracle/export-onnx.js';
import type { CommandSpec, ParsedOptions } from '../args.js';
import { ARCH_OPTION, archForWeights, loadWeightsFile } from '../common.js';
import { Progress } from '../progress.js';

export const exportSpec: CommandSpec = {
  name: 'export',
  summary: 'Write the network and its weights as an ONNX model that other runtimes run as the reference does.',
  usage: 'alexnet export --weights FILE --out model.onnx [--arch A] [--input-size S] [--all-outputs]',
  options: {
    weights: { type: 'string', arg: 'FILE', help: 'Weights: .safetensors, PyTorch .pth, ONNX or .caffemodel', required: true },
    arch: { ...ARCH_OPTION, help: `Architecture (default: from the file, else inferred): ${ARCH_NAMES.join(', ')}` },
    format: { type: 'string', arg: 'F', help: 'Output format', choices: ['onnx'], default: 'onnx' },
    out: { type: 'string', arg: 'FILE', help: 'The .onnx file to write', required: true },
    'input-size': { type: 'integer', arg: 'S', help: 'Square input size of the graph (default: the architecture\'s: 224, 227 or 28)' },
    'all-outputs': { type: 'boolean', help: 'Make every layer\'s output a graph output (to trace another runtime)' },
  },
  epilog: [
    'Opset 13: Conv (group), Relu, LRN, MaxPool (ceil rounding as explicit end padding), adaptive average',
    'pooling (Identity, AveragePool, or a MatMul by the averaging matrix), Flatten, Gemm transB=1, Softmax.',
    'Inputs "input" [N, C, S, S]; outputs "prob" and the logits "fc8". Values are named after the layers.',
    '',
    'Example:',
    '  alexnet export --weights alexnet-owt-7be5be79.pth --out alexnet.onnx',
  ].join('\n'),
};

export function runExport(options: ParsedOptions, out: (s: string) => void, err: (s: string) => void): void {
  if (options.arch !== undefined && !isArchName(String(options.arch))) {
    throw new UserError(`unknown architecture "${String(options.arch)}": choose one of ${ARCH_NAMES.join(', ')}`);
  }
  const size = options['input-size'] as number | undefined;
  if (size !== undefined && size < 1) throw new UserError(`--input-size must be positive, got ${size}`);
  const path = options.weights as string;
  const progress = new Progress('export', err);
  const loaded = loadWeightsFile(path, (done, total) => progress.update(`reading ${Math.round((100 * done) / total)}%`));
  progress.done();
  for (const note of loaded.notes) err(`export: ${note}\n`);
  const arch = inFile(path, () => {
    const a = archForWeights(options.arch ?? loaded.arch ?? inferArch(loaded.weights), loaded.weights);
    const s = size ?? a.inputSize;
    checkWeights(a, loaded.weights, [1, a.inputChannels, s, s]);
    return a;
  });
  const bytes = exportOnnx(arch, loaded.weights, { inputSize: size, allOutputs: Boolean(options['all-outputs']), metadata: { weights: path.split(/[\\/]/).pop()! } });
  writeAtomic(options.out as string, bytes);
  const s = size ?? arch.inputSize;
  out(`${options.out}: ONNX opset 13, ${arch.name}, input [N, ${arch.inputChannels}, ${s}, ${s}], ${(bytes.length / 1e6).toFixed(1)} MB\n`);
}
