/**
 * The Node-only thread pool of the wasm backend: `threads - 1` worker threads, started once, each
 * running the same compiled kernel module over the same shared WebAssembly memory, plus the
 * calling thread. A job (one task kernel, its arguments and a count of pieces, see runner.ts) is
 * handed over through a small control block in a SharedArrayBuffer:
 *
 *   Int32 slots   GENERATION  bumped by the main thread to start a job (workers wait on it)
 *                 NEXT        the next piece to take: every thread takes pieces with Atomics.add
 *                             until none is left, so a slow thread simply takes fewer
 *                 COUNT       pieces in the job
 *                 DONE        workers finished with the job (the main thread waits on it)
 *                 KERNEL      index of the task kernel in TASK_KERNELS
 *                 QUIT        set by dispose()
 *                 ERROR       set by the first worker whose piece threw; its message follows
 *                 READY       workers that have instantiated the module
 *   Float64 slots scratch base, scratch stride (bytes), then the kernel's arguments
 *
 * Waiting is Atomics.wait, after a short spin (consecutive jobs of one layer follow each other
 * within microseconds); the main thread may block in Atomics.wait under Node, so the Backend stays
 * synchronous. Which thread runs a piece never changes its result (runner.ts), so the pool
 * changes nothing but the time.
 *
 * A worker that dies outside a piece (terminated, or killed by the runtime) can report nothing, and
 * the main thread, blocked in Atomics.wait, cannot see its 'exit' event. So the wait for a job's
 * end has a deadline: pieces take milliseconds, and when no worker has finished for
 * `stallTimeoutMs` (default 60 s) after the main thread ran out of pieces, the pool is declared
 * broken: an Error instead of a hang, and every later job fails the same way.
 *
 * Workers are unref'd: a forgotten dispose() does not keep the process alive. The worker's code is
 * a plain-JavaScript string (no file to resolve, whether running from src/ under vitest or dist/).
 */

import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { type Kernels, MAX_TASK_ARGS, TASK_KERNELS } from './kernels.js';
import type { TaskJob, TaskRunner } from './runner.js';

const GENERATION = 0, NEXT = 1, COUNT = 2, DONE = 3, KERNEL = 4, QUIT = 5, ERROR = 6, READY = 7;
const INT_SLOTS = 16;
const F64_OFFSET = 64; // bytes
const MESSAGE_OFFSET = F64_OFFSET + 8 * (2 + MAX_TASK_ARGS);
const MESSAGE_BYTES = 1024;
/** Polls of a slot before Atomics.wait: a few microseconds. */
const SPIN = 4000;
/** How long to wait for the workers to instantiate the module. */
const READY_TIMEOUT_MS = 60_000;
/** How long the workers may go without finishing a job before the pool counts as broken. */
const STALL_TIMEOUT_MS = 60_000;

/** Default thread count: every core this process may use. */
export function defaultThreads(): number {
  return availableParallelism();
}

const WORKER_SOURCE = `
'use strict';
const { workerData } = require('node:worker_threads');
const { module, memory, control, index, workers, kernels, maxArgs } = workerData;
const [GENERATION, NEXT, COUNT, DONE, KERNEL, QUIT, ERROR, READY] = [${[GENERATION, NEXT, COUNT, DONE, KERNEL, QUIT, ERROR, READY]}];
const ctl = new Int32Array(control, 0, ${INT_SLOTS});
const f64 = new Float64Array(control, ${F64_OFFSET}, 2 + maxArgs);
const message = new Uint8Array(control, ${MESSAGE_OFFSET}, ${MESSAGE_BYTES});
function fail(e) {
  if (Atomics.compareExchange(ctl, ERROR, 0, 1) !== 0) return;
  const text = new TextEncoder().encode(String(e && e.stack || e)).subarray(0, ${MESSAGE_BYTES});
  message.fill(0);
  message.set(text);
}
let fns = [];
try {
  const instance = new WebAssembly.Instance(module, { env: { memory } });
  fns = kernels.map((name) => instance.exports[name]);
} catch (e) {
  fail(e);
}
Atomics.add(ctl, READY, 1);
Atomics.notify(ctl, READY);
let generation = 0;
for (;;) {
  let spins = 0;
  while (Atomics.load(ctl, GENERATION) === generation) {
    if (++spins > ${SPIN}) Atomics.wait(ctl, GENERATION, generation);
  }
  generation = Atomics.load(ctl, GENERATION);
  if (Atomics.load(ctl, QUIT) !== 0) break;
  const fn = fns[ctl[KERNEL]];
  const count = ctl[COUNT];
  const scratch = f64[0] + index * f64[1];
  const a = f64.slice(2);
  try {
    for (let t; (t = Atomics.add(ctl, NEXT, 1)) < count; ) {
      fn(t, scratch, a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10], a[11], a[12], a[13], a[14], a[15],
        a[16], a[17], a[18], a[19], a[20], a[21], a[22], a[23]);
    }
  } catch (e) {
    fail(e);
  }
  if (Atomics.add(ctl, DONE, 1) + 1 === workers) Atomics.notify(ctl, DONE);
}
`;

