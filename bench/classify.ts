/**
 * `alexnet classify` of one image with full-size weights, cold start to printed result, against
 * onnxruntime-node and tfjs-wasm doing the same job. The issue: "time and peak memory of classify
 * on one image with full-size weights, cold start to printed result; against onnxruntime-node and
 * tfjs-wasm doing the same job. Target: peak memory at most the weights' size plus 20% plus 100 MB."
 *
 * Setup, once, in a temporary folder under os.tmpdir() (removed at the end): synthetic torchvision
 * weights (seed 1000) written as safetensors by the project's writer with `arch` metadata, as
 * `alexnet init` writes them, and the same weights as the ONNX graph `alexnet export` writes
 * (src/oracle/export-onnx.ts, outputs `prob` and `fc8`). The target's budget is computed from the
 * safetensors file's size: 1.2 x size + 100 MB.
 *
 * Every run is a fresh process (a cold process; the files are in the OS cache), timed by the parent
 * from spawn to exit:
 *
 *   ours-T        `node bin/alexnet.js classify IMAGE --weights W.safetensors --threads T --json`:
 *                 exactly the user's command on the compiled dist/ (so `npm run build` first), the
 *                 wasm backend on T = 1, 2 threads. bin/alexnet.js turns relaxed SIMD on by itself
 *                 on Node 20, so no Node flag is added.
 *   ort-node-T    onnxruntime-node, native CPU provider, intraOpNumThreads T (1, 2). A child of this
 *                 script, `node --import tsx bench/classify.ts --child ort-node ...`, creates the
 *                 session from W.onnx on disk, decodes and preprocesses the image with this
 *                 project's loadImage and preprocess (torchvision preset, as classify does), runs
 *                 the graph and prints the top 5 of its `prob` output as `classify --json` does.
 *   tfjs-wasm     @tensorflow/tfjs-backend-wasm (XNNPACK, SIMD; single-threaded in Node). The child
 *                 reads W.safetensors (parseSafetensors), builds the network in tfjs ops as
 *                 bench/peers.ts does, the same preprocessing, softmax, top 5.
 *   startup-*     for scale, what a process costs before it does anything: `node -e 0`,
 *                 `node bin/alexnet.js --version` (ours' modules loaded) and
 *                 `node --import tsx bench/classify.ts --child noop` (the peers' children's start,
 *                 TypeScript compiled by tsx, from its cache).
 *
 * Peak memory: the process's maxRSS (RSS high-water mark, worker threads included), from GNU time
 * (`/usr/bin/time -f '%M %U %S'`) wrapped around the command; without GNU time (or with
 * --no-gnu-time), from a hook preloaded with --import that writes process.resourceUsage() at exit.
 *
 * Protocol: one untimed round first (it validates: every engine's top-5 classes must be ours',
 * else a warning and a mark in the table; and it fills the OS and tsx caches), then --runs rounds
 * in which every engine runs once, in an order rotated round by round. The machine is shared:
 * before each run the parent waits (up to --max-wait-s) until other processes use less than
 * --quiet-below of all CPUs, and records the share they used during the run (/proc/stat busy time
 * minus the child's and the parent's own CPU time): the "others" column.
 *
 *   npm run build && npx tsx bench/classify.ts [--runs 5] [--quiet-below 0.15] [--max-wait-s 60] [--no-gnu-time]
 *
 * Reported per engine: median ms from spawn to exit, the spread, the ratio to tfjs-wasm (median
 * over rounds of the ratio within the round), median and largest peak RSS; then the memory target
 * for ours (PASS or FAIL on the largest peak over the runs) and ours' cold start against each peer.
 *
 * Output: the markdown report on stdout and in bench/results/classify-<date>.md; progress on stderr.
 */

import type * as TF from '@tensorflow/tfjs-core';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { weightsFromSafetensors, weightsToSafetensors } from '../src/formats/weights.js';
import { loadImage } from '../src/image/node-image.js';
import { preprocess, presetFor } from '../src/image/preprocess.js';
import { architecture } from '../src/model/architectures.js';
import { IMAGENET_CLASSES } from '../src/model/imagenet-classes.js';
import type { Tensor } from '../src/tensor.js';
import { cpuJiffies, errorText, flag, log, packageDir, packageVersion, waitForQuiet } from './engines.js';
import { machineDescription, median, today } from './machine.js';

