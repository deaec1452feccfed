import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // Whole-network tests take seconds; on a loaded 2-core machine several times more. Timeouts
    // are a guard against hangs, not a speed assertion (speed is measured in bench/).
    testTimeout: 120_000,
    // Node 20 compiles relaxed-SIMD WebAssembly only behind this flag (default from Node 21): with
    // it, tests/kernels runs the relaxed build of assembly/ too, beside the simd and scalar builds.
    execArgv: ['--experimental-wasm-relaxed-simd'],
  },
});
