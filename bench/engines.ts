/**
 * What the benches share: loading this project's `wasm` backend when it exists (it is optional
 * here: src/backend/wasm/backend.ts may not be written yet), the Node flag its relaxed-SIMD build
 * needs, the package versions a result file records, error formatting, and measuring the load that
 * other processes put on the machine.
 */

import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { cpus } from 'node:os';
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
  /** Memory in the backend's WebAssembly memory where weights are used in place (no copy). */
  allocateResident?(byteLength: number): Uint8Array;
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

/**
 * For a bench that runs our kernels: when this Node needs relaxedSimdFlags(), runs the script at
 * `scriptUrl` again with them (same arguments, output inherited) and exits with its status;
 * otherwise returns. Call it before any work.
 */
export function rerunWithRelaxedSimd(scriptUrl: string): void {
  const flags = relaxedSimdFlags();
  if (flags.length === 0) return;
  const child = spawnSync(process.execPath, [...flags, ...process.execArgv, fileURLToPath(scriptUrl), ...process.argv.slice(2)], { stdio: 'inherit' });
  process.exit(child.status ?? 1);
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

// ---------------------------------------------------------------------------------------------
// Load from other processes. The machine is shared: a sample taken while another process keeps a
// core busy is slower, and a two-thread engine loses about half its speed. The benches wait for
// the machine to be quiet before each sample and record how busy the rest of the machine was
// during it.

/** Jiffies of all CPUs from /proc/stat (Linux): busy and total. Null elsewhere. */
export function cpuJiffies(): { busy: number; total: number } | null {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]; // cpu user nice system idle iowait irq softirq steal ...
    const [user, nice, system, idle, iowait, irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number);
    const busy = user + nice + system + irq + softirq + (steal || 0);
    return { busy, total: busy + idle + iowait };
  } catch {
    return null;
  }
}

/** Seconds of CPU per jiffy (USER_HZ; 100 on every Linux this runs on). */
const JIFFY_S = 0.01;

/**
 * Measures, around `fn`, the fraction of the whole machine (all cores) that processes other than
 * this one used: (busy CPU time - this process's CPU time) / (wall time x cores). NaN off Linux.
 */
export async function withForeignLoad<T>(
  fn: () => Promise<T> | T,
  /** CPU seconds of another process of ours to count as ours (a child doing the work). */
  alsoOurs: (value: T) => number = () => 0,
): Promise<{ value: T; foreign: number }> {
  const cores = cpus().length;
  const j0 = cpuJiffies();
  const own0 = process.cpuUsage();
  const t0 = performance.now();
  const value = await fn();
  const wall = (performance.now() - t0) / 1000;
  const own = process.cpuUsage(own0);
  const j1 = cpuJiffies();
  if (!j0 || !j1 || wall <= 0) return { value, foreign: NaN };
  const busy = (j1.busy - j0.busy) * JIFFY_S;
  const mine = (own.user + own.system) / 1e6 + alsoOurs(value);
  return { value, foreign: Math.min(1, Math.max(0, (busy - mine) / (wall * cores))) };
}

/**
 * Waits until the machine is quiet: busy below `threshold` (fraction of all cores) over a 250 ms
 * window, checked while this process and its children idle. Gives up after `maxMs` and says so.
 */
export async function waitForQuiet(threshold: number, maxMs: number): Promise<{ waitedMs: number; busy: number; quiet: boolean }> {
  const t0 = performance.now();
  let busy = NaN;
  for (;;) {
    const j0 = cpuJiffies();
    await new Promise((r) => setTimeout(r, 250));
    const j1 = cpuJiffies();
    if (!j0 || !j1) return { waitedMs: 0, busy: NaN, quiet: true }; // not Linux: nothing to wait for
    busy = (j1.busy - j0.busy) / Math.max(1, j1.total - j0.total);
    const waitedMs = performance.now() - t0;
    if (busy < threshold) return { waitedMs, busy, quiet: true };
    if (waitedMs >= maxMs) return { waitedMs, busy, quiet: false };
  }
}

/** A numeric command-line option `--name VALUE`, or its default. */
export function flag(args: string[], name: string, dflt: number): number {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : dflt;
}

/** The text after `--name` in args, or `dflt`. */
export function textFlag(args: string[], name: string, dflt: string): string {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
}

/** Progress and notes of a bench, on stderr (stdout carries the report). */
export const log = (s: string): void => void process.stderr.write(`${s}\n`);
