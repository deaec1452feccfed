/**
 * One training step, this project against PyTorch 1.13 on the CPU, side by side in one run:
 * forward in train mode (fresh dropout masks), mean cross-entropy, backward, and SGD with momentum
 * 0.9 and weight decay 5e-4 (PyTorch's form, src/train/optimizer.ts), on
 *
 *   mini    batch 128 of 1x28x28, 10 classes, lr 0.01 (one epoch of Fashion-MNIST = 469 steps)
 *   caffe   full-size BVLC AlexNet, batch 8 of 3x227x227, 1000 classes, lr 0.001
 *
 * with the synthetic weights (seed 1000), input (seed 7) and labels (seed 11) on both sides.
 *
 *   npx tsx bench/train-step.ts [--runs N] [--burst 3] [--backend wasm|reference] [--threads 2]
 *                               [--nets mini,caffe] [--quiet-below 0.15] [--max-wait-s 60]
 *
 * Ours is the `wasm` backend with --threads threads (default 2) when src/backend/wasm/backend.ts
 * is there, else the `reference` backend (plain loops, one thread), said so in the results. PyTorch
 * runs in bench/train-step.py --serve, a child process of /usr/bin/python3 (Debian's, which has
 * torch) with torch.set_num_threads(--threads); without torch the results say PyTorch is
 * unavailable and ours is timed alone.
 *
 * Per net: validate first (loss and the L2 norm of every parameter gradient at the initial
 * weights, every dropout unit kept, no update: ours against PyTorch, max relative difference
 * printed; ours is not timed past 1e-3), one warm-up step each, then --runs rounds in which each
 * engine takes --burst steps (default 3) back to back, timed on the mean of all but the first, the
 * engine going first alternating round by round, so that only one computes at a time. (A single
 * step right after an idle wait ran slower, PyTorch's by up to a quarter: it flattered us.) The
 * machine is shared: before each engine's turn the bench waits (up to --max-wait-s) until other
 * processes use less than --quiet-below of the CPUs, and records the share they used during it.
 * Reported: median ms per step, images per second, nominal GFLOP/s (3 x the forward's 2 x MACs:
 * forward, input gradient and weight gradient products), for mini the implied seconds per epoch,
 * and the ratio ours / PyTorch (median over rounds of the ratio within a round).
 *
 * Results: bench/results/train-step-<date>.md (and stdout); progress on stderr.
 */

import { type ChildProcessWithoutNullStreams, spawn, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { referenceBackend } from '../src/backend/reference.js';
import { inScope } from '../src/backend/backend.js';
import { type ArchName, architecture } from '../src/model/architectures.js';
import { lossAndGradients } from '../src/model/network.js';
import { inferShapes } from '../src/model/shapes.js';
import { summarize } from '../src/model/summary.js';
import { syntheticInput, syntheticLabels, syntheticWeights } from '../src/model/synthetic.js';
import { Rng } from '../src/rng.js';
import { residentTrainingState, sgdStepOn, zeroMomentum } from '../src/train/optimizer.js';
import {
  type DisposableBackend, errorText, loadWasmBackend, log, relaxedSimdFlags, rerunWithRelaxedSimd, waitForQuiet, withForeignLoad,
} from './engines.js';
import { machineDescription, median, today } from './machine.js';

const args = process.argv.slice(2);
const option = (name: string): string | undefined => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};

// The kernels' relaxed-SIMD build needs a flag on Node 20: re-run with it.
rerunWithRelaxedSimd(import.meta.url);

/** Debian's interpreter has PyTorch 1.13 (the pyenv python3 has none); TORCH_PYTHON overrides. */
const PYTHON = process.env.TORCH_PYTHON ?? '/usr/bin/python3';
const PY_SCRIPT = fileURLToPath(new URL('./train-step.py', import.meta.url));
const THREADS = Number(option('threads') ?? 2);
const NETS: Record<'mini' | 'caffe', { batch: number; lr: number }> = {
  mini: { batch: 128, lr: 0.01 },
  caffe: { batch: 8, lr: 0.001 },
};
const STEPS_PER_EPOCH = 469; // ceil(60000 / 128)
const WEIGHT_SEED = 1000;
const INPUT_SEED = 7;
const LABEL_SEED = 11;
const DROPOUT_SEED = 13;
const TOLERANCE = 1e-3;
/** Before each step, wait (up to MAX_WAIT_MS) until other processes use less than this share of the CPUs. */
const QUIET_BELOW = Number(option('quiet-below') ?? 0.15);
const MAX_WAIT_MS = 1000 * Number(option('max-wait-s') ?? 60);
/** A step is quiet when other processes used less than this share of the CPUs while it ran. */
const QUIET_SHARE = 0.1;
const waited = { ms: 0, busyStarts: 0 };
/** Steps per engine per round, back to back; the first is not timed (see runOurs). */
const BURST = Number(option('burst') ?? 3);
const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;


