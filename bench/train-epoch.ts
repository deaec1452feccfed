/**
 * One real epoch of training, `alexnet train --arch mini --data fashion-mnist` against PyTorch 1.13
 * on the CPU (bench/train-epoch.py, the same recipe), on the same machine, taking turns:
 *
 *   npx tsx bench/train-epoch.ts [--rounds 1] [--threads 2] [--data-dir /usr/share/datasets/fashion-mnist]
 *
 * Each round runs both, one after the other, the one going first alternating round by round, so
 * that only one computes at a time; before each the bench waits (up to a minute) for other
 * processes to use less than 15% of the CPUs, and it records the share they used during the run.
 * bench/train-step.ts times single steps on fixed data; this is the whole epoch as a user runs it:
 * 469 steps over the 60,000 shuffled, augmented training images, then the 10,000 test images.
 *
 * Reported per engine: the training time of the epoch (its steps, batch assembly included: for
 * ours the `seconds` of metrics.jsonl), the whole run (process start to exit: loading the data,
 * the test-set evaluation, and for ours writing the checkpoint, model and curves), the test
 * accuracy after the epoch (both must learn), and ours / PyTorch of the training time, the median
 * over rounds of the ratio within a round. About 10 minutes a round on 2 cores.
 *
 * Results: bench/results/train-epoch-<date>.md (and stdout); progress on stderr.
 */

import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { flag, log, waitForQuiet, withForeignLoad } from './engines.js';
import { machineDescription, median, today } from './machine.js';

const args = process.argv.slice(2);
const option = (name: string): string | undefined => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const ROUNDS = flag(args, 'rounds', 1);
const THREADS = flag(args, 'threads', 2);
const DATA_DIR = option('data-dir') ?? '/usr/share/datasets/fashion-mnist';
/** Debian's interpreter has PyTorch 1.13 (the pyenv python3 has none); TORCH_PYTHON overrides. */
const PYTHON = process.env.TORCH_PYTHON ?? '/usr/bin/python3';
const ALEXNET = fileURLToPath(new URL('../bin/alexnet.js', import.meta.url));
const PY_SCRIPT = fileURLToPath(new URL('./train-epoch.py', import.meta.url));
const QUIET_BELOW = 0.15;

interface Run {
  round: number;
  /** Seconds: the epoch's steps; the whole process. */
  train: number;
  whole: number;
  testAccuracy: number;
  trainLoss: number;
  /** Share of all CPUs other processes used during the run. */
  foreign: number;
}

/** CPU seconds a process has used so far, all its threads (Linux /proc), or NaN. */
function processCpuSeconds(pid: number): number {
  try {
    // pid (comm) state ... : utime and stime are fields 14 and 15, counted after the ')' of comm
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return NaN;
  }
}

/** Runs a command to its end: its stdout, wall seconds, and CPU seconds (sampled until it exits). */
function runChild(command: string, argv: string[]): Promise<{ stdout: string; wall: number; cpu: number }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(command, argv, { stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    let cpu = 0;
    const sample = setInterval(() => {
      const s = processCpuSeconds(child.pid!);
      if (s >= 0) cpu = s;
    }, 250);
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.on('error', (e) => {
      clearInterval(sample);
      reject(e);
    });
    child.on('close', (status) => {
      clearInterval(sample);
      if (status !== 0) reject(new Error(`${command} ${argv.join(' ')} exited with status ${status}`));
      else resolve({ stdout, wall: (performance.now() - t0) / 1000, cpu });
    });
  });
}

