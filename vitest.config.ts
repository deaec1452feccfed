import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // Node 20 compiles relaxed-SIMD WebAssembly only behind this flag (default from Node 21): with
    // it, tests/kernels runs the relaxed build of assembly/ too, beside the simd and scalar builds.
    execArgv: ['--experimental-wasm-relaxed-simd'],
  },
});
