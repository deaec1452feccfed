/**
 * How the backend runs a layer's pieces: a task kernel (assembly/conv.ts, linear.ts) called for
 * every task index in [0, count), each call with the scratch region of the thread that runs it.
 *
 * The backend decides the pieces from the layer's shapes; a runner only decides which thread runs
 * which piece. Since every piece writes its own part of the output, in an order fixed by the piece
 * itself, the results are the same bits whatever the runner and its number of threads.
 *
 * Browser-safe: InlineRunner runs everything on the calling thread; node-pool.ts has the Node
 * worker-thread runner.
 */

import type { Kernels, Ptr, TaskKernel } from './kernels.js';

export interface TaskJob {
  kernel: TaskKernel;
  /** Pieces: the kernel runs with task = 0, 1, ..., count - 1. */
  count: number;
  /** Thread t's scratch region starts at scratch + t*scratchStride bytes (threads * scratchStride bytes in all). */
  scratch: Ptr;
  scratchStride: number;
  /** The kernel's arguments after (task, scratch). */
  args: readonly number[];
}

export interface TaskRunner {
  /** Threads that run pieces, the calling one included. */
  readonly threads: number;
  /** Runs every piece of the job and returns when all are done. */
  run(job: TaskJob): void;
  /** Stops the runner's threads (if any). */
  dispose(): void;
}

/** Runs every piece on the calling thread, in order, with thread 0's scratch. */
export class InlineRunner implements TaskRunner {
  readonly threads = 1;

  constructor(private readonly kernels: Kernels) {}

  run(job: TaskJob): void {
    for (let t = 0; t < job.count; t++) this.kernels.runTask(job.kernel, t, job.scratch, job.args);
  }

  dispose(): void {}
}
