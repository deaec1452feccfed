/**
 * A small, strict command-line parser: every command declares its options (with type, default and
 * help line), and anything undeclared or malformed is a UserError naming the flag.
 */

import { UserError } from '../errors.js';

export interface OptionSpec {
  type: 'string' | 'number' | 'integer' | 'boolean';
  help: string;
  /** Value placeholder in --help, e.g. FILE. */
  arg?: string;
  default?: string | number | boolean;
  /** Allowed values for strings. */
  choices?: readonly string[];
  required?: boolean;
}

export interface CommandSpec {
  name: string;
  summary: string;
  usage: string;
  options: Record<string, OptionSpec>;
  /** Text after the option list (examples, notes). */
  epilog?: string;
}

export type ParsedOptions = Record<string, string | number | boolean | undefined>;

export interface Parsed {
  options: ParsedOptions;
  positionals: string[];
  help: boolean;
}

export function parseArgs(spec: CommandSpec, argv: readonly string[]): Parsed {
  const options: ParsedOptions = {};
  const positionals: string[] = [];
  let help = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--help' || arg === '-h') {
      help = true;
      continue;
    }
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith('--')) {
      positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq < 0 ? undefined : eq);
    const opt = spec.options[name];
    if (!opt) throw new UserError(`${spec.name}: unknown option --${name} (see 'alexnet ${spec.name} --help')`);
    if (opt.type === 'boolean') {
      if (eq >= 0) throw new UserError(`${spec.name}: --${name} takes no value`);
      options[name] = true;
      continue;
    }
    let value: string;
    if (eq >= 0) value = arg.slice(eq + 1);
    else {
      if (i + 1 >= argv.length) throw new UserError(`${spec.name}: --${name} needs a value (${opt.arg ?? opt.type})`);
      value = argv[++i];
    }
    options[name] = convert(spec.name, name, opt, value);
  }
  if (!help) {
    for (const [name, opt] of Object.entries(spec.options)) {
      if (options[name] === undefined && opt.default !== undefined) options[name] = opt.default;
      if (opt.required && options[name] === undefined) {
        throw new UserError(`${spec.name}: --${name} is required (see 'alexnet ${spec.name} --help')`);
      }
    }
  }
  return { options, positionals, help };
}

function convert(command: string, name: string, opt: OptionSpec, value: string): string | number {
  if (opt.type === 'string') {
    if (opt.choices && !opt.choices.includes(value)) {
      throw new UserError(`${command}: --${name} must be one of ${opt.choices.join(', ')}; got "${value}"`);
    }
    return value;
  }
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || (opt.type === 'integer' && !Number.isInteger(n))) {
    throw new UserError(`${command}: --${name} must be ${opt.type === 'integer' ? 'an integer' : 'a number'}; got "${value}"`);
  }
  return n;
}

export function formatHelp(spec: CommandSpec): string {
  const lines = [`${spec.summary}`, '', `Usage: ${spec.usage}`, '', 'Options:'];
  const rows = Object.entries(spec.options).map(([name, opt]) => {
    const left = `--${name}${opt.type === 'boolean' ? '' : ` ${opt.arg ?? opt.type.toUpperCase()}`}`;
    let right = opt.help;
    if (opt.choices) right += ` (${opt.choices.join(', ')})`;
    if (opt.default !== undefined && opt.default !== false) right += ` [default: ${opt.default}]`;
    return [left, right] as const;
  });
  rows.push(['--help', 'Show this help']);
  const width = Math.max(...rows.map(([l]) => l.length)) + 2;
  for (const [l, r] of rows) lines.push(`  ${l.padEnd(width)}${r}`);
  if (spec.epilog) lines.push('', spec.epilog);
  return lines.join('\n') + '\n';
}
