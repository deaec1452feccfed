/**
 * The wasm backend under Node, synchronously: reads a build from build/ (node-loader.ts), with more
 * than one thread starts the worker pool (node-pool.ts), and warms the kernels up (unless
 * `warmUp: false`).
 */

import { WasmKernelBackend, type WasmBackend, type WasmBackendOptions } from './backend.js';
import { createMemory } from './kernels.js';
import { loadKernels } from './node-loader.js';
import { WorkerPool, defaultThreads } from './node-pool.js';
import { InlineRunner } from './runner.js';

export function createWasmBackendSync(options: WasmBackendOptions & { warmUp?: boolean } = {}): WasmBackend {
  const threads = options.threads ?? defaultThreads();
  if (!(Number.isInteger(threads) && threads >= 1)) throw new Error(`wasm backend: threads must be a positive integer, got ${threads}`);
  const setup = loadKernels({ build: options.build, memory: createMemory({ initialBytes: 16 * 2 ** 20 }) });
  const runner = threads > 1 ? new WorkerPool(setup.kernels, threads) : new InlineRunner(setup.kernels);
  const backend = new WasmKernelBackend(setup, runner, { winograd: options.winograd });
  if (options.warmUp ?? true) backend.warmUp();
  return backend;
}