/** The repository root: every child runs there, so that the commands read as a user types them. */
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SCRIPT = 'bench/classify.ts';
const BIN = 'bin/alexnet.js';
const IMAGE = 'fixtures/images/png/rgb_500x375.png';
const ARCH = architecture('torchvision');
const WEIGHT_SEED = 1000;
const TOP = 5;
const BASELINE = 'tfjs-wasm';
const GNU_TIME = '/usr/bin/time';
/** Seconds of CPU per /proc/stat jiffy (USER_HZ, as in bench/engines.ts). */
const JIFFY_S = 0.01;
/** A run is quiet when other processes used less than this share of all CPUs during it (as bench/peers.ts). */
const QUIET_SHARE = 0.1;
/** Quiet rounds needed before the ratios are judged on quiet rounds alone. */
const MIN_QUIET_ROUNDS = 3;

// ---------------------------------------------------------------------------------------------
// The engines and their commands.

type Kind = 'ours' | 'ort-node' | 'tfjs-wasm' | 'startup-node' | 'startup-ours' | 'startup-tsx';

interface EngineSpec {
  id: string;
  kind: Kind;
  threads: number;
}

const ENGINES: EngineSpec[] = [
  { id: 'ours-1', kind: 'ours', threads: 1 },
  { id: 'ours-2', kind: 'ours', threads: 2 },
  { id: 'ort-node-1', kind: 'ort-node', threads: 1 },
  { id: 'ort-node-2', kind: 'ort-node', threads: 2 },
  { id: 'tfjs-wasm', kind: 'tfjs-wasm', threads: 1 },
  { id: 'startup-node', kind: 'startup-node', threads: 1 },
  { id: 'startup-ours', kind: 'startup-ours', threads: 1 },
  { id: 'startup-tsx', kind: 'startup-tsx', threads: 1 },
];

const isStartup = (kind: Kind): boolean => kind.startsWith('startup');

function label(kind: Kind): string {
  switch (kind) {
    case 'ours': return 'ours: `alexnet classify`, wasm backend';
    case 'ort-node': return `onnxruntime-node ${packageVersion('onnxruntime-node')} (native CPU EP)`;
    case 'tfjs-wasm': return `@tensorflow/tfjs-backend-wasm ${packageVersion('@tensorflow/tfjs-backend-wasm')} (XNNPACK, SIMD)`;
    case 'startup-node': return 'startup only: `node -e 0`';
    case 'startup-ours': return 'startup only: `node bin/alexnet.js --version`';
    case 'startup-tsx': return 'startup only: `node --import tsx bench/classify.ts --child noop`';
  }
}

interface Files {
  safetensors: string;
  onnx: string;
}

/** The arguments after `node`, relative to ROOT. */
function engineArgs(spec: EngineSpec, files: Files): string[] {
  const threads = String(spec.threads);
  switch (spec.kind) {
    case 'ours': return [BIN, 'classify', IMAGE, '--weights', files.safetensors, '--threads', threads, '--json'];
    case 'ort-node': return ['--import', 'tsx', SCRIPT, '--child', 'ort-node', '--weights', files.onnx, '--threads', threads, IMAGE];
    case 'tfjs-wasm': return ['--import', 'tsx', SCRIPT, '--child', 'tfjs-wasm', '--weights', files.safetensors, IMAGE];
    case 'startup-node': return ['-e', '0'];
    case 'startup-ours': return [BIN, '--version'];
    case 'startup-tsx': return ['--import', 'tsx', SCRIPT, '--child', 'noop'];
  }
}

// ---------------------------------------------------------------------------------------------
// Child side: a peer doing what `alexnet classify IMAGE --json` does, as a user's script would.

interface Prediction {
  index: number;
  label: string;
  prob: number;
}

function option(argv: string[], name: string): string | undefined {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : undefined;
}

async function child(argv: string[]): Promise<void> {
  const kind = argv[0];
  if (kind === 'noop') return;
  const weightsPath = option(argv, 'weights')!;
  const file = argv[argv.length - 1];
  const x = preprocess(loadImage(file), presetFor(ARCH.name)); // as classify: shorter side 256, centre 224
  const { probs, note } = kind === 'ort-node'
    ? await ortNode(weightsPath, Number(option(argv, 'threads') ?? 1), x)
    : kind === 'tfjs-wasm' ? await tfjsWasm(weightsPath, x) : { probs: null, note: '' };
  if (!probs) throw new Error(`unknown child engine "${kind}"`);
  // The k largest, largest first, ties to the lower index (as src/classify.ts topK).
  const top = Array.from(probs.keys()).sort((a, b) => probs[b] - probs[a] || a - b).slice(0, TOP);
  process.stderr.write(`note: ${note}\n`);
  process.stdout.write(JSON.stringify({ file, top: top.map((index) => ({ index, label: IMAGENET_CLASSES[index], prob: probs[index] })) }) + '\n');
}

