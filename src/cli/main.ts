/**
 * The `alexnet` command: dispatches to one file per command. This is the only place that prints:
 * results go to stdout, progress and messages to stderr. Errors about the user's input are one
 * line and exit status 2; anything else is a bug, reported in one line with exit status 1 (set
 * ALEXNET_DEBUG=1 to see the stack).
 */

import { UserError } from '../errors.js';
import type { Writer } from './progress.js';
import { type CommandSpec, type ParsedOptions, formatHelp, parseArgs } from './args.js';
import { initSpec, runInit } from './commands/init.js';
import { runSummary, summarySpec } from './commands/summary.js';
import { runTrace, traceSpec } from './commands/trace.js';
import { runTrain, trainSpec } from './commands/train.js';
import { evalSpec, runEval } from './commands/eval.js';
import { classifySpec, runClassify } from './commands/classify.js';
import { convertSpec, runConvert } from './commands/convert.js';
import { compareSpec, runCompare } from './commands/compare.js';
import { exportSpec, runExport } from './commands/export.js';
import { runViz, vizSpec } from './commands/viz.js';
import { benchSpec, runBench } from './commands/bench.js';

interface Command {
  spec: CommandSpec;
  /** Returns the exit status when it is not 0 (e.g. 2 when some inputs of a batch failed). */
  run: (options: ParsedOptions, out: Writer, err: Writer, positionals: string[]) => number | void | Promise<number | void>;
}

const COMMANDS: Command[] = [
  { spec: classifySpec, run: runClassify },
  { spec: summarySpec, run: runSummary },
  { spec: traceSpec, run: runTrace },
  { spec: initSpec, run: runInit },
  { spec: trainSpec, run: runTrain },
  { spec: evalSpec, run: runEval },
  { spec: convertSpec, run: runConvert },
  { spec: compareSpec, run: runCompare },
  { spec: exportSpec, run: runExport },
  { spec: vizSpec, run: runViz },
  { spec: benchSpec, run: runBench },
];

function usage(): string {
  const width = Math.max(...COMMANDS.map((c) => c.spec.name.length)) + 2;
  return [
    'alexnet: AlexNet in TypeScript: a readable reference of every op, traces for checking other backends.',
    '',
    'Usage: alexnet <command> [options]',
    '',
    'Commands:',
    ...COMMANDS.map((c) => `  ${c.spec.name.padEnd(width)}${c.spec.summary}`),
    '',
    "Run 'alexnet <command> --help' for a command's options.",
    '',
  ].join('\n');
}

export interface Io {
  out: Writer;
  err: Writer;
}

const defaultIo: Io = {
  out: (s) => void process.stdout.write(s),
  err: Object.assign((s: string) => void process.stderr.write(s), { isTTY: process.stderr.isTTY }),
};

/** Runs the CLI on `argv` (without node and script) and returns the exit status. */
export async function main(argv: readonly string[], io: Io = defaultIo): Promise<number> {
  const [name, ...rest] = argv;
  try {
    if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
      io.out(usage());
      return 0;
    }
    if (name === '--version') {
      io.out('alexnet 0.1.0\n');
      return 0;
    }
    const command = COMMANDS.find((c) => c.spec.name === name);
    if (!command) throw new UserError(`unknown command "${name}" (commands: ${COMMANDS.map((c) => c.spec.name).join(', ')})`);
    const parsed = parseArgs(command.spec, rest);
    if (parsed.help) {
      io.out(formatHelp(command.spec));
      return 0;
    }
    return (await command.run(parsed.options, io.out, io.err, parsed.positionals)) ?? 0;
  } catch (e) {
    if (e instanceof UserError) {
      io.err(`alexnet: ${e.message}\n`);
      return 2;
    }
    const message = e instanceof Error ? e.message : String(e);
    io.err(`alexnet: internal error: ${message.split('\n')[0]} (this is a bug; ALEXNET_DEBUG=1 shows the stack)\n`);
    if (process.env.ALEXNET_DEBUG) io.err(`${(e as Error).stack}\n`);
    return 1;
  }
}