export class WorkerPool implements TaskRunner {
  private readonly workers: Worker[] = [];
  private readonly ctl: Int32Array;
  private readonly f64: Float64Array;
  private readonly message: Uint8Array;
  private disposed = false;
  /** Why the pool can no longer be used (a worker stopped responding), once it is so. */
  private broken: string | undefined;

  /** Starts threads - 1 workers over the kernels' module and memory; returns once all have instantiated it. */
  constructor(private readonly kernels: Kernels, readonly threads: number, private readonly stallTimeoutMs = STALL_TIMEOUT_MS) {
    if (!(Number.isInteger(threads) && threads >= 2)) throw new Error(`WorkerPool: threads must be an integer >= 2, got ${threads}`);
    if (MAX_TASK_ARGS !== 24) throw new Error('WorkerPool: the worker passes exactly 24 arguments');
    const control = new SharedArrayBuffer(MESSAGE_OFFSET + MESSAGE_BYTES);
    this.ctl = new Int32Array(control, 0, INT_SLOTS);
    this.f64 = new Float64Array(control, F64_OFFSET, 2 + MAX_TASK_ARGS);
    this.message = new Uint8Array(control, MESSAGE_OFFSET, MESSAGE_BYTES);
    const workers = threads - 1;
    for (let index = 1; index <= workers; index++) {
      const worker = new Worker(WORKER_SOURCE, {
        eval: true,
        workerData: { module: kernels.module, memory: kernels.memory, control, index, workers, kernels: TASK_KERNELS, maxArgs: MAX_TASK_ARGS },
      });
      worker.unref();
      this.workers.push(worker);
    }
    const deadline = Date.now() + READY_TIMEOUT_MS;
    for (let ready; (ready = Atomics.load(this.ctl, READY)) < workers; ) {
      if (Date.now() > deadline) {
        this.dispose();
        throw new Error(`wasm backend: only ${ready} of ${workers} worker threads started within ${READY_TIMEOUT_MS / 1000} s`);
      }
      Atomics.wait(this.ctl, READY, ready, 100);
    }
    this.checkError();
  }

  run(job: TaskJob): void {
    if (this.broken) throw new Error(this.broken);
    if (this.disposed) throw new Error('wasm backend: thread pool used after dispose()');
    const { kernel, count, scratch, scratchStride, args } = job;
    if (args.length > MAX_TASK_ARGS) throw new Error(`${kernel}: ${args.length} arguments, at most ${MAX_TASK_ARGS}`);
    if (count <= 1) {
      // Nothing to share: waking the workers would cost more than it saves.
      for (let t = 0; t < count; t++) this.kernels.runTask(kernel, t, scratch, args);
      return;
    }
    const { ctl, f64 } = this;
    f64[0] = scratch;
    f64[1] = scratchStride;
    for (let i = 0; i < MAX_TASK_ARGS; i++) f64[2 + i] = i < args.length ? args[i] : 0;
    ctl[KERNEL] = TASK_KERNELS.indexOf(kernel);
    ctl[COUNT] = count;
    Atomics.store(ctl, NEXT, 0);
    Atomics.store(ctl, DONE, 0);
    Atomics.add(ctl, GENERATION, 1);
    Atomics.notify(ctl, GENERATION);
    try {
      for (let t; (t = Atomics.add(ctl, NEXT, 1)) < count; ) this.kernels.runTask(kernel, t, scratch, args);
    } finally {
      // Even if a piece threw here, the workers are still writing: wait for them first.
      this.waitForWorkers(kernel);
    }
    this.checkError();
  }

  /** Until every worker has finished the job; throws (and breaks the pool) if they stall. */
  private waitForWorkers(kernel: string): void {
    const { ctl } = this;
    const workers = this.workers.length;
    let spins = 0;
    let last = -1;
    let since = 0;
    for (let done; (done = Atomics.load(ctl, DONE)) < workers; ) {
      if (++spins <= SPIN) continue;
      if (done !== last) {
        last = done;
        since = Date.now();
      } else if (Date.now() - since > this.stallTimeoutMs) {
        this.broken = `wasm backend: ${workers - done} of ${workers} worker threads stopped responding ` +
          `(no piece of ${kernel} finished in ${this.stallTimeoutMs / 1000} s); start a new backend`;
        this.dispose();
        throw new Error(this.broken);
      }
      Atomics.wait(ctl, DONE, done, 100);
    }
  }

  private checkError(): void {
    if (Atomics.load(this.ctl, ERROR) === 0) return;
    const end = this.message.indexOf(0);
    const text = new TextDecoder().decode(this.message.slice(0, end < 0 ? undefined : end));
    Atomics.store(this.ctl, ERROR, 0);
    throw new Error(`wasm backend: a worker thread failed: ${text}`);
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    Atomics.store(this.ctl, QUIT, 1);
    Atomics.add(this.ctl, GENERATION, 1);
    Atomics.notify(this.ctl, GENERATION);
    for (const w of this.workers) void w.terminate();
  }
}
