/**
 * The Node-only edge of the WebAssembly kernels: reads build/kernels-*.wasm from the package root
 * (src/backend/wasm/ and dist/backend/wasm/ both sit three levels below it) and hands the bytes to
 * kernels.ts, which does everything else.
 */

import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  BUILD_NAMES, type BuildName, type KernelSetup, type WasmMemory, buildFileName, canRun, chooseBuild, setUpKernelsSync,
} from './kernels.js';

/** The package's build/ folder. */
export const BUILD_DIR = fileURLToPath(new URL('../../../build/', import.meta.url));

export function kernelPath(build: BuildName): string {
  return BUILD_DIR + buildFileName(build);
}

/** The bytes of one build; says how to produce it if it is missing. */
export function readKernelBytes(build: BuildName): Uint8Array {
  const path = kernelPath(build);
  if (!existsSync(path)) throw new Error(`${path} not found: run \`npm run build:wasm\` (or \`npm run build\`) first`);
  return new Uint8Array(readFileSync(path));
}

/** Every build present in build/. */
export function readAllKernelBytes(): Partial<Record<BuildName, Uint8Array>> {
  const out: Partial<Record<BuildName, Uint8Array>> = {};
  for (const build of BUILD_NAMES) if (existsSync(kernelPath(build))) out[build] = readKernelBytes(build);
  return out;
}

/** Which build this Node process will run: relaxed needs Node 21+ or --experimental-wasm-relaxed-simd. */
export function bestBuild(): BuildName {
  return chooseBuild(readAllKernelBytes());
}

export type LoadedKernels = KernelSetup;

/**
 * Reads, instantiates and warms up a build (default: the best this process accepts) over a fresh
 * memory (or the given one): setUpKernelsSync on the bytes of build/.
 */
export function loadKernels(options: { build?: BuildName; memory?: WasmMemory; warmUp?: boolean } = {}): LoadedKernels {
  const build = options.build ?? bestBuild();
  const bytes = readKernelBytes(build);
  if (!canRun(bytes)) {
    throw new Error(`${kernelPath(build)} does not compile in this Node ${process.version}` +
      (build === 'relaxed' ? ': relaxed SIMD needs Node 21+ or `node --experimental-wasm-relaxed-simd`' : ''));
  }
  return setUpKernelsSync(build, bytes, options);
}
