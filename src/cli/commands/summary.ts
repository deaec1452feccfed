import { UserError } from '../../errors.js';
import { ShapeError } from '../../model/shapes.js';
import { summarize } from '../../model/summary.js';
import type { CommandSpec, ParsedOptions } from '../args.js';
import { ARCH_OPTION, archFromOption, formatInt } from '../common.js';

export const summarySpec: CommandSpec = {
  name: 'summary',
  summary: 'Print every layer of an architecture with its output shape, parameters and multiply-accumulates.',
  usage: 'alexnet summary --arch A [--input-size S] [--json]',
  options: {
    arch: { ...ARCH_OPTION, required: true },
    'input-size': { type: 'integer', arg: 'S', help: 'Square input size (default: the architecture\'s own, 224 or 227, 28 for mini)' },
    json: { type: 'boolean', help: 'Print JSON instead of a table' },
  },
  epilog: 'Example:\n  alexnet summary --arch caffe\n  alexnet summary --arch torchvision --input-size 256 --json',
};

export function runSummary(options: ParsedOptions, out: (s: string) => void): void {
  const arch = archFromOption(options.arch);
  const size = (options['input-size'] as number | undefined) ?? arch.inputSize;
  if (size < 1) throw new UserError(`--input-size must be positive, got ${size}`);
  let s;
  try {
    s = summarize(arch, size);
  } catch (e) {
    if (e instanceof ShapeError) throw new UserError(`--input-size ${size}: ${e.message}`);
    throw e;
  }
  if (options.json) {
    out(JSON.stringify(s, null, 2) + '\n');
    return;
  }
  const rows = s.layers.map((l) => [l.name, l.op, l.outShape.join('x'), formatInt(l.params), formatInt(l.macs), formatKiB(l.activationBytes)]);
  rows.push(['total', '', '', formatInt(s.totalParams), formatInt(s.totalMacs), formatKiB(s.totalActivationBytes)]);
  const header = ['layer', 'op', 'output', 'params', 'MACs', 'activations'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]): string =>
    r.map((c, i) => (i >= 3 ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ').trimEnd();
  out(`${arch.name} AlexNet, input ${s.inputShape.join('x')} (per image; activations as float32)\n\n`);
  out(line(header) + '\n');
  for (const [i, r] of rows.entries()) {
    if (i === rows.length - 1) out(widths.map((w) => '-'.repeat(w)).join('  ') + '\n');
    out(line(r) + '\n');
  }
}

function formatKiB(bytes: number): string {
  return `${(bytes / 1024).toFixed(1)} KiB`;
}
