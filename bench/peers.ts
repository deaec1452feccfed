/**
 * AlexNet forward against the engines a user could pick instead, side by side in one run:
 * torchvision AlexNet at 224x224 with the synthetic weights (seed 1000) and input (seed 7) in
 *
 *   tfjs-wasm     @tensorflow/tfjs-backend-wasm (XNNPACK, SIMD; single-threaded in Node), the
 *                 network written in tfjs ops (fused conv + bias + ReLU, fused matMul), NHWC
 *   ort-web-T     onnxruntime-web, wasm execution provider, env.wasm.numThreads = T (1, 2)
 *   ort-node-T    onnxruntime-node, native CPU provider (MLAS), intraOpNumThreads = T (1, 2)
 *   ours-wasm-T   this project's `wasm` backend, createWasmBackend({ threads: T }) (1, 2), when
 *                 src/backend/wasm/backend.ts exists
 *   reference     this project's readable reference (src/ops), for scale
 *
 * The ONNX engines run the graph `alexnet export` writes (src/oracle/export-onnx.ts), encoded in memory. No network is used: both
 * wasm peers load their .wasm files from node_modules.
 *
 *   npx tsx bench/peers.ts [--runs 7] [--reference-runs 3] [--min-sample-ms 300]
 *                          [--quiet-below 0.15] [--max-wait-s 60]
 *                          [--engines tfjs-wasm,ours-wasm-2,...] [--no-memory]
 *
 * Each engine lives in its own child process (fork of this script with --child): onnxruntime-web
 * fixes its thread count once per process, and a failure or a crash of one peer only removes that
 * peer. The parent drives them one at a time, so only one engine computes at any moment:
 *
 *   1. load every engine (the ones that fail are reported, not timed);
 *   2. validate: logits at batch 8 and batch 1 against the reference's, max |diff| / max |logit|,
 *      printed; an engine off by more than 1e-4 is not timed;
 *   3. warm up each engine at each batch size, and pick how many forwards make one sample
 *      (at least --min-sample-ms);
 *   4. for batch 1, then batch 8: --runs rounds, each round every engine takes one sample, in an
 *      order rotated round by round (the reference only in its first --reference-runs rounds).
 *      The machine is shared: before each sample the parent waits (up to --max-wait-s) until
 *      other processes use less than --quiet-below of all CPUs, and each sample records how much
 *      of the machine other processes used while it ran (/proc/stat minus the engine's own CPU).
 *
 * Reported per engine and batch: the median over samples of ms per image, GFLOP/s at
 * 2 x 714,188,480 FLOP per image (the MACs of convolutions and fc layers, src/model/summary.ts),
 * and the ratio to tfjs-wasm: the median over rounds of (engine / tfjs-wasm) within the same
 * round, which cancels most of the machine's drift. Then the targets of the issue, each PASS or
 * FAIL, and the peak memory (RSS high-water mark, process.resourceUsage().maxRSS) of a fresh
 * child process per engine that loads it and runs one forward at batch 1.
 *
 * Output: the markdown report on stdout and in bench/results/forward-<date>.md; progress on stderr.
 */

