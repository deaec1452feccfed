#!/usr/bin/env node
// The `alexnet` command. The TypeScript sources are compiled to dist/ by `npm run build`
// (run automatically by `npm install`).
import { existsSync, readFileSync } from 'node:fs';
import v8 from 'node:v8';

// Node 20 compiles relaxed-SIMD WebAssembly (the wasm backend's fastest build: fused multiply-adds)
// only with --experimental-wasm-relaxed-simd; it is on by default from Node 21. The flag is set here,
// before any module is compiled, rather than by starting a second node with it: this process keeps
// its stdio, exit status and signals (Ctrl-C during `alexnet train` checkpoints, then exits).
// Worker threads share the process's V8 flags. If the flag does not take, the backend falls back to
// the plain SIMD build by itself.
const relaxed = new URL('../build/kernels-relaxed.wasm', import.meta.url);
if (existsSync(relaxed)) {
  const bytes = readFileSync(relaxed);
  if (!WebAssembly.validate(bytes)) v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
}

const { main } = await import('../dist/cli/main.js');
process.exitCode = await main(process.argv.slice(2));
