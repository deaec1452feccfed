import { existsSync, readdirSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { UserError } from '../../errors.js';
import { readBytes } from '../../formats/node-fs.js';
import { isArchName, ARCH_NAMES, type ArchName } from '../../model/architectures.js';
import { compareTraces, formatReport } from '../../oracle/compare.js';
import { type LoadedTrace, traceFromFiles, traceFromNpy, traceFromSafetensors } from '../../oracle/trace-files.js';
import type { CommandSpec, ParsedOptions } from '../args.js';

export const compareSpec: CommandSpec = {
  name: 'compare',
  summary: 'Compare two traces tensor by tensor (errors, ulps, cosine); exit 1 if any is outside tolerance.',
  usage: 'alexnet compare A B [--rtol R] [--atol T] [--json] [--arch A]',
  options: {
    rtol: { type: 'number', arg: 'R', help: 'Element-wise: pass when |B - A| <= atol + rtol |A| (instead of the default tolerances)' },
    atol: { type: 'number', arg: 'T', help: 'Element-wise absolute tolerance (with or without --rtol)' },
    json: { type: 'boolean', help: 'Print the report as one JSON object' },
    arch: { type: 'string', arg: 'A', help: `Architecture, when neither trace has a manifest.json: ${ARCH_NAMES.join(', ')}` },
  },
  epilog: [
    'A and B are trace folders (manifest.json and <name>.npy files, ours or another backend\'s laid out',
    'the same way), trace .safetensors files, or single .npy files. The more precise side (float64) is',
    'the reference; otherwise A. Default tolerance per tensor: max |B - A| <= 16 u sqrt(K) max |A|, with',
    'u the unit roundoff of the less precise side and K the roundings on the way to the tensor (docs/oracle.md).',
    'Exit status: 0 all within tolerance, 1 some tensor outside it (the first is named), 2 bad input.',
    '',
    'Examples:',
    '  alexnet compare golden/ webgpu-trace/',
    '  alexnet compare golden/ mine.safetensors --rtol 1e-4 --atol 1e-6 --json',
  ].join('\n'),
};

/** A trace from a path: a folder of .npy files (with or without manifest.json), a .safetensors file, or one .npy file. */
export function readTracePath(path: string): LoadedTrace {
  if (!existsSync(path)) throw new UserError(`${path}: no such file or folder`);
  if (statSync(path).isDirectory()) {
    const files = new Map<string, Uint8Array>();
    for (const name of readdirSync(path).sort()) {
      if (name === 'manifest.json' || name.endsWith('.npy')) files.set(name, readBytes(join(path, name)));
    }
    return traceFromFiles(path, files);
  }
  const bytes = readBytes(path);
  if (path.endsWith('.npy') || (bytes.length >= 6 && bytes[0] === 0x93 && bytes[1] === 0x4e)) {
    return traceFromNpy(path, basename(path).replace(/\.npy$/, ''), bytes);
  }
  return traceFromSafetensors(path, bytes);
}

export function runCompare(options: ParsedOptions, out: (s: string) => void, _err: (s: string) => void, positionals: string[]): number {
  if (positionals.length !== 2) throw new UserError("compare: give two traces, A and B (see 'alexnet compare --help')");
  for (const name of ['rtol', 'atol'] as const) {
    const v = options[name];
    if (v !== undefined && !((v as number) >= 0)) throw new UserError(`compare: --${name} must be a non-negative number, got ${v}`);
  }
  if (options.arch !== undefined && !isArchName(String(options.arch))) {
    throw new UserError(`unknown architecture "${String(options.arch)}": choose one of ${ARCH_NAMES.join(', ')}`);
  }
  const [a, b] = positionals.map(readTracePath);
  const report = compareTraces(a, b, {
    rtol: options.rtol as number | undefined,
    atol: options.atol as number | undefined,
    arch: options.arch as ArchName | undefined,
  });
  out(options.json ? JSON.stringify(report, jsonSafe) + '\n' : formatReport(report));
  return report.pass ? 0 : 1;
}

/** JSON has no NaN or infinities: write them as strings rather than a silent null. */
function jsonSafe(_key: string, value: unknown): unknown {
  return typeof value === 'number' && !Number.isFinite(value) ? String(value) : value;
}