import type * as TF from '@tensorflow/tfjs-core';
import { type ChildProcess, fork } from 'node:child_process';
import { readdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { referenceBackend } from '../src/backend/reference.js';
import { inScope } from '../src/backend/backend.js';
import { architecture } from '../src/model/architectures.js';
import { forward, type Weights } from '../src/model/network.js';
import { summarize } from '../src/model/summary.js';
import { syntheticInput, syntheticWeights } from '../src/model/synthetic.js';
import type { Tensor } from '../src/tensor.js';
import {
  errorText, flag, loadWasmBackend, log, maxRelativeError, packageDir, packageVersion, relaxedSimdFlags, waitForQuiet, withForeignLoad,
} from './engines.js';
import { machineDescription, median, today } from './machine.js';
import { exportOnnx } from '../src/oracle/export-onnx.js';

// ---------------------------------------------------------------------------------------------
// The engines.

export type EngineKind = 'tfjs-wasm' | 'ort-web' | 'ort-node' | 'ours-wasm' | 'reference';

export interface EngineSpec {
  id: string;
  kind: EngineKind;
  threads: number;
}

export const ENGINES: EngineSpec[] = [
  { id: 'tfjs-wasm', kind: 'tfjs-wasm', threads: 1 },
  { id: 'ort-web-1', kind: 'ort-web', threads: 1 },
  { id: 'ort-web-2', kind: 'ort-web', threads: 2 },
  { id: 'ort-node-1', kind: 'ort-node', threads: 1 },
  { id: 'ort-node-2', kind: 'ort-node', threads: 2 },
  { id: 'ours-wasm-1', kind: 'ours-wasm', threads: 1 },
  { id: 'ours-wasm-2', kind: 'ours-wasm', threads: 2 },
  { id: 'reference', kind: 'reference', threads: 1 },
];

const LABELS: Record<EngineKind, string> = {
  'tfjs-wasm': `@tensorflow/tfjs-backend-wasm ${packageVersion('@tensorflow/tfjs-backend-wasm')} (XNNPACK, SIMD)`,
  'ort-web': `onnxruntime-web ${packageVersion('onnxruntime-web')} (wasm EP)`,
  'ort-node': `onnxruntime-node ${packageVersion('onnxruntime-node')} (native CPU EP)`,
  'ours-wasm': 'ours: `wasm` backend',
  reference: 'ours: `reference` backend (src/ops)',
};

const BASELINE = 'tfjs-wasm';
const ARCH = architecture('torchvision');
const SIZE = ARCH.inputSize;
const MAX_BATCH = 8;
const BATCHES = [1, 8];
const MACS_PER_IMAGE = summarize(ARCH).totalMacs; // 714,188,480
const WEIGHT_SEED = 1000;
const INPUT_SEED = 7;
const TOLERANCE = 1e-4;

export interface Engine {
  /** Logits [batch, 1000] of the batch. */
  run(x: Tensor<Float32Array>): Promise<Float32Array>;
  note: string;
}

/** torchvision AlexNet in tfjs ops: NHWC activations, HWIO filters, conv/fc fused with bias and ReLU. */
async function tfjsWasmEngine(weights: Weights<Float32Array>): Promise<Engine> {
  const tf = await import('@tensorflow/tfjs-core');
  const wasm = await import('@tensorflow/tfjs-backend-wasm');
  wasm.setWasmPaths(join(packageDir('@tensorflow/tfjs-backend-wasm'), 'dist') + '/'); // files on disk
  if (!(await tf.setBackend('wasm'))) throw new Error('tf.setBackend("wasm") failed');
  await tf.ready();
  const simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
  const threaded = await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT');
  const get = (k: string): Tensor<Float32Array> => weights.get(k)!;
  type Step = (h: TF.Tensor) => TF.Tensor;
  const steps: Step[] = [];
  const layers = ARCH.layers;
  for (let i = 0; i < layers.length; i++) {
    const spec = layers[i];
    const fuseRelu = layers[i + 1]?.kind === 'relu';
    if (spec.kind === 'conv') {
      const w = get(`${spec.param}.weight`); // [OC, C, KH, KW] -> [KH, KW, C, OC]
      const filter = tf.tidy(() => tf.transpose(tf.tensor4d(w.data, w.shape as [number, number, number, number]), [2, 3, 1, 0])) as TF.Tensor4D;
      const bias = tf.tensor1d(get(`${spec.param}.bias`).data);
      if (spec.groups !== 1) throw new Error('tfjs model: grouped convolutions are not written here');
      steps.push((h) => tf.fused.conv2d({
        x: h as TF.Tensor4D, filter, strides: spec.stride, pad: spec.pad, bias,
        activation: fuseRelu ? 'relu' : 'linear',
      }));
      if (fuseRelu) i++;
    } else if (spec.kind === 'linear') {
      // [out, in] -> [in, out] once, as a converted tfjs model stores a Dense kernel. (tfjs-backend-wasm
      // 4.22 computes fused.matMul wrongly with transposeB = true and a bias or an activation: 2.1
      // relative error on fc6, found by the validation below; transposeB = false is right.)
      const w = get(`${spec.param}.weight`);
      const b = tf.tidy(() => tf.transpose(tf.tensor2d(w.data, w.shape as [number, number]))) as TF.Tensor2D;
      const bias = tf.tensor1d(get(`${spec.param}.bias`).data);
      steps.push((h) => tf.fused.matMul({ a: h as TF.Tensor2D, b, bias, activation: fuseRelu ? 'relu' : 'linear' }));
      if (fuseRelu) i++;
    } else if (spec.kind === 'relu') {
      steps.push((h) => tf.relu(h));
    } else if (spec.kind === 'maxpool') {
      if (spec.pads.some((p) => p !== 0) || spec.rounding !== 'floor') throw new Error('tfjs model: only unpadded floor pooling');
      steps.push((h) => tf.maxPool(h as TF.Tensor4D, spec.kernel, spec.stride, 'valid'));
    } else if (spec.kind === 'adaptiveavgpool') {
      // The identity at 224 (6x6 in, 6x6 out): checked, not computed.
      steps.push((h) => {
        if (h.shape[1] !== spec.outH || h.shape[2] !== spec.outW) throw new Error('tfjs model: adaptive pooling is only the identity here');
        return h;
      });
    } else if (spec.kind === 'flatten') {
      // PyTorch flattens channel-major: NHWC -> NCHW first.
      steps.push((h) => tf.reshape(tf.transpose(h, [0, 3, 1, 2]), [h.shape[0], -1]));
    } else if (spec.kind === 'softmax') {
      break; // logits are the output
    } else if (spec.kind !== 'dropout') {
      throw new Error(`tfjs model: no ${spec.kind} here`);
    }
  }
  return {
    note: `WASM_HAS_SIMD_SUPPORT ${simd}, WASM_HAS_MULTITHREAD_SUPPORT ${threaded}, getThreadsCount() ${wasm.getThreadsCount()}`,
    async run(x) {
      return tf.tidy(() => {
        let h: TF.Tensor = tf.transpose(tf.tensor4d(x.data, x.shape as [number, number, number, number]), [0, 2, 3, 1]);
        for (const step of steps) h = step(h);
        return h.dataSync() as Float32Array;
      });
    },
  };
}

async function ortEngine(kind: 'ort-web' | 'ort-node', threads: number, weights: Weights<Float32Array>): Promise<Engine> {
  const bytes = exportOnnx(ARCH, weights); // the graph `alexnet export` writes (outputs prob and fc8)
  type Ort = typeof import('onnxruntime-node');
  let ort: Ort;
  let session: import('onnxruntime-node').InferenceSession;
  const common = { graphOptimizationLevel: 'all' as const, executionMode: 'sequential' as const };
  if (kind === 'ort-node') {
    ort = await import('onnxruntime-node');
    session = await ort.InferenceSession.create(bytes, { ...common, intraOpNumThreads: threads, interOpNumThreads: 1 });
  } else {
    const web = await import('onnxruntime-web');
    web.env.wasm.wasmPaths = join(packageDir('onnxruntime-web'), 'dist') + '/'; // files on disk
    web.env.wasm.numThreads = threads;
    session = (await web.InferenceSession.create(bytes, { ...common, executionProviders: ['wasm'] })) as unknown as typeof session;
    ort = web as unknown as Ort;
  }
  const threadsNote = kind === 'ort-node' ? `intraOpNumThreads ${threads}` : `env.wasm.numThreads ${threads}`;
  return {
    note: `${threadsNote}; ONNX model ${(bytes.byteLength / 1e6).toFixed(1)} MB from src/oracle/export-onnx.ts; ${processThreads()} OS threads in the process after loading`,
    async run(x) {
      const out = await session.run({ input: new ort.Tensor('float32', x.data, x.shape) });
      return out.fc8.data as Float32Array;
    },
  };
}

/** Threads of this process (Linux), to see whether a peer started workers. */
function processThreads(): number | string {
  try {
    return readdirSync('/proc/self/task').length;
  } catch {
    return '?';
  }
}

export async function makeEngine(spec: EngineSpec): Promise<Engine> {
  if (spec.kind === 'ours-wasm') {
    const got = await loadWasmBackend(spec.threads);
    if ('missing' in got) throw new Error(`not measured: ${got.missing}`);
    const backend = got.backend;
    // The weights are made where `alexnet classify` reads a weight file: in the backend's memory.
    const resident = backend.allocateResident
      ? (n: number) => { const r = backend.allocateResident!(4 * n); return new Float32Array(r.buffer, r.byteOffset, n); }
      : undefined;
    const weights = syntheticWeights(ARCH, WEIGHT_SEED, ARCH.inputSize, resident);
    return {
      note: `createWasmBackend({ threads: ${spec.threads} }), build ${backend.build ?? '?'}; weights ${resident ? 'made in its memory (allocateResident)' : 'in JavaScript arrays'}; ${processThreads()} OS threads in the process after loading`,
      run: async (x) => inScope(backend, () => forward(ARCH, weights, x, backend).logits.data.slice()),
    };
  }
  const weights = syntheticWeights(ARCH, WEIGHT_SEED);
  switch (spec.kind) {
    case 'tfjs-wasm':
      return tfjsWasmEngine(weights);
    case 'ort-web':
    case 'ort-node':
      return ortEngine(spec.kind, spec.threads, weights);
    case 'reference':
      return { note: 'plain loops, one thread', run: async (x) => forward(ARCH, weights, x, referenceBackend).logits.data };
  }
  throw new Error(`unknown engine kind ${spec.kind}`);
}

// ---------------------------------------------------------------------------------------------
// Child side: one engine, driven over IPC.

type Request = { cmd: 'logits'; batch: number } | { cmd: 'time'; batch: number; count: number };
type Reply =
  | { type: 'ready'; note: string; loadMs: number }
  | { type: 'failed'; message: string }
  | { type: 'logits'; data: Float32Array }
  | { type: 'times'; ms: number[]; foreign: number }
  | { type: 'memory'; rssStart: number; rssLoaded: number; peak: number }
  | { type: 'error'; message: string };

function inputs(): Map<number, Tensor<Float32Array>> {
  const x = syntheticInput(INPUT_SEED, [MAX_BATCH, 3, SIZE, SIZE]);
  const per = 3 * SIZE * SIZE;
  return new Map(BATCHES.map((b) => [b, { data: x.data.subarray(0, b * per), shape: [b, 3, SIZE, SIZE] }]));
}

async function child(id: string): Promise<void> {
  const send = (r: Reply): void => void process.send!(r);
  const spec = ENGINES.find((e) => e.id === id)!;
  let engine: Engine;
  const t0 = performance.now();
  try {
    engine = await makeEngine(spec);
  } catch (e) {
    send({ type: 'failed', message: errorText(e) });
    process.disconnect();
    return;
  }
  const x = inputs();
  process.on('disconnect', () => process.exit(0)); // the parent has gone: so do we
  send({ type: 'ready', note: engine.note, loadMs: performance.now() - t0 });
  process.on('message', (req: Request) => {
    void (async () => {
      try {
        const input = x.get(req.batch)!;
        if (req.cmd === 'logits') {
          send({ type: 'logits', data: Float32Array.from(await engine.run(input)) });
        } else {
          const ms: number[] = [];
          const { foreign } = await withForeignLoad(async () => {
            for (let i = 0; i < req.count; i++) {
              const s = performance.now();
              await engine.run(input);
              ms.push(performance.now() - s);
            }
          });
          send({ type: 'times', ms, foreign });
        }
      } catch (e) {
        send({ type: 'error', message: errorText(e) });
      }
    })();
  });
}

/** Loads the engine in a fresh process, runs one forward at batch 1, reports RSS figures in bytes. */
async function memoryChild(id: string): Promise<void> {
  const send = (r: Reply): void => void process.send!(r);
  const rssStart = process.memoryUsage().rss;
  try {
    const engine = await makeEngine(ENGINES.find((e) => e.id === id)!);
    const rssLoaded = process.memoryUsage().rss;
    await engine.run(syntheticInput(INPUT_SEED, [1, 3, SIZE, SIZE]));
    send({ type: 'memory', rssStart, rssLoaded, peak: process.resourceUsage().maxRSS * 1024 });
  } catch (e) {
    send({ type: 'failed', message: errorText(e) });
  }
  process.disconnect();
}

// ---------------------------------------------------------------------------------------------
// Parent side.

const SCRIPT = fileURLToPath(import.meta.url);

/** A child process holding one engine; one request at a time. */
class Remote {
  readonly proc: ChildProcess;
  private readonly queue: Reply[] = [];
  private waiting: ((r: Reply) => void) | null = null;
  private exited: string | null = null;

  constructor(readonly spec: EngineSpec, mode: '--child' | '--memory') {
    this.proc = fork(SCRIPT, [mode, spec.id], {
      execArgv: [...process.execArgv, ...relaxedSimdFlags()],
      serialization: 'advanced', // typed arrays pass as such
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    });
    this.proc.on('message', (r: Reply) => this.deliver(r));
    this.proc.on('exit', (code, signal) => {
      this.exited = `child exited (${signal ?? `code ${code}`})`;
      if (this.waiting) this.deliver({ type: 'error', message: this.exited });
    });
  }

  private deliver(r: Reply): void {
    const w = this.waiting;
    this.waiting = null;
    if (w) w(r);
    else this.queue.push(r);
  }

  /** The next reply: a queued one, else the next to arrive (an error if the child has gone). */
  next(): Promise<Reply> {
    const queued = this.queue.shift();
    if (queued) return Promise.resolve(queued);
    if (this.exited) return Promise.resolve({ type: 'error', message: this.exited });
    return new Promise((resolve) => (this.waiting = resolve));
  }

  request(req: Request): Promise<Reply> {
    const reply = this.next();
    this.proc.send(req);
    return reply;
  }

  stop(): void {
    if (this.proc.exitCode === null) this.proc.kill();
  }
}

interface EngineResult {
  spec: EngineSpec;
  note: string;
  /** Why it was not timed, if it was not. */
  skipped?: string;
  relErr: Map<number, number>;
  /** Per batch: ms per image of each sample, the round it was taken in, and the other processes' load during it. */
  samples: Map<number, { round: number; msPerImage: number; foreign: number; quiet: boolean }[]>;
  count: Map<number, number>;
  memory?: { rssStart: number; rssLoaded: number; peak: number } | { failed: string };
}

async function parent(args: string[]): Promise<void> {
  const runs = flag(args, 'runs', 7);
  const referenceRuns = flag(args, 'reference-runs', 3);
  const minSampleMs = flag(args, 'min-sample-ms', 300);
  const quietBelow = flag(args, 'quiet-below', 0.15);
  const maxWaitMs = 1000 * flag(args, 'max-wait-s', 60);
  let waitedMs = 0;
  let notQuiet = 0;
  let sampleCount = 0;
  const only = args.includes('--engines') ? args[args.indexOf('--engines') + 1].split(',') : null;
  const specs = ENGINES.filter((e) => !only || only.includes(e.id) || e.id === BASELINE || e.id === 'reference');
  const load0 = loadavg()[0];
  log(`machine: ${machineDescription()}; load average ${load0.toFixed(2)}`);

  // 1. Load every engine, all at once (nothing is timed yet).
  const remotes = specs.map((s) => new Remote(s, '--child'));
  const results: EngineResult[] = specs.map((spec) => ({ spec, note: '', relErr: new Map(), samples: new Map(), count: new Map() }));
  await Promise.all(remotes.map(async (r, i) => {
    const reply = await r.next();
    if (reply.type === 'ready') {
      results[i].note = reply.note;
      log(`loaded ${r.spec.id} in ${(reply.loadMs / 1000).toFixed(1)} s: ${reply.note}`);
    } else {
      results[i].skipped = reply.type === 'failed' || reply.type === 'error' ? reply.message : 'no ready message';
      log(`${r.spec.id}: ${results[i].skipped}`);
      r.stop();
    }
  }));
  const live = (): number[] => results.map((_, i) => i).filter((i) => !results[i].skipped);

  // 2. Validate against the reference's logits (batch 8; batch 1 against its first row).
  const refIndex = results.findIndex((r) => r.spec.kind === 'reference');
  if (refIndex < 0 || results[refIndex].skipped) throw new Error('the reference did not load: nothing to validate against');
  log('validating: reference logits at batch 8 (the slow part) ...');
  const refReply = await remotes[refIndex].request({ cmd: 'logits', batch: MAX_BATCH });
  if (refReply.type !== 'logits') throw new Error(`reference: ${JSON.stringify(refReply)}`);
  const refLogits = new Map([[MAX_BATCH, refReply.data], [1, refReply.data.subarray(0, ARCH.numClasses)]]);
  results[refIndex].relErr.set(MAX_BATCH, 0);
  for (const i of live()) {
    for (const batch of [...BATCHES].reverse()) {
      if (i === refIndex && batch === MAX_BATCH) continue;
      const reply = await remotes[i].request({ cmd: 'logits', batch });
      if (reply.type !== 'logits') {
        results[i].skipped = `failed at batch ${batch}: ${reply.type === 'error' ? reply.message : reply.type}`;
        break;
      }
      const err = maxRelativeError(reply.data, refLogits.get(batch)!);
      results[i].relErr.set(batch, err);
      log(`${results[i].spec.id} batch ${batch}: max |logit - reference| / max |reference logit| = ${err.toExponential(2)}`);
      if (!(err <= TOLERANCE)) {
        results[i].skipped = `logits differ from the reference by ${err.toExponential(2)} (> ${TOLERANCE}) at batch ${batch}: not timed`;
        break;
      }
    }
    if (results[i].skipped) {
      log(`${results[i].spec.id}: ${results[i].skipped}`);
      remotes[i].stop();
    }
  }
  if (results.find((r) => r.spec.id === BASELINE)?.skipped) log(`warning: ${BASELINE} is not timed; ratios will be missing`);

  // 3. Warm up, one engine at a time, and size the samples.
  for (const i of live()) {
    for (const batch of BATCHES) {
      const warm = i === refIndex ? 1 : 2;
      const reply = await remotes[i].request({ cmd: 'time', batch, count: warm });
      if (reply.type !== 'times') {
        results[i].skipped = `failed in warm-up: ${reply.type === 'error' ? reply.message : reply.type}`;
        break;
      }
      const last = reply.ms[reply.ms.length - 1];
      results[i].count.set(batch, Math.max(1, Math.ceil(minSampleMs / last)));
      log(`warm-up ${results[i].spec.id} batch ${batch}: ${last.toFixed(1)} ms per forward; ${results[i].count.get(batch)} per sample`);
    }
  }

  // 4. Rounds, alternating engines.
  for (const batch of BATCHES) {
    for (let round = 0; round < runs; round++) {
      const ids = live().filter((i) => i !== refIndex || round < referenceRuns);
      const order = ids.map((_, k) => ids[(k + round) % ids.length]);
      const line: string[] = [];
      for (const i of order) {
        const count = results[i].count.get(batch)!;
        const wait = await waitForQuiet(quietBelow, maxWaitMs);
        waitedMs += wait.waitedMs;
        sampleCount++;
        if (!wait.quiet) notQuiet++;
        const reply = await remotes[i].request({ cmd: 'time', batch, count });
        if (reply.type !== 'times') {
          results[i].skipped = `failed while timing: ${reply.type === 'error' ? reply.message : reply.type}`;
          continue;
        }
        const msPerImage = reply.ms.reduce((a, b) => a + b, 0) / count / batch;
        if (!results[i].samples.has(batch)) results[i].samples.set(batch, []);
        results[i].samples.get(batch)!.push({ round, msPerImage, foreign: reply.foreign, quiet: wait.quiet });
        line.push(`${results[i].spec.id} ${msPerImage.toFixed(1)}${reply.foreign >= 0.1 ? ` (others ${(100 * reply.foreign).toFixed(0)}%)` : ''}`);
      }
      log(`batch ${batch} round ${round + 1}/${runs} (ms/image): ${line.join(', ')}`);
    }
  }
  for (const r of remotes) r.stop();

  // 5. Peak memory of one forward, one fresh process per engine, one at a time.
  if (!args.includes('--no-memory')) {
    for (const res of results) {
      if (res.skipped && !res.samples.size) continue;
      const r = new Remote(res.spec, '--memory');
      const reply = await r.next();
      res.memory = reply.type === 'memory' ? reply : { failed: reply.type === 'failed' || reply.type === 'error' ? reply.message : reply.type };
      log(`memory ${res.spec.id}: ${reply.type === 'memory' ? `peak RSS ${(reply.peak / 1e6).toFixed(0)} MB` : JSON.stringify(reply)}`);
      r.stop();
    }
  }

  const report = formatReport(results, {
    runs, referenceRuns, minSampleMs, load0, load1: loadavg()[0], args, quietBelow, maxWaitMs, waitedMs, notQuiet, sampleCount,
  });
  process.stdout.write(report);
  const file = new URL(`./results/forward-${today()}.md`, import.meta.url);
  writeFileSync(file, report);
  log(`written to ${fileURLToPath(file)}`);
}

// ---------------------------------------------------------------------------------------------
// The report.

interface RunInfo {
  runs: number;
  referenceRuns: number;
  minSampleMs: number;
  load0: number;
  load1: number;
  args: string[];
  quietBelow: number;
  maxWaitMs: number;
  waitedMs: number;
  notQuiet: number;
  sampleCount: number;
}

function msPerImage(res: EngineResult | undefined, batch: number): number | undefined {
  const s = res?.samples.get(batch);
  return s?.length ? median(s.map((x) => x.msPerImage)) : undefined;
}

/** A sample is quiet when other processes used less than this share of all CPUs while it ran. */
const QUIET_SHARE = 0.1;
/** Quiet rounds needed before the targets are judged on quiet rounds alone. */
const MIN_QUIET_ROUNDS = 3;

/**
 * Median over rounds of engine / baseline, both sampled in the same round; with `quietOnly`, only
 * rounds in which both samples were quiet. `n`: the rounds used.
 */
function ratio(res: EngineResult, base: EngineResult | undefined, batch: number, quietOnly = false): { value: number; n: number } | undefined {
  const keep = (s: { foreign: number }): boolean => !quietOnly || s.foreign < QUIET_SHARE;
  const mine = res.samples.get(batch)?.filter(keep);
  const theirs = base?.samples.get(batch)?.filter(keep);
  if (!mine || !theirs) return undefined;
  const byRound = new Map(theirs.map((s) => [s.round, s.msPerImage]));
  const r = mine.filter((s) => byRound.has(s.round)).map((s) => s.msPerImage / byRound.get(s.round)!);
  return r.length ? { value: median(r), n: r.length } : undefined;
}

const mb = (bytes: number): string => (bytes / 1e6).toFixed(0);

function formatReport(results: EngineResult[], info: RunInfo): string {
  const base = results.find((r) => r.spec.id === BASELINE && r.samples.size);
  const weightBytes = 4 * summarize(ARCH).totalParams;
  const budget = 1.2 * weightBytes + 100e6;
  const out: string[] = [
    '# AlexNet forward: this project against its peers',
    '',
    `- date: ${today()}`,
    `- machine: ${machineDescription()}; load average ${info.load0.toFixed(2)} at the start, ${info.load1.toFixed(2)} at the end`,
    `- network: torchvision AlexNet, 3x${SIZE}x${SIZE}, synthetic weights (seed ${WEIGHT_SEED}) and input (seed ${INPUT_SEED}); ` +
      `${(2 * MACS_PER_IMAGE).toLocaleString('en-US')} FLOP per image (2 x MACs of conv and fc layers)`,
    `- protocol: every engine in its own process, validated against the reference first; then per batch size ${info.runs} rounds ` +
      `(reference: ${info.referenceRuns}), each round one sample per engine in a rotated order, a sample being at least ${info.minSampleMs} ms of ` +
      'back-to-back forwards after warm-up. ms/image: median over samples. x tfjs-wasm: median over rounds of the ratio within the round.',
    `- shared machine: before each sample the bench waited (up to ${info.maxWaitMs / 1000} s) for other processes to use less than ` +
      `${(100 * info.quietBelow).toFixed(0)}% of the CPUs; it waited ${(info.waitedMs / 1000).toFixed(0)} s in all, and ${info.notQuiet} of ` +
      `${info.sampleCount} samples started on a busier machine. "others" is the median share of all CPUs that other processes used during the engine's samples.`,
    `- Node flags of the engine processes: ${relaxedSimdFlags().join(' ') || '(none)'}`,
    `- command: \`npx tsx bench/peers.ts${info.args.map((a) => ` ${a}`).join('')}\``,
    '',
    '| engine | threads | batch | ms/image | GFLOP/s | x tfjs-wasm | x tfjs-wasm, quiet rounds (n) | samples (min-max ms/image) | best / best of tfjs-wasm | others | max rel. error vs reference |',
    '|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const batch of BATCHES) {
    for (const res of results) {
      const ms = msPerImage(res, batch);
      if (ms === undefined) continue;
      const s = res.samples.get(batch)!.map((x) => x.msPerImage);
      const r = ratio(res, base, batch)?.value;
      const rq = ratio(res, base, batch, true);
      const baseSamples = base?.samples.get(batch);
      const baseBest = baseSamples?.length ? Math.min(...baseSamples.map((x) => x.msPerImage)) : undefined;
      const err = res.relErr.get(batch);
      out.push(`| ${LABELS[res.spec.kind]} | ${res.spec.threads} | ${batch} | ${ms.toFixed(1)} | ${((2 * MACS_PER_IMAGE) / (ms * 1e6)).toFixed(1)} | ` +
        `${r === undefined ? '-' : `${r.toFixed(2)}x`} | ${rq === undefined ? '-' : `${rq.value.toFixed(2)}x (${rq.n})`} | ${s.length} (${Math.min(...s).toFixed(1)}-${Math.max(...s).toFixed(1)}) | ` +
        `${baseBest === undefined ? '-' : `${(Math.min(...s) / baseBest).toFixed(2)}x`} | ` +
        `${(100 * median(res.samples.get(batch)!.map((x) => x.foreign))).toFixed(0)}% | ` +
        `${err === undefined ? '-' : err === 0 ? '(is the reference)' : err.toExponential(1)} |`);
    }
  }

  out.push('', '## Targets (ours against tfjs-wasm at the same batch size, ratio of ms per image)', '',
    `Judged on the quiet rounds (other processes below ${100 * QUIET_SHARE}% of the CPUs during both samples) when there are at ` +
    `least ${MIN_QUIET_ROUNDS}, else on all rounds; both figures are given.`, '');
  const targets = [
    { id: 'ours-wasm-1', batch: 8, limit: 0.8, text: 'batch 8 on 1 thread' },
    { id: 'ours-wasm-2', batch: 8, limit: 0.45, text: 'batch 8 on 2 threads' },
    { id: 'ours-wasm-2', batch: 1, limit: 0.6, text: 'batch 1 on 2 threads' },
  ];
  for (const t of targets) {
    const res = results.find((r) => r.spec.id === t.id)!;
    const all = res ? ratio(res, base, t.batch) : undefined;
    const quiet = res ? ratio(res, base, t.batch, true) : undefined;
    if (all === undefined) {
      out.push(`- NOT MEASURED: ${t.text} <= ${t.limit.toFixed(2)}x tfjs-wasm (${res?.skipped ?? `${BASELINE} not timed`})`);
      continue;
    }
    const judged = quiet && quiet.n >= MIN_QUIET_ROUNDS ? quiet : all;
    out.push(`- ${judged.value <= t.limit ? 'PASS' : 'FAIL'}: ${t.text} <= ${t.limit.toFixed(2)}x tfjs-wasm: ` +
      `${quiet ? `${quiet.value.toFixed(2)}x over ${quiet.n} quiet round(s)` : 'no quiet round'}, ${all.value.toFixed(2)}x over all ${all.n} rounds ` +
      `(medians ${msPerImage(res, t.batch)!.toFixed(1)} vs ${msPerImage(base, t.batch)!.toFixed(1)} ms/image)`);
  }

  const withMemory = results.filter((r) => r.memory);
  if (withMemory.length) {
    out.push('', '## Peak memory of one forward at batch 1', '',
      `Each engine in a fresh process (Node + tsx, the synthetic weights generated in JavaScript (ours: in the backend's memory, as classify reads a file), the engine loaded, one forward); ` +
      `RSS in MB (10^6 bytes). Weights: ${mb(weightBytes)} MB of float32; the budget for ours is weights + 20% + 100 MB = ${mb(budget)} MB.`, '',
      '| engine | threads | RSS at start | RSS after loading | peak RSS (maxRSS) | budget |', '|---|---|---|---|---|---|');
    for (const res of withMemory) {
      const m = res.memory!;
      const ours = res.spec.kind === 'ours-wasm';
      if ('failed' in m) out.push(`| ${LABELS[res.spec.kind]} | ${res.spec.threads} | failed: ${m.failed} | | | |`);
      else {
        out.push(`| ${LABELS[res.spec.kind]} | ${res.spec.threads} | ${mb(m.rssStart)} | ${mb(m.rssLoaded)} | ${mb(m.peak)} | ` +
          `${ours ? `${m.peak <= budget ? 'PASS' : 'FAIL'} (${mb(budget)})` : '-'} |`);
      }
    }
    out.push('');
    const oursMem = withMemory.filter((r) => r.spec.kind === 'ours-wasm');
    if (!oursMem.length) out.push('- NOT MEASURED: peak memory of ours <= weights + 20% + 100 MB (the wasm backend is not available)');
    for (const res of oursMem) {
      const m = res.memory!;
      if ('failed' in m) out.push(`- NOT MEASURED: peak memory, ${res.spec.threads} thread(s): ${m.failed}`);
      else out.push(`- ${m.peak <= budget ? 'PASS' : 'FAIL'}: peak memory of one forward, ${res.spec.threads} thread(s), <= ${mb(budget)} MB: measured ${mb(m.peak)} MB`);
    }
  }

  out.push('', '## Engines', '');
  for (const res of results) {
    out.push(`- ${res.spec.id}: ${LABELS[res.spec.kind]}, ${res.spec.threads} thread(s). ${res.note}${res.skipped ? ` **Not timed or incomplete: ${res.skipped}**` : ''}`);
  }
  out.push('');
  return out.join('\n');
}

// ---------------------------------------------------------------------------------------------

// Run only as a script (the engines above may be imported).
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const argv = process.argv.slice(2);
  if (argv[0] === '--child') await child(argv[1]);
  else if (argv[0] === '--memory') await memoryChild(argv[1]);
  else await parent(argv);
}
