/**
 * The three builds of assembly/ and their loader: all present, all compiled from one source with
 * the same exports, each reporting its own instruction set; the relaxed build runs in the test
 * workers (so every other kernel test covers it); chooseBuild prefers relaxed, then simd; the
 * warm-up runs every kernel; the allocator aligns and grows.
 */

import { describe, expect, it } from 'vitest';
import {
  BUILD_NAMES, BumpAllocator, Kernels, PAGE_BYTES, canRun, chooseBuild, createMemory, setUpKernels,
} from '../../src/backend/wasm/kernels.js';
import { bestBuild, loadKernels, readAllKernelBytes, readKernelBytes } from '../../src/backend/wasm/node-loader.js';
import { RUNNABLE_BUILDS } from './harness.js';

/** The bits of the WebAssembly JS API used here (the project's TypeScript lib has no DOM types). */
interface ModuleDescriptor { module?: string; name: string; kind: string }
const WA = (globalThis as unknown as {
  WebAssembly: {
    Module: { new (bytes: Uint8Array): object; exports(m: object): ModuleDescriptor[]; imports(m: object): ModuleDescriptor[] };
    compile(bytes: Uint8Array): Promise<object>;
  };
}).WebAssembly;

describe('kernel builds', () => {
  it('every build is in build/ and this Node compiles all three', () => {
    // relaxed needs --experimental-wasm-relaxed-simd on Node 20: vitest.config.ts passes it
    expect(RUNNABLE_BUILDS).toEqual(['relaxed', 'simd', 'scalar']);
  });

  it('the builds have the same exports', () => {
    const exportsOf = (bytes: Uint8Array): string[] =>
      WA.Module.exports(new WA.Module(bytes)).map((e) => `${e.kind} ${e.name}`).sort();
    const simd = exportsOf(readKernelBytes('simd'));
    expect(exportsOf(readKernelBytes('scalar'))).toEqual(simd);
    expect(exportsOf(readKernelBytes('relaxed'))).toEqual(simd);
    // and import nothing but the host's memory
    for (const build of BUILD_NAMES) {
      const imports = WA.Module.imports(new WA.Module(readKernelBytes(build)));
      expect(imports.map((i) => `${i.module}.${i.name} ${i.kind}`)).toEqual(['env.memory memory']);
    }
  });

  it('no build has data segments: instantiating in another thread must not write the shared memory', () => {
    // Section ids of the binary format: 11 is data; walk the sections by their LEB128 sizes.
    const sectionIds = (bytes: Uint8Array): number[] => {
      const ids: number[] = [];
      let at = 8;
      while (at < bytes.length) {
        const id = bytes[at++];
        let size = 0, shift = 0, b;
        do {
          b = bytes[at++];
          size |= (b & 0x7f) << shift;
          shift += 7;
        } while (b & 0x80);
        ids.push(id);
        at += size;
      }
      return ids;
    };
    for (const build of BUILD_NAMES) {
      const ids = sectionIds(readKernelBytes(build));
      expect(ids, build).toContain(10); // code
      expect(ids, build).not.toContain(11);
    }
  });

  it('each build reports its instruction set, and a mislabelled build is refused', () => {
    for (const build of BUILD_NAMES) {
      expect(() => Kernels.instantiateSync(build, readKernelBytes(build), createMemory())).not.toThrow();
    }
    expect(() => Kernels.instantiateSync('simd', readKernelBytes('scalar'), createMemory())).toThrow(/instruction set 0, expected 1/);
  });

  it('chooseBuild picks relaxed, then simd, then scalar, among what validates', () => {
    const all = readAllKernelBytes();
    expect(chooseBuild(all)).toBe('relaxed');
    expect(bestBuild()).toBe('relaxed');
    expect(chooseBuild({ simd: all.simd, scalar: all.scalar })).toBe('simd');
    expect(chooseBuild({ scalar: all.scalar })).toBe('scalar');
    // bytes that do not validate are passed over
    expect(chooseBuild({ relaxed: new Uint8Array([0, 97, 115, 109, 9, 9]), scalar: all.scalar })).toBe('scalar');
    expect(() => chooseBuild({})).toThrow(/npm run build:wasm/);
    expect(canRun(all.simd!)).toBe(true);
  });

  it('instantiates asynchronously from bytes or a compiled module, over a shared memory', async () => {
    const bytes = readKernelBytes('simd');
    const fromBytes = await Kernels.instantiate('simd', bytes, createMemory());
    expect(fromBytes.build).toBe('simd');
    expect(createMemory().buffer).toBeInstanceOf(SharedArrayBuffer);
    const module = await WA.compile(bytes);
    const twice = await Kernels.instantiate('simd', module, createMemory({ maximumBytes: 2 * PAGE_BYTES }));
    expect(twice.module).toBe(module);
    // the builds import a shared memory (worker threads run them over one memory): a memory that is
    // not shared is refused rather than silently not shared
    const unshared = new (globalThis as unknown as { WebAssembly: { Memory: new (d: object) => object } }).WebAssembly.Memory({ initial: 1, maximum: 2 });
    await expect(Kernels.instantiate('simd', module, unshared as never)).rejects.toThrow(/shared/);
  });

  it('setUpKernels (the browser-safe path) instantiates, lays out from heapBase and warms up', async () => {
    const { kernels, alloc, memory } = await setUpKernels('scalar', readKernelBytes('scalar'));
    expect(kernels.build).toBe('scalar');
    expect(kernels.memory).toBe(memory);
    expect(alloc.alloc(1)).toBeGreaterThanOrEqual(kernels.heapBase);
  });

  for (const build of RUNNABLE_BUILDS) {
    it(`${build}: the warm-up runs every kernel and releases its scratch space`, () => {
      const { kernels, alloc } = loadKernels({ build, warmUp: false });
      const before = alloc.mark();
      kernels.warmUp(alloc, 1);
      expect(alloc.mark()).toBe(before);
    });
  }

  it('the allocator aligns to 64 bytes, never hands out address 0, and grows the memory', () => {
    const memory = createMemory({ initialBytes: PAGE_BYTES });
    const alloc = new BumpAllocator(memory, 0);
    const a = alloc.alloc(3);
    expect(a).toBeGreaterThan(0);
    expect(a % 64).toBe(0);
    const b = alloc.alloc(1);
    expect(b - a).toBe(64);
    const big = alloc.alloc(PAGE_BYTES); // 4 pages of floats
    expect(memory.buffer.byteLength).toBeGreaterThanOrEqual(big + 4 * PAGE_BYTES);
    alloc.f32(big, PAGE_BYTES).fill(1);
    const mark = alloc.mark();
    alloc.alloc(10);
    alloc.reset(mark);
    expect(alloc.alloc(1)).toBe(mark);
    expect(Array.from(alloc.f32(alloc.allocZeroed(5), 5))).toEqual([0, 0, 0, 0, 0]);
  });

  it('the allocator says how much it wanted when the memory cannot grow, and stays usable', () => {
    const memory = createMemory({ initialBytes: PAGE_BYTES, maximumBytes: 4 * PAGE_BYTES });
    const alloc = new BumpAllocator(memory, 0);
    const mark = alloc.mark();
    expect(() => alloc.alloc(2 ** 20)).toThrow(/memory cannot grow to 5 MiB \(it holds 0\.0625 MiB; a smaller batch needs less\)/);
    expect(alloc.mark()).toBe(mark);
    expect(alloc.alloc(PAGE_BYTES / 4)).toBe(mark);
  });
});