async function ortNode(path: string, threads: number, x: Tensor<Float32Array>): Promise<{ probs: Float32Array; note: string }> {
  const ort = await import('onnxruntime-node');
  const session = await ort.InferenceSession.create(path, {
    graphOptimizationLevel: 'all', executionMode: 'sequential', intraOpNumThreads: threads, interOpNumThreads: 1,
  });
  const out = await session.run({ input: new ort.Tensor('float32', x.data, [...x.shape]) }, ['prob']);
  return { probs: out.prob.data as Float32Array, note: `intraOpNumThreads ${threads}; session created from the .onnx file; the graph's \`prob\` output` };
}

/** torchvision AlexNet in tfjs ops as bench/peers.ts builds it: NHWC, HWIO filters, conv and fc fused with bias and ReLU. */
async function tfjsWasm(path: string, x: Tensor<Float32Array>): Promise<{ probs: Float32Array; note: string }> {
  const tf = await import('@tensorflow/tfjs-core');
  const wasm = await import('@tensorflow/tfjs-backend-wasm');
  wasm.setWasmPaths(join(packageDir('@tensorflow/tfjs-backend-wasm'), 'dist') + '/'); // files on disk
  if (!(await tf.setBackend('wasm'))) throw new Error('tf.setBackend("wasm") failed');
  const weights = weightsFromSafetensors(readFileSync(path));
  /** A weight transposed into tfjs' layout; the stored order is dropped at once. */
  const weight = (param: string, perm: number[]): TF.Tensor => {
    const w = weights.get(`${param}.weight`)!;
    return tf.tidy(() => tf.transpose(tf.tensor(w.data, [...w.shape]), perm));
  };
  const bias = (param: string): TF.Tensor1D => tf.tensor1d(weights.get(`${param}.bias`)!.data);
  const steps: ((h: TF.Tensor) => TF.Tensor)[] = [];
  const layers = ARCH.layers;
  for (let i = 0; i < layers.length; i++) {
    const spec = layers[i];
    const activation = layers[i + 1]?.kind === 'relu' ? 'relu' : 'linear';
    if (spec.kind === 'conv') {
      if (spec.groups !== 1) throw new Error('tfjs model: no grouped convolutions here');
      const filter = weight(spec.param, [2, 3, 1, 0]) as TF.Tensor4D; // [OC, C, KH, KW] -> [KH, KW, C, OC]
      const b = bias(spec.param);
      steps.push((h) => tf.fused.conv2d({ x: h as TF.Tensor4D, filter, strides: spec.stride, pad: spec.pad, bias: b, activation }));
    } else if (spec.kind === 'linear') {
      // [out, in] -> [in, out]: tfjs-backend-wasm 4.22's fused.matMul is wrong with transposeB and a bias (bench/peers.ts).
      const w = weight(spec.param, [1, 0]) as TF.Tensor2D;
      const b = bias(spec.param);
      steps.push((h) => tf.fused.matMul({ a: h as TF.Tensor2D, b: w, bias: b, activation }));
    } else if (spec.kind === 'maxpool') {
      if (spec.pads.some((p) => p !== 0) || spec.rounding !== 'floor') throw new Error('tfjs model: only unpadded floor pooling');
      steps.push((h) => tf.maxPool(h as TF.Tensor4D, spec.kernel, spec.stride, 'valid'));
    } else if (spec.kind === 'adaptiveavgpool') {
      steps.push((h) => { // the identity at 224 (6x6 in, 6x6 out): checked, not computed
        if (h.shape[1] !== spec.outH || h.shape[2] !== spec.outW) throw new Error('tfjs model: adaptive pooling is only the identity here');
        return h;
      });
    } else if (spec.kind === 'flatten') {
      steps.push((h) => tf.reshape(tf.transpose(h, [0, 3, 1, 2]), [h.shape[0], -1])); // PyTorch flattens channel-major
    } else if (spec.kind === 'softmax') {
      steps.push((h) => tf.softmax(h));
    } else if (spec.kind === 'relu') {
      steps.push((h) => tf.relu(h));
    } else if (spec.kind !== 'dropout') {
      throw new Error(`tfjs model: no ${spec.kind} here`);
    }
    if ((spec.kind === 'conv' || spec.kind === 'linear') && activation === 'relu') i++; // fused
  }
  const probs = tf.tidy(() => {
    let h: TF.Tensor = tf.transpose(tf.tensor4d(x.data, x.shape as [number, number, number, number]), [0, 2, 3, 1]);
    for (const step of steps) h = step(h);
    return h.dataSync() as Float32Array;
  });
  const simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
  return { probs, note: `WASM_HAS_SIMD_SUPPORT ${simd}, getThreadsCount() ${wasm.getThreadsCount()}; weights from the safetensors file, transposed to tfjs' layouts` };
}

