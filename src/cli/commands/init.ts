import { UserError } from '../../errors.js';
import { writeAtomic } from '../../formats/node-fs.js';
import { weightsToSafetensors } from '../../formats/weights.js';
import { INIT_SCHEMES, initWeights, type InitScheme } from '../../model/init.js';
import type { CommandSpec, ParsedOptions } from '../args.js';
import { ARCH_OPTION, archFromOption } from '../common.js';

export const initSpec: CommandSpec = {
  name: 'init',
  summary: 'Write freshly initialised weights for an architecture as safetensors.',
  usage: 'alexnet init --arch A --seed S --out W.safetensors [--init paper|he|torch]',
  options: {
    arch: { ...ARCH_OPTION, required: true },
    seed: { type: 'integer', arg: 'S', help: 'Seed of the random generator (0 to 2^32-1)', required: true },
    out: { type: 'string', arg: 'FILE', help: 'Output .safetensors file', required: true },
    init: {
      type: 'string', arg: 'SCHEME', choices: INIT_SCHEMES, default: 'paper',
      help: 'paper: N(0, 0.01^2), biases 1 on conv2/4/5, fc6, fc7; he: N(0, 2/fan_in); torch: PyTorch defaults',
    },
    'input-size': { type: 'integer', arg: 'S', help: 'Input size the fc6 weights are shaped for (default: the architecture\'s own)' },
  },
  epilog: 'Example:\n  alexnet init --arch mini --seed 1 --init he --out mini-init.safetensors',
};

export function runInit(options: ParsedOptions, _out: (s: string) => void, err: (s: string) => void): void {
  const arch = archFromOption(options.arch);
  const seed = options.seed as number;
  if (seed < 0 || seed >= 2 ** 32) throw new UserError(`--seed must be in [0, 2^32), got ${seed}`);
  const scheme = options.init as InitScheme;
  const weights = initWeights(arch, scheme, seed, (options['input-size'] as number | undefined) ?? arch.inputSize);
  const out = options.out as string;
  writeAtomic(out, weightsToSafetensors(weights, { arch: arch.name, init: scheme, seed: String(seed) }));
  let count = 0;
  for (const t of weights.values()) count += t.data.length;
  err(`init: wrote ${out} (${arch.name}, ${scheme}, seed ${seed}, ${count.toLocaleString('en-US')} parameters)\n`);
}