async function ours(round: number): Promise<Run> {
  const out = mkdtempSync(join(tmpdir(), 'alexnet-train-epoch-'));
  try {
    const { value, foreign } = await withForeignLoad(
      () => runChild(process.execPath, [ALEXNET, 'train', '--arch', 'mini', '--data', 'fashion-mnist', '--data-dir', DATA_DIR,
        '--epochs', '1', '--threads', String(THREADS), '--out', out]),
      (r) => r.cpu,
    );
    const record = JSON.parse(readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n')[0]);
    return { round, train: record.seconds, whole: value.wall, testAccuracy: record.testAccuracy, trainLoss: record.trainLoss, foreign };
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

async function pytorch(round: number): Promise<Run> {
  const { value, foreign } = await withForeignLoad(
    () => runChild(PYTHON, [PY_SCRIPT, '--threads', String(THREADS), '--data-dir', DATA_DIR]),
    (r) => r.cpu,
  );
  const r = JSON.parse(value.stdout.trim().split('\n').pop()!);
  return { round, train: r.trainSeconds, whole: value.wall, testAccuracy: r.testAccuracy, trainLoss: r.trainLoss, foreign };
}

function torchVersion(): string | null {
  const r = spawnSync(PYTHON, ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
}

async function main(): Promise<void> {
  const version = torchVersion();
  if (!version) throw new Error(`${PYTHON} has no torch: apt-get install python3-torch (or set TORCH_PYTHON)`);
  const load0 = loadavg()[0];
  log(`machine: ${machineDescription()}; load average ${load0.toFixed(2)}`);
  const runs: { ours: Run[]; torch: Run[] } = { ours: [], torch: [] };
  let waitedMs = 0;
  let busyStarts = 0;
  const quiet = async (): Promise<void> => {
    const w = await waitForQuiet(QUIET_BELOW, 60_000);
    waitedMs += w.waitedMs;
    if (!w.quiet) busyStarts++;
  };
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 === 0 ? (['ours', 'torch'] as const) : (['torch', 'ours'] as const);
    for (const engine of order) {
      await quiet();
      log(`round ${round + 1}/${ROUNDS}: ${engine === 'ours' ? 'alexnet train' : 'PyTorch'}, one epoch ...`);
      const run = engine === 'ours' ? await ours(round) : await pytorch(round);
      runs[engine].push(run);
      log(`  training ${run.train.toFixed(1)} s, whole run ${run.whole.toFixed(1)} s, test accuracy ${(100 * run.testAccuracy).toFixed(2)}%, others ${(100 * run.foreign).toFixed(0)}%`);
    }
  }
  const ratios = runs.ours.map((o, i) => o.train / runs.torch[i].train);
  const wholeRatios = runs.ours.map((o, i) => o.whole / runs.torch[i].whole);

  const row = (label: string, rs: Run[], ratio: string): string => {
    const m = (f: (r: Run) => number): number => median(rs.map(f));
    return `| ${label} | ${m((r) => r.train).toFixed(1)} (${rs.map((r) => r.train.toFixed(1)).join(', ')}) | ${m((r) => r.whole).toFixed(1)} | ` +
      `${(60000 / m((r) => r.train)).toFixed(1)} | ${m((r) => r.trainLoss).toFixed(4)} | ${(100 * m((r) => r.testAccuracy)).toFixed(2)}% | ${ratio} | ${(100 * m((r) => r.foreign)).toFixed(0)}% |`;
  };
  const report = [
    '# One epoch of training mini on Fashion-MNIST: `alexnet train` against PyTorch',
    '',
    `- date: ${today()}`,
    `- machine: ${machineDescription()}; load average ${load0.toFixed(2)} at the start, ${loadavg()[0].toFixed(2)} at the end`,
    `- both: mini, He initialisation (seed 1), batch 128, SGD lr 0.03, momentum 0.9, weight decay 5e-4, dropout 0.5, 28x28 crops of the image padded to 32x32 and flips; one epoch (469 steps), then the 10,000 test images; ${THREADS} thread(s)`,
    `- ours: \`node bin/alexnet.js train --arch mini --data fashion-mnist --epochs 1 --threads ${THREADS} --out <tmp>\` (wasm backend); training time from its metrics.jsonl`,
    `- PyTorch: ${version} (CPU, torch.set_num_threads(${THREADS})), \`${PYTHON} bench/train-epoch.py --threads ${THREADS}\``,
    `- protocol: ${ROUNDS} round(s), each running both, the first alternating; before each run the bench waited (up to 60 s) for other processes to use less than ${100 * QUIET_BELOW}% of the CPUs (${(waitedMs / 1000).toFixed(0)} s in all; ${busyStarts} run(s) started on a busier machine). "others": the share of all CPUs other processes used during the run.`,
    `- command: \`npx tsx bench/train-epoch.ts --rounds ${ROUNDS}\``,
    '',
    '| engine | training s/epoch, median (each round) | whole run s | images/s | train loss | test accuracy | ours / PyTorch (training) | others |',
    '|---|---|---|---|---|---|---|---|',
    row('ours (`alexnet train`, wasm)', runs.ours, `**${median(ratios).toFixed(2)}x** (${ratios.map((r) => `${r.toFixed(2)}x`).join(', ')})`),
    row(`PyTorch ${version}`, runs.torch, '(baseline)'),
    '',
    `Whole runs, ours / PyTorch: ${wholeRatios.map((r) => `${r.toFixed(2)}x`).join(', ')} (past training, ours also writes a checkpoint, the model and curves.png).`,
    '',
  ].join('\n');
  process.stdout.write(report);
  const file = new URL(`./results/train-epoch-${today()}.md`, import.meta.url);
  writeFileSync(file, report);
  log(`written to ${fileURLToPath(file)}`);
}

main().catch((e) => {
  log(`bench/train-epoch.ts: ${(e as Error).message}`);
  process.exit(1);
});
