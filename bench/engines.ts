/**
 * What the benches share: loading this project's `wasm` backend when it exists (it is optional
 * here: src/backend/wasm/backend.ts may not be written yet), the Node flag its relaxed-SIMD build
 * needs, the package versions a result file records, and error formatting.
 */

import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Backend } from '../src/backend/backend.js';

/** The wasm backend's module. Imported by URL so that the benches type-check without it. */
export const WASM_BACKEND_URL = new URL('../src/backend/wasm/backend.ts', import.meta.url);

/** What the benches use of the wasm backend (src/backend/wasm/backend.ts WasmBackend). */
export interface DisposableBackend extends Backend {
  /** Kernel build in use (relaxed, simd, scalar). */
  readonly build?: string;
  readonly threads?: number;
  /** Drops the packed copies of the weights: after an optimiser step changed them in place. */
  weightsUpdated?(): void;
  dispose(): void | Promise<void>;
}

interface WasmBackendModule {
  createWasmBackend?: (options: { threads: number }) => DisposableBackend | Promise<DisposableBackend>;
}

/** `createWasmBackend({ threads })`, or why it cannot be had. */
export async function loadWasmBackend(threads: number): Promise<{ backend: DisposableBackend } | { missing: string }> {
  const path = fileURLToPath(WASM_BACKEND_URL);
  if (!existsSync(path)) return { missing: `src/backend/wasm/backend.ts does not exist yet` };
  const mod = (await import(WASM_BACKEND_URL.href)) as WasmBackendModule;
  if (typeof mod.createWasmBackend !== 'function') return { missing: 'src/backend/wasm/backend.ts exports no createWasmBackend' };
  return { backend: await mod.createWasmBackend({ threads }) };
}

/**
 * Node 20 compiles the kernels' relaxed-SIMD build only with this flag (default from Node 21);
 * bench/gemm.ts runs with it too. Returned empty when this Node does not need it.
 */
export function relaxedSimdFlags(): string[] {
  const major = Number(process.versions.node.split('.')[0]);
  const flag = '--experimental-wasm-relaxed-simd';
  return major < 21 && !process.execArgv.includes(flag) ? [flag] : [];
}

const require = createRequire(import.meta.url);

/** A package's folder in node_modules (resolving its entry point: not every package exports package.json). */
export function packageDir(name: string): string {
  let dir = dirname(require.resolve(name));
  while (!existsSync(join(dir, 'package.json')) || JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')).name !== name) {
    const up = dirname(dir);
    if (up === dir) throw new Error(`cannot find the folder of ${name}`);
    dir = up;
  }
  return dir;
}

export function packageVersion(name: string): string {
  try {
    return JSON.parse(readFileSync(join(packageDir(name), 'package.json'), 'utf8')).version as string;
  } catch {
    return 'not installed';
  }
}

export function errorText(e: unknown): string {
  if (e instanceof Error) return e.message.split('\n')[0].slice(0, 300);
  return String(e).slice(0, 300);
}

/** Max |a - b| over max |ref|: the relative error every bench prints before it times. */
export function maxRelativeError(got: ArrayLike<number>, ref: ArrayLike<number>): number {
  if (got.length !== ref.length) return Infinity;
  let maxAbs = 0;
  let scale = 0;
  for (let i = 0; i < ref.length; i++) {
    const d = Math.abs(got[i] - ref[i]);
    maxAbs = Number.isNaN(d) ? Infinity : Math.max(maxAbs, d);
    scale = Math.max(scale, Math.abs(ref[i]));
  }
  return maxAbs / scale;
}