// ---------------------------------------------------------------------------------------------
// PyTorch, over a pipe.

class TorchServer {
  private readonly proc: ChildProcessWithoutNullStreams;
  private readonly lines: AsyncIterator<string>;

  constructor() {
    this.proc = spawn(PYTHON, [PY_SCRIPT, '--serve', '--threads', String(THREADS)], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.proc.stderr.on('data', (d: Buffer) => process.stderr.write(`[python] ${d}`));
    this.lines = createInterface({ input: this.proc.stdout })[Symbol.asyncIterator]();
  }

  async request<T>(req: object): Promise<T> {
    this.proc.stdin.write(`${JSON.stringify(req)}\n`);
    const next = await this.lines.next();
    if (next.done) throw new Error('bench/train-step.py --serve exited');
    const reply = JSON.parse(next.value);
    if (reply.error) throw new Error(`PyTorch: ${reply.error}`);
    return reply as T;
  }

  quit(): void {
    this.proc.stdin.end(`${JSON.stringify({ cmd: 'quit' })}\n`);
  }
}

/** Debian's python with torch, or why not. */
function torchAvailable(): { version: string } | { missing: string } {
  const r = spawnSync(PYTHON, ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8' });
  if (r.error) return { missing: `${PYTHON} cannot be run (${r.error.message})` };
  if (r.status !== 0) return { missing: `${PYTHON} has no torch (${r.stderr.trim().split('\n').pop()})` };
  return { version: r.stdout.trim() };
}

// ---------------------------------------------------------------------------------------------
// Ours.

class OurStep {
  readonly arch;
  readonly weights;
  readonly momentum;
  readonly x;
  readonly labels;
  readonly rng = new Rng(DROPOUT_SEED);

  constructor(readonly net: 'mini' | 'caffe', private readonly backend: DisposableBackend | typeof referenceBackend) {
    this.arch = architecture(net as ArchName);
    const { batch } = NETS[net];
    const S = this.arch.inputSize;
    // In the backend's memory when it has such memory, as `alexnet train` keeps them (the update in place).
    const weights = syntheticWeights(this.arch, WEIGHT_SEED);
    ({ weights: this.weights, momentum: this.momentum } = residentTrainingState(backend, weights, zeroMomentum(weights)));
    this.x = syntheticInput(INPUT_SEED, [batch, this.arch.inputChannels, S, S]);
    this.labels = syntheticLabels(LABEL_SEED, batch, this.arch.numClasses);
  }

  /** Loss and gradient norms with every dropout unit kept, at the current weights, no update. */
  check(): { loss: number; gradNorms: Record<string, number> } {
    const masks = new Map<string, Uint8Array>();
    for (const l of inferShapes(this.arch, this.x.shape)) {
      if (l.spec.kind === 'dropout') masks.set(l.spec.name, new Uint8Array(l.inShape.reduce((a, b) => a * b, 1)).fill(1));
    }
    const { loss, grads } = lossAndGradients(this.arch, this.weights, this.x, this.labels, this.backend, { masks });
    const gradNorms: Record<string, number> = {};
    for (const [k, g] of grads.params) {
      let s = 0;
      for (let i = 0; i < g.data.length; i++) s += g.data[i] * g.data[i];
      gradNorms[k] = Math.sqrt(s);
    }
    return { loss, gradNorms };
  }

  /** One step; `sgdMs` is the part spent in the optimiser (the backend's sgdStep when it has one, as the training loop does). */
  step(): { ms: number; sgdMs: number; loss: number } {
    // One scope per step, as the training loop runs it (Backend.scope).
    return inScope(this.backend, () => {
      const t0 = performance.now();
      const { loss, grads } = lossAndGradients(this.arch, this.weights, this.x, this.labels, this.backend, { rng: this.rng });
      const t1 = performance.now();
      sgdStepOn(this.backend, this.weights, grads.params, this.momentum, NETS[this.net].lr, { momentum: 0.9, weightDecay: 5e-4, update: 'pytorch' });
      if ('weightsUpdated' in this.backend) this.backend.weightsUpdated?.();
      const t2 = performance.now();
      return { ms: t2 - t0, sgdMs: t2 - t1, loss };
    });
  }
}

// ---------------------------------------------------------------------------------------------

interface NetResult {
  net: 'mini' | 'caffe';
  batch: number;
  validation?: { lossRel: number; gradRel: number; worstKey: string; ourLoss: number; torchLoss: number };
  skipped?: string;
  /** Per step: its round, time, loss, and the share of all CPUs other processes used meanwhile. */
  ours: { round: number; ms: number; sgdMs: number; loss: number; foreign: number }[];
  torch: { round: number; ms: number; loss: number; foreign: number }[];
}

async function main(): Promise<void> {
  const nets = (option('nets') ?? 'mini,caffe').split(',') as ('mini' | 'caffe')[];
  const wanted = option('backend') ?? 'wasm';
  const load0 = loadavg()[0];
  log(`machine: ${machineDescription()}; load average ${load0.toFixed(2)}`);

  // Ours: the wasm backend if there is one (and wanted), else the reference.
  let backend: DisposableBackend | typeof referenceBackend = referenceBackend;
  let oursLabel = 'ours: `reference` backend (src/ops plain loops, 1 thread)';
  let oursNote = '';
  if (wanted === 'wasm') {
    try {
      const got = await loadWasmBackend(THREADS);
      if ('backend' in got) {
        backend = got.backend;
        oursLabel = `ours: \`wasm\` backend, ${THREADS} thread(s)${got.backend.build ? `, ${got.backend.build} build` : ''}`;
      } else {
        oursNote = `The wasm backend is not available (${got.missing}): ours is the reference backend.`;
      }
    } catch (e) {
      oursNote = `The wasm backend failed to load (${errorText(e)}): ours is the reference backend.`;
    }
  }
  log(`${oursLabel}${oursNote ? ` - ${oursNote}` : ''}`);
  const slow = backend === referenceBackend;
  const runs = Number(option('runs') ?? (slow ? 3 : 7));

  const torchInfo = torchAvailable();
  const torch = 'version' in torchInfo ? new TorchServer() : null;
  const torchLabel = 'version' in torchInfo ? `PyTorch ${torchInfo.version} (CPU, torch.set_num_threads(${THREADS}))` : 'PyTorch';
  if ('missing' in torchInfo) log(`PyTorch unavailable: ${torchInfo.missing}`);

  const results: NetResult[] = [];
  for (const net of nets) {
    const res: NetResult = { net, batch: NETS[net].batch, ours: [], torch: [] };
    results.push(res);
    log(`${net}: setting up (batch ${res.batch}) ...`);
    const ours = new OurStep(net, backend);
    if (torch) await torch.request({ cmd: 'setup', net });

    // Validate.
    const mine = ours.check();
    if (torch) {
      const theirs = await torch.request<{ loss: number; gradNorms: Record<string, number> }>({ cmd: 'check', net });
      let gradRel = 0;
      let worstKey = '';
      for (const [k, n] of Object.entries(theirs.gradNorms)) {
        const rel = Math.abs((mine.gradNorms[k] ?? NaN) - n) / Math.max(n, 1e-30);
        if (!(rel <= gradRel)) {
          gradRel = rel;
          worstKey = k;
        }
      }
      const lossRel = Math.abs(mine.loss - theirs.loss) / Math.abs(theirs.loss);
      res.validation = { lossRel, gradRel, worstKey, ourLoss: mine.loss, torchLoss: theirs.loss };
      log(`${net} validation (all dropout units kept): loss ours ${mine.loss.toFixed(6)} vs PyTorch ${theirs.loss.toFixed(6)} ` +
        `(relative ${lossRel.toExponential(2)}); gradient L2 norms: max relative difference ${gradRel.toExponential(2)} (${worstKey})`);
      if (!(lossRel <= TOLERANCE && gradRel <= TOLERANCE)) {
        res.skipped = `ours differs from PyTorch by more than ${TOLERANCE} (loss ${lossRel.toExponential(2)}, gradients ${gradRel.toExponential(2)} at ${worstKey}): not timed`;
        log(`${net}: ${res.skipped}`);
        continue;
      }
    }

    // Warm up (the reference needs none past the validation pass), then alternate.
    if (!slow) ours.step();
    if (torch) await torch.request({ cmd: 'step', net });
    for (let round = 0; round < runs; round++) {
      const oursFirst = round % 2 === 0;
      const quiet = async (): Promise<void> => {
        const w = await waitForQuiet(QUIET_BELOW, MAX_WAIT_MS);
        waited.ms += w.waitedMs;
        if (!w.quiet) waited.busyStarts++;
      };
      // A turn is BURST steps back to back, the first untimed: a step right after the quiet wait
      // runs on idle threads and cold caches, which slowed PyTorch's steps by up to a quarter.
      const runOurs = async (): Promise<void> => {
        await quiet();
        const { value, foreign } = await withForeignLoad(() => {
          const steps = Array.from({ length: BURST }, () => ours.step()).slice(1);
          return { ms: mean(steps.map((r) => r.ms)), sgdMs: mean(steps.map((r) => r.sgdMs)), loss: steps[steps.length - 1].loss };
        });
        res.ours.push({ round, ...value, foreign });
      };
      const runTorch = async (): Promise<void> => {
        if (!torch) return;
        await quiet();
        const { value, foreign } = await withForeignLoad(
          async () => {
            const steps: { ms: number; cpu: number; loss: number }[] = [];
            for (let i = 0; i < BURST; i++) steps.push(await torch.request<{ ms: number; cpu: number; loss: number }>({ cmd: 'step', net }));
            return { ms: mean(steps.slice(1).map((r) => r.ms)), cpu: steps.reduce((a, r) => a + r.cpu, 0), loss: steps[steps.length - 1].loss };
          },
          (r) => r.cpu, // the python process's CPU is the steps', not another process's
        );
        res.torch.push({ round, ms: value.ms, loss: value.loss, foreign });
      };
      if (oursFirst) {
        await runOurs();
        await runTorch();
      } else {
        await runTorch();
        await runOurs();
      }
      const o = res.ours[res.ours.length - 1];
      const t = res.torch[res.torch.length - 1];
      const others = (f: number): string => (f >= 0.1 ? `, others ${(100 * f).toFixed(0)}%` : '');
      log(`${net} round ${round + 1}/${runs}: ours ${o.ms.toFixed(0)} ms (loss ${o.loss.toFixed(3)}${others(o.foreign)})` +
        (t ? `, PyTorch ${t.ms.toFixed(0)} ms (loss ${t.loss.toFixed(3)}${others(t.foreign)})` : ''));
    }
  }
  torch?.quit();
  if ('dispose' in backend) await backend.dispose();

  const report = formatReport(results, { oursLabel, oursNote, torchLabel, torchInfo, runs, load0, load1: loadavg()[0] });
  process.stdout.write(report);
  const file = new URL(`./results/train-step-${today()}.md`, import.meta.url);
  writeFileSync(file, report);
  log(`written to ${fileURLToPath(file)}`);
}

interface ReportInfo {
  oursLabel: string;
  oursNote: string;
  torchLabel: string;
  torchInfo: { version: string } | { missing: string };
  runs: number;
  load0: number;
  load1: number;
}

function formatReport(results: NetResult[], info: ReportInfo): string {
  const out = [
    '# AlexNet training step: this project against PyTorch',
    '',
    `- date: ${today()}`,
    `- machine: ${machineDescription()}; load average ${info.load0.toFixed(2)} at the start, ${info.load1.toFixed(2)} at the end`,
    '- step: forward in train mode (fresh dropout masks), mean cross-entropy, backward, SGD momentum 0.9, weight decay 5e-4 (PyTorch form); ' +
      `synthetic weights (seed ${WEIGHT_SEED}), input (seed ${INPUT_SEED}), labels (seed ${LABEL_SEED}); mini lr 0.01, caffe lr 0.001`,
    `- protocol: validated first (loss and every parameter gradient's L2 norm, all dropout units kept, ours vs PyTorch), one warm-up step each, ` +
      `then ${info.runs} rounds, each engine taking ${BURST} steps back to back per round and timed on the mean of all but the first (a step right after an idle wait is slower), the first engine alternating; medians. Ratio: median over rounds of ours / PyTorch in the round.`,
    `- ${info.oursLabel}${info.oursNote ? `. ${info.oursNote}` : ''}; each step in one Backend.scope, weights and momenta in the backend's memory when it has such memory (residentTrainingState), as \`alexnet train\` runs them`,
    `- PyTorch: ${'version' in info.torchInfo ? `${info.torchLabel}, bench/train-step.py --serve` : `unavailable: ${info.torchInfo.missing}`}`,
    `- shared machine: before each step the bench waited (up to ${MAX_WAIT_MS / 1000} s) for other processes to use less than ` +
      `${(100 * QUIET_BELOW).toFixed(0)}% of the CPUs (${(waited.ms / 1000).toFixed(0)} s in all; ${waited.busyStarts} steps started on a busier machine). ` +
      `"others": median share of all CPUs other processes used during the steps; quiet rounds: both steps under ${100 * QUIET_SHARE}%.`,
    `- command: \`npx tsx bench/train-step.ts${args.map((a) => ` ${a}`).join('')}\``,
    '',
    '| net | batch | engine | ms/step, median (best) | images/s | GFLOP/s (nominal) | s/epoch (469 steps) | ours / PyTorch | same, quiet rounds (n) | others | validation |',
    '|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const r of results) {
    const flop = 3 * 2 * summarize(architecture(r.net)).totalMacs * r.batch;
    const v = r.validation;
    const valid = v ? `loss ${v.lossRel.toExponential(1)}, grads ${v.gradRel.toExponential(1)}` : 'not validated (no PyTorch)';
    const ratios = (quietOnly: boolean): number[] => {
      const keep = (s: { foreign: number }): boolean => !quietOnly || s.foreign < QUIET_SHARE;
      const byRound = new Map(r.torch.filter(keep).map((t) => [t.round, t.ms]));
      return r.ours.filter((o) => keep(o) && byRound.has(o.round)).map((o) => o.ms / byRound.get(o.round)!);
    };
    const all = ratios(false);
    const quiet = ratios(true);
    const row = (engine: string, samples: { ms: number; foreign: number }[], ratio: string, quietRatio: string): string => {
      if (!samples.length) return `| ${r.net} | ${r.batch} | ${engine} | - | - | - | - | - | - | - | ${r.skipped ?? valid} |`;
      const ms = median(samples.map((s) => s.ms));
      const best = Math.min(...samples.map((s) => s.ms));
      return `| ${r.net} | ${r.batch} | ${engine} | ${ms.toFixed(0)} (best ${best.toFixed(0)}) | ${((r.batch * 1000) / ms).toFixed(1)} | ${(flop / (ms * 1e6)).toFixed(1)} | ` +
        `${r.net === 'mini' ? ((STEPS_PER_EPOCH * ms) / 1000).toFixed(0) : '-'} | ${ratio} | ${quietRatio} | ` +
        `${(100 * median(samples.map((s) => s.foreign))).toFixed(0)}% | ${valid} |`;
    };
    out.push(row(info.oursLabel, r.ours, all.length ? `${median(all).toFixed(2)}x` : '-', quiet.length ? `${median(quiet).toFixed(2)}x (${quiet.length})` : '-'));
    if ('version' in info.torchInfo) out.push(row(info.torchLabel, r.torch, '(baseline)', ''));
  }
  out.push('', 'Of ours, the optimiser step (the backend\'s sgdStep when it has one, else the JavaScript loop of src/train/optimizer.ts) took, median:', '');
  for (const r of results) {
    if (r.ours.length) out.push(`- ${r.net}: ${median(r.ours.map((o) => o.sgdMs)).toFixed(0)} ms of ${median(r.ours.map((o) => o.ms)).toFixed(0)} ms per step`);
  }
  out.push('', 'Losses of the timed steps (finite: no divergence, no NaN slowing either side):', '');
  for (const r of results) {
    const fmt = (s: { loss: number }[]): string => s.map((x) => x.loss.toFixed(3)).join(', ') || '-';
    out.push(`- ${r.net}: ours ${fmt(r.ours)}; PyTorch ${fmt(r.torch)}`);
  }
  out.push('');
  return out.join('\n');
}

await main();