// ---------------------------------------------------------------------------------------------
// Parent side: one measured process.

/** Where the fallback hook writes its figures (the env var names the file). */
const STATS_ENV = 'CLASSIFY_BENCH_STATS';
/** Without GNU time: preloaded with --import, writes "maxRSS-KiB user-s system-s" at exit, as GNU time -f '%M %U %S' would. */
const RSS_HOOK = 'data:text/javascript,' + encodeURIComponent(
  'import{writeFileSync}from"node:fs";import{isMainThread}from"node:worker_threads";' +
  `if(isMainThread)process.on("exit",()=>{const u=process.resourceUsage();writeFileSync(process.env.${STATS_ENV},u.maxRSS+" "+u.userCPUTime/1e6+" "+u.systemCPUTime/1e6)});`,
);

interface Measured {
  /** From spawn to exit. */
  ms: number;
  /** maxRSS in bytes. */
  peak: number;
  /** Share of all CPUs other processes used during the run (NaN off Linux). */
  foreign: number;
  code: number | null;
  stdout: string;
  stderr: string;
}

async function runOnce(args: string[], statsFile: string, useGnuTime: boolean): Promise<Measured> {
  rmSync(statsFile, { force: true });
  const [cmd, argv] = useGnuTime
    ? [GNU_TIME, ['-f', '%M %U %S', '-o', statsFile, process.execPath, ...args]]
    : [process.execPath, ['--import', RSS_HOOK, ...args]];
  const j0 = cpuJiffies();
  const own0 = process.cpuUsage();
  const t0 = performance.now();
  const proc = spawn(cmd, argv, { cwd: ROOT, env: { ...process.env, [STATS_ENV]: statsFile }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  proc.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
  proc.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  const closed = new Promise<void>((resolve) => proc.on('close', () => resolve()));
  const code = await new Promise<number | null>((resolve, reject) => {
    proc.on('error', reject);
    proc.on('exit', (c) => resolve(c));
  });
  const ms = performance.now() - t0;
  const own = process.cpuUsage(own0);
  const j1 = cpuJiffies();
  await closed;
  let peak = NaN;
  let cpu = 0;
  if (existsSync(statsFile)) {
    // GNU time puts "Command exited with non-zero status N" first when it did: the figures are the last line.
    const [kib, user, system] = readFileSync(statsFile, 'utf8').trim().split('\n').at(-1)!.split(/\s+/).map(Number);
    peak = kib * 1024;
    cpu = user + system;
  }
  const busy = j0 && j1 ? (j1.busy - j0.busy) * JIFFY_S - cpu - (own.user + own.system) / 1e6 : NaN;
  const foreign = Math.min(1, Math.max(0, busy / ((ms / 1000) * cpus().length)));
  return { ms, peak, foreign, code, stdout, stderr };
}

/** The top-k of the last JSON line a classifier printed. */
function parseTop(stdout: string): Prediction[] | undefined {
  const line = stdout.trim().split('\n').reverse().find((l) => l.startsWith('{'));
  try {
    return line ? (JSON.parse(line) as { top: Prediction[] }).top : undefined;
  } catch {
    return undefined;
  }
}

/** src/ and assembly/ files changed after dist/ and build/ were made: `npm run build` is due. */
function staleBuild(): string[] {
  const missing = ['dist/cli/main.js', 'build/kernels-simd.wasm'].filter((p) => !existsSync(join(ROOT, p)));
  if (missing.length) {
    throw new Error(`${missing.join(' and ')} missing: run \`npm run build\` first (bin/alexnet.js runs the compiled dist/ and build/*.wasm)`);
  }
  const mtime = (p: string): number => statSync(join(ROOT, p)).mtimeMs;
  const sources = (dir: string): string[] => readdirSync(join(ROOT, dir), { recursive: true })
    .map(String).filter((p) => p.endsWith('.ts') && !p.endsWith('.d.ts')).map((p) => join(dir, p));
  const kernels = mtime('build/kernels-simd.wasm');
  return [
    ...sources('src').filter((p) => {
      const js = join('dist', p.slice('src/'.length).replace(/\.ts$/, '.js'));
      return !existsSync(join(ROOT, js)) || mtime(js) < mtime(p);
    }),
    ...sources('assembly').filter((p) => mtime(p) > kernels),
  ];
}

/** Synthetic full-size weights as safetensors (as `alexnet init` writes) and as ONNX (as `alexnet export`). */
async function writeWeights(dir: string): Promise<Files & { weightBytes: number; onnxBytes: number }> {
  // Imported here: the children need neither.
  const { syntheticWeights } = await import('../src/model/synthetic.js');
  const { exportOnnx } = await import('../src/oracle/export-onnx.js');
  const weights = syntheticWeights(ARCH, WEIGHT_SEED);
  const safetensors = join(dir, 'torchvision-synthetic.safetensors');
  writeFileSync(safetensors, weightsToSafetensors(weights, { arch: ARCH.name, init: 'synthetic', seed: String(WEIGHT_SEED) }));
  const onnx = join(dir, 'torchvision-synthetic.onnx');
  writeFileSync(onnx, exportOnnx(ARCH, weights));
  return { safetensors, onnx, weightBytes: statSync(safetensors).size, onnxBytes: statSync(onnx).size };
}

// ---------------------------------------------------------------------------------------------
// Parent side: the rounds.

interface Run {
  round: number;
  ms: number;
  peak: number;
  foreign: number;
  quiet: boolean;
  top?: Prediction[];
}

interface EngineResult {
  spec: EngineSpec;
  args: string[];
  note: string;
  runs: Run[];
  /** Runs that failed (exit status, missing output), one line each. */
  failures: string[];
  /** Runs whose top-5 classes were not ours'. */
  mismatches: string[];
  /** Largest |prob - ours' prob| over the top-5 classes, over the runs. */
  maxProbDiff: number;
}

async function parent(args: string[]): Promise<void> {
  const runs = flag(args, 'runs', 5);
  const quietBelow = flag(args, 'quiet-below', 0.15);
  const maxWaitMs = 1000 * flag(args, 'max-wait-s', 60);
  const stale = staleBuild();
  if (stale.length) log(`warning: changed since the last \`npm run build\`: ${stale.join(', ')}; ours runs the old build`);
  const useGnuTime = existsSync(GNU_TIME) && !args.includes('--no-gnu-time');
  const load0 = loadavg()[0];
  log(`machine: ${machineDescription()}; load average ${load0.toFixed(2)}`);

  const tmp = mkdtempSync(join(tmpdir(), 'alexnet-classify-bench-'));
  try {
    log('writing the synthetic weights (safetensors and ONNX) ...');
    const files = await writeWeights(tmp);
    log(`weights: ${files.safetensors} (${(files.weightBytes / 1e6).toFixed(1)} MB), ${files.onnx} (${(files.onnxBytes / 1e6).toFixed(1)} MB)`);
    const results: EngineResult[] = ENGINES.map((spec) => ({
      spec, args: engineArgs(spec, files), note: '', runs: [], failures: [], mismatches: [], maxProbDiff: 0,
    }));
    let reference: Prediction[] | undefined; // ours' top 5, from its first run
    let waitedMs = 0;
    let notQuiet = 0;
    let runCount = 0;

    // Round 0 is the untimed warm-up and validation; rounds 1..runs are timed.
    for (let round = 0; round <= runs; round++) {
      const order = results.map((_, k) => results[(k + round) % results.length]);
      const line: string[] = [];
      for (const res of order) {
        let quiet = true;
        if (round > 0) {
          const wait = await waitForQuiet(quietBelow, maxWaitMs);
          waitedMs += wait.waitedMs;
          runCount++;
          if (!wait.quiet) notQuiet++;
          quiet = wait.quiet;
        }
        const m = await runOnce(res.args, join(tmp, `stats-${res.spec.id}.txt`), useGnuTime);
        const what = round === 0 ? 'warm-up' : `round ${round}`;
        if (m.code !== 0) {
          res.failures.push(`${what}: exit status ${m.code}: ${m.stderr.trim().split('\n').slice(-3).join(' / ').slice(0, 300)}`);
          log(`${res.spec.id}: ${res.failures.at(-1)}`);
          continue;
        }
        res.note ||= m.stderr.split('\n').find((l) => l.startsWith('note: '))?.slice('note: '.length) ?? '';
        const top = isStartup(res.spec.kind) ? undefined : parseTop(m.stdout);
        if (!isStartup(res.spec.kind)) {
          if (!top || top.length !== TOP) {
            res.failures.push(`${what}: no top ${TOP} on stdout (${JSON.stringify(m.stdout.slice(0, 200))})`);
            log(`${res.spec.id}: ${res.failures.at(-1)}`);
            continue;
          }
          if (res.spec.kind === 'ours') reference ??= top;
        }
        if (round > 0) res.runs.push({ round, ms: m.ms, peak: m.peak, foreign: m.foreign, quiet, top });
        else if (top) log(`validation ${res.spec.id}: top ${TOP} ${top.map((p) => `${p.index} (${p.prob.toFixed(4)})`).join(', ')}`);
        line.push(`${res.spec.id} ${m.ms.toFixed(0)} ms ${(m.peak / 1e6).toFixed(0)} MB${m.foreign >= 0.1 ? ` (others ${(100 * m.foreign).toFixed(0)}%)` : ''}`);
      }
      log(`${round === 0 ? 'warm-up' : `round ${round}/${runs}`}: ${line.join(', ')}`);
    }

    // Every engine's top 5 against ours' (its first run).
    for (const res of results) {
      if (isStartup(res.spec.kind) || !reference) continue;
      for (const run of res.runs) {
        const same = run.top!.every((p, k) => p.index === reference![k].index);
        if (!same) res.mismatches.push(`round ${run.round}: ${run.top!.map((p) => p.index).join(',')} vs ours ${reference.map((p) => p.index).join(',')}`);
        else for (let k = 0; k < TOP; k++) res.maxProbDiff = Math.max(res.maxProbDiff, Math.abs(run.top![k].prob - reference[k].prob));
      }
      if (res.mismatches.length) log(`warning: ${res.spec.id}: top ${TOP} differs from ours in ${res.mismatches.length} run(s): ${res.mismatches[0]}`);
    }

    const report = formatReport(results, {
      runs, quietBelow, maxWaitMs, waitedMs, notQuiet, runCount, load0, load1: loadavg()[0], args, stale, useGnuTime, tmp,
      weightBytes: files.weightBytes, onnxBytes: files.onnxBytes, reference,
    });
    process.stdout.write(report);
    const file = new URL(`./results/classify-${today()}.md`, import.meta.url);
    writeFileSync(file, report);
    log(`written to ${fileURLToPath(file)}`);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// The report.

interface RunInfo {
  runs: number;
  quietBelow: number;
  maxWaitMs: number;
  waitedMs: number;
  notQuiet: number;
  runCount: number;
  load0: number;
  load1: number;
  args: string[];
  stale: string[];
  useGnuTime: boolean;
  tmp: string;
  weightBytes: number;
  onnxBytes: number;
  reference?: Prediction[];
}

const mb = (bytes: number): string => (bytes / 1e6).toFixed(0);

/** Median over rounds of a's time / b's time in the same round; with `quietOnly`, rounds where both runs were quiet. */
function ratio(a: EngineResult, b: EngineResult | undefined, quietOnly = false): { value: number; n: number } | undefined {
  const keep = (r: Run): boolean => !quietOnly || r.foreign < QUIET_SHARE;
  const theirs = new Map((b?.runs ?? []).filter(keep).map((r) => [r.round, r.ms]));
  const rs = a.runs.filter((r) => keep(r) && theirs.has(r.round)).map((r) => r.ms / theirs.get(r.round)!);
  return rs.length ? { value: median(rs), n: rs.length } : undefined;
}

/** The ratio judged as bench/peers.ts does: on the quiet rounds when there are enough, else on all. */
function judgedRatio(a: EngineResult, b: EngineResult | undefined): { value: number; n: number; quiet: boolean } | undefined {
  const quiet = ratio(a, b, true);
  if (quiet && quiet.n >= MIN_QUIET_ROUNDS) return { ...quiet, quiet: true };
  const all = ratio(a, b);
  return all && { ...all, quiet: false };
}

function formatReport(results: EngineResult[], info: RunInfo): string {
  const base = results.find((r) => r.spec.id === BASELINE && r.runs.length);
  const budget = 1.2 * info.weightBytes + 100e6;
  const medianMs = (r: EngineResult): number => median(r.runs.map((x) => x.ms));
  const command = (r: EngineResult): string => `node ${r.args.join(' ').replaceAll(info.tmp, '$TMP')}`;
  const out: string[] = [
    '# classify on one image: cold start to printed result, against the peers',
    '',
    `- date: ${today()}`,
    `- machine: ${machineDescription()}; load average ${info.load0.toFixed(2)} at the start, ${info.load1.toFixed(2)} at the end`,
    `- job: classify \`${IMAGE}\` (500x375 PNG; torchvision preprocessing: shorter side 256, centre 224, ImageNet mean/std) with full-size ` +
      `torchvision AlexNet weights, synthetic (seed ${WEIGHT_SEED}): ${(info.weightBytes / 1e6).toFixed(1)} MB as safetensors (ours, tfjs-wasm), ` +
      `${(info.onnxBytes / 1e6).toFixed(1)} MB as the ONNX graph of src/oracle/export-onnx.ts (onnxruntime-node); print the top ${TOP} as JSON`,
    `- protocol: every run a fresh process, timed from spawn to exit; peak memory = the process's maxRSS ` +
      `(${info.useGnuTime ? `GNU time, \`${GNU_TIME} -f '%M %U %S'\`` : 'process.resourceUsage() at exit, from a hook preloaded with --import'}), ` +
      `MB of 10^6 bytes. One untimed round first (validation, OS and tsx caches), then ${info.runs} round(s), every engine once per round in a rotated order. ` +
      'ms: median over runs. x tfjs-wasm: median over rounds of the ratio within the round.',
    `- shared machine: before each run the bench waited (up to ${info.maxWaitMs / 1000} s) for other processes to use less than ` +
      `${(100 * info.quietBelow).toFixed(0)}% of the CPUs; it waited ${(info.waitedMs / 1000).toFixed(0)} s in all, and ${info.notQuiet} of ` +
      `${info.runCount} runs started on a busier machine. "others" is the median share of all CPUs that other processes used during the engine's runs; ` +
      `quiet rounds: others below ${100 * QUIET_SHARE}% during both runs.`,
    `- command: \`npx tsx bench/classify.ts${info.args.map((a) => ` ${a}`).join('')}\``,
  ];
  if (info.stale.length) out.push(`- **warning**: ${info.stale.length} source file(s) changed after the last \`npm run build\` (${info.stale.slice(0, 5).join(', ')}${info.stale.length > 5 ? ', ...' : ''}): ours ran the older build`);
  out.push('',
    '| engine | threads | ms, spawn to exit | runs (min-max ms) | x tfjs-wasm | x tfjs-wasm, quiet rounds (n) | peak RSS MB (median) | peak RSS MB (max) | others | top 5 vs ours |',
    '|---|---|---|---|---|---|---|---|---|---|');
  for (const res of results) {
    if (!res.runs.length) {
      out.push(`| ${label(res.spec.kind)} | ${res.spec.threads} | failed | ${res.failures.length} failed run(s) | - | - | - | - | - | - |`);
      continue;
    }
    const ms = res.runs.map((r) => r.ms);
    const peaks = res.runs.map((r) => r.peak);
    const r = isStartup(res.spec.kind) ? undefined : ratio(res, base);
    const rq = isStartup(res.spec.kind) ? undefined : ratio(res, base, true);
    const top = isStartup(res.spec.kind) ? '-'
      : res.mismatches.length ? `**differs** in ${res.mismatches.length} of ${res.runs.length} runs`
      : `same (max prob diff ${res.maxProbDiff.toExponential(1)})`;
    out.push(`| ${label(res.spec.kind)} | ${res.spec.threads} | ${medianMs(res).toFixed(0)} | ${ms.length} (${Math.min(...ms).toFixed(0)}-${Math.max(...ms).toFixed(0)}) | ` +
      `${r ? `${r.value.toFixed(2)}x` : '-'} | ${rq ? `${rq.value.toFixed(2)}x (${rq.n})` : '-'} | ${mb(median(peaks))} | ${mb(Math.max(...peaks))} | ` +
      `${(100 * median(res.runs.map((x) => x.foreign))).toFixed(0)}% | ${top}${res.failures.length ? `; ${res.failures.length} failed run(s)` : ''} |`);
  }

  out.push('', '## Target: peak memory', '',
    `Weights: the safetensors file, ${mb(info.weightBytes)} MB; budget: weights + 20% + 100 MB = ${mb(budget)} MB. ` +
    'Judged on the largest peak RSS over the runs (it includes Node itself: see the startup rows).', '');
  const ours = results.filter((r) => r.spec.kind === 'ours');
  for (const res of ours) {
    if (!res.runs.length) {
      out.push(`- NOT MEASURED: peak memory of classify, ${res.spec.threads} thread(s), <= ${mb(budget)} MB: every run failed (${res.failures[0] ?? '?'})`);
      continue;
    }
    const peaks = res.runs.map((r) => r.peak);
    const worst = Math.max(...peaks);
    out.push(`- ${worst <= budget ? 'PASS' : 'FAIL'}: peak memory of classify, ${res.spec.threads} thread(s), <= ${mb(budget)} MB: ` +
      `largest ${mb(worst)} MB over ${peaks.length} run(s) (median ${mb(median(peaks))})`);
  }
  const peers = results.filter((r) => (r.spec.kind === 'ort-node' || r.spec.kind === 'tfjs-wasm') && r.runs.length);
  if (peers.length) {
    out.push(`- for comparison, the peers' median peaks: ${peers.map((p) => `${p.spec.id} ${mb(median(p.runs.map((r) => r.peak)))} MB`).join(', ')}`);
  }

  out.push('', '## Cold start: ours against each peer (no target in the issue)', '',
    'Median over rounds of ours / the peer within the round, on the quiet rounds when there are at least ' +
    `${MIN_QUIET_ROUNDS}, else on all rounds. The peers' children start under tsx (their TypeScript compiled from tsx's cache): ` +
    'the startup rows give what a process costs before doing anything.', '');
  // What tsx adds to the peers' start: their children's bare start minus Node's. It also holds the
  // loading of this file's imports (the project's decoders and preprocessing, which a plain-JS
  // script would load too, faster), so taking it out flatters the peers a little.
  const startup = (kind: Kind): EngineResult | undefined => results.find((r) => r.spec.kind === kind && r.runs.length);
  const tsxNode = [startup('startup-tsx'), startup('startup-node')];
  const tsxExtra = tsxNode[0] && tsxNode[1] ? medianMs(tsxNode[0]) - medianMs(tsxNode[1]) : undefined;
  for (const res of ours) {
    if (!res.runs.length) continue;
    const parts = peers.map((p) => {
      const j = judgedRatio(res, p);
      return j ? `${j.value.toFixed(2)}x ${p.spec.id} (${medianMs(p).toFixed(0)} ms; ${j.quiet ? `${j.n} quiet rounds` : `all ${j.n} rounds`})` : `- ${p.spec.id}`;
    });
    out.push(`- ours, ${res.spec.threads} thread(s): ${medianMs(res).toFixed(0)} ms; ${parts.join(', ')}`);
    if (tsxExtra !== undefined) {
      out.push(`  - without the peers' tsx start (${tsxExtra.toFixed(0)} ms taken off their medians; ratio of medians): ` +
        peers.map((p) => `${(medianMs(res) / (medianMs(p) - tsxExtra)).toFixed(2)}x ${p.spec.id}`).join(', '));
    }
  }
  const startups = results.filter((r) => isStartup(r.spec.kind) && r.runs.length);
  if (startups.length) {
    out.push(`- startup alone: ${startups.map((s) => `\`${command(s)}\` ${medianMs(s).toFixed(0)} ms, ${mb(median(s.runs.map((r) => r.peak)))} MB`).join('; ')}`);
  }
  if (tsxExtra !== undefined) {
    out.push(`- the peers' tsx start: \`node --import tsx\` with this file's imports minus \`node -e 0\`, ${tsxExtra.toFixed(0)} ms (medians); ` +
      'it includes loading the project\'s decoders and preprocessing, which a plain-JS script would load too, so taking it off flatters the peers a little');
  }

  out.push('', '## Engines', '');
  for (const res of results) {
    const extra = [res.note, ...res.failures.map((f) => `**failed run**: ${f}`), ...res.mismatches.map((m) => `**top ${TOP} differs**: ${m}`)].filter(Boolean);
    out.push(`- ${res.spec.id}: \`${command(res)}\`${extra.length ? `. ${extra.join('; ')}` : ''}`);
  }
  if (info.reference) {
    out.push('', `"top 5 vs ours": the classes of every timed run, in order, against ours' in the untimed round (ours-1's first run); ` +
      'max prob diff: the largest difference of their probabilities. ' +
      `Ours' top ${TOP} (the synthetic weights make no meaningful class): ` +
      info.reference.map((p) => `${p.index} ${p.label} (${p.prob.toFixed(4)})`).join(', '));
  }
  out.push('');
  return out.join('\n');
}

// ---------------------------------------------------------------------------------------------

// Run only as a script.
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const argv = process.argv.slice(2);
  if (argv[0] === '--child') await child(argv.slice(1));
  else {
    try {
      await parent(argv);
    } catch (e) {
      log(`bench/classify.ts: ${errorText(e)}`);
      process.exitCode = 1;
    }
  }
}
