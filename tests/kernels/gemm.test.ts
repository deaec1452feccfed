/**
 * The packed GEMM (assembly/gemm.ts) and its packers (assembly/pack.ts), in every build, against a
 * plain triple loop written here:
 *
 *   want[i, j] = (accumulate ? C0[i, j] : bias) + sum_k A[i, k] * B[k, j]   (float64)
 *   then max(0, .) with relu
 *
 * Tolerance: a float32 dot product of K terms is within gamma_(K+2) * (|start| + sum_k |A B|) of
 * the exact value whatever the order and whether multiply-adds are fused (harness.ts,
 * dotErrorBound): the bound grows with K as the error does. The simd and scalar builds are also
 * held to the float32 loop itself bit for bit (Math.fround after each multiply and add, in k
 * order): that is the summation order gemm.ts documents; the relaxed build fuses and differs.
 *
 * Every call also checks that nothing outside C's m x n elements was written: the row padding of
 * ldc and a guard region after C keep their canary values (partial tiles store with clamped row
 * pointers and lane stores).
 *
 * Shapes, edge cases first, from the 4x8 tile, KC = 256 and MC = 128:
 *   - every m in 1..9 x n in 1..17 at K = 1 and 3, with every combination of options;
 *   - K below, at and above the K block and two blocks (255, 256, 257, 512, 513, 769) with partial
 *     and full tiles in M and N;
 *   - M around the M block (127, 128, 129, 257); K = 0 (C = bias, or C kept, then ReLU);
 *   - prime sizes; then fast-check shapes with random options and source strides;
 *   - rows computed in ranges (how threads will split the work), in any order, give the same bits.
 */

import { describe, it } from 'vitest';
import fc from 'fast-check';
import { type BuildName, GEMM_KC, type Kernels, type BumpAllocator, packedASize, packedBSize } from '../../src/backend/wasm/kernels.js';
import { Rng, RUNNABLE_BUILDS, dotErrorBound, fcParams, firstBitDifference, kernelsFor, seedArb, uniform } from './harness.js';

interface GemmOptions {
  cTransposed: boolean;
  bias: 'none' | 'm' | 'n';
  accumulate: boolean;
  relu: boolean;
}

interface GemmCase extends GemmOptions {
  m: number; n: number; k: number;
  /** Layout of A's source: [m, k] rows or [k, m] rows. */
  aFrom: 'mk' | 'km';
  /** Layout of B's source: [n, k] rows (goi) or [k, n] rows (gio). */
  bFrom: 'goi' | 'gio';
  /** Extra floats at the end of each source row and each C row. */
  aPad: number; bPad: number; cPad: number;
  seed: number;
}

const ALL_OPTIONS: GemmOptions[] = [];
for (const cTransposed of [false, true]) {
  for (const bias of ['none', 'm', 'n'] as const) {
    for (const accumulate of [false, true]) {
      for (const relu of [false, true]) ALL_OPTIONS.push({ cTransposed, bias, accumulate, relu });
    }
  }
}

/** Canary bit pattern for memory the kernel must not write (a NaN no arithmetic produces). */
const CANARY = new Float32Array(new Uint32Array([0x7fc0beef]).buffer)[0];
const GUARD_FLOATS = 64;

function describeCase(c: GemmCase): string {
  return JSON.stringify(c);
}

/**
 * Lays out the sources, packs them, runs the GEMM and checks every element against the plain loop
 * (and bit for bit against the float32 loop when `exactF32`). Throws with the case and the first
 * bad element.
 */
function checkGemm(kernels: Kernels, alloc: BumpAllocator, c: GemmCase, exactF32: boolean): void {
  const { m, n, k } = c;
  const rng = new Rng(c.seed);
  const A = uniform(rng, m * k); // logical A[i, kk] = A[i*k + kk]
  const B = uniform(rng, k * n); // logical B[kk, j] = B[kk*n + j]
  const biasLen = c.bias === 'm' ? m : c.bias === 'n' ? n : 0;
  const bias = uniform(rng, biasLen);
  const cRows = c.cTransposed ? n : m, cCols = c.cTransposed ? m : n;
  const ldc = cCols + c.cPad;
  const cAt = (i: number, j: number): number => (c.cTransposed ? j * ldc + i : i * ldc + j);
  const C0 = new Float32Array(cRows * ldc + GUARD_FLOATS).fill(CANARY);
  const start = uniform(rng, m * n);
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) C0[cAt(i, j)] = start[i * n + j];

  const mark = alloc.mark();
  try {
    // sources in the layout the case asks for, with padded rows
    const aRows = c.aFrom === 'mk' ? m : k, aCols = c.aFrom === 'mk' ? k : m, lda = aCols + c.aPad;
    const aSrc = new Float32Array(aRows * lda).fill(CANARY);
    for (let i = 0; i < m; i++) for (let kk = 0; kk < k; kk++) aSrc[c.aFrom === 'mk' ? i * lda + kk : kk * lda + i] = A[i * k + kk];
    const bRows = c.bFrom === 'goi' ? n : k, bCols = c.bFrom === 'goi' ? k : n, ldb = bCols + c.bPad;
    const bSrc = new Float32Array(bRows * ldb).fill(CANARY);
    for (let kk = 0; kk < k; kk++) for (let j = 0; j < n; j++) bSrc[c.bFrom === 'goi' ? j * ldb + kk : kk * ldb + j] = B[kk * n + j];

    const aPtr = alloc.allocFrom(aSrc), bPtr = alloc.allocFrom(bSrc);
    const aPacked = alloc.alloc(packedASize(m, k)), bPacked = alloc.alloc(packedBSize(n, k));
    const biasPtr = biasLen ? alloc.allocFrom(bias) : undefined;
    const cPtr = alloc.allocFrom(C0);
    kernels.packA({ from: c.aFrom, m, k, src: aPtr, ld: lda, out: aPacked });
    kernels.packB({ from: c.bFrom, n, k, src: bPtr, ld: ldb, out: bPacked });
    kernels.gemm({
      m, n, k, a: aPacked, b: bPacked, c: cPtr, ldc, cTransposed: c.cTransposed,
      bias: biasPtr, biasAlong: c.bias === 'm' ? 'm' : 'n', accumulate: c.accumulate, relu: c.relu,
    });
    const got = Float32Array.from(alloc.f32(cPtr, C0.length));

    const wantF32 = Float32Array.from(C0); // the float32 loop, in k order
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        const init = c.accumulate ? start[i * n + j] : c.bias === 'm' ? bias[i] : c.bias === 'n' ? bias[j] : 0;
        let exact = init, sumAbs = Math.abs(init), f32 = init;
        for (let kk = 0; kk < k; kk++) {
          const p = A[i * k + kk] * B[kk * n + j]; // exact in float64
          exact += p;
          sumAbs += Math.abs(p);
          f32 = Math.fround(f32 + Math.fround(p));
        }
        const want = c.relu ? Math.max(0, exact) : exact;
        const g = got[cAt(i, j)];
        const tol = dotErrorBound(k + 1, sumAbs);
        if (!(Math.abs(g - want) <= tol)) {
          throw new Error(`${describeCase(c)}: C[${i}, ${j}] = ${g}, expected ${want} within ${tol.toExponential(2)} (K = ${k})`);
        }
        wantF32[cAt(i, j)] = c.relu ? (f32 > 0 ? f32 : 0) : f32;
      }
    }
    // untouched outside the m x n elements: the ldc padding and the guard after C
    for (let r = 0; r < cRows; r++) {
      for (let q = cCols; q < ldc; q++) {
        if (!Object.is(got[r * ldc + q], CANARY)) throw new Error(`${describeCase(c)}: wrote into the row padding at C row ${r}, column ${q}`);
      }
    }
    for (let q = cRows * ldc; q < got.length; q++) {
      if (!Object.is(got[q], CANARY)) throw new Error(`${describeCase(c)}: wrote the guard region, ${q - cRows * ldc} floats after the end of C`);
    }
    if (exactF32) {
      const diff = firstBitDifference(got, wantF32);
      if (diff) throw new Error(`${describeCase(c)}: not the float32 loop bit for bit at ${diff}`);
    }
  } finally {
    alloc.reset(mark);
  }
}

function shapeCase(m: number, n: number, k: number, o: GemmOptions, i: number): GemmCase {
  // vary the source layouts and strides deterministically along with the shapes
  return {
    m, n, k, ...o,
    aFrom: i % 2 ? 'km' : 'mk', bFrom: (i >> 1) % 2 ? 'gio' : 'goi',
    aPad: i % 3, bPad: (i >> 2) % 3, cPad: i % 5 === 0 ? 3 : 0, seed: 1000 + i,
  };
}

const gemmCaseArb: fc.Arbitrary<GemmCase> = fc.record({
  m: fc.integer({ min: 1, max: 70 }),
  n: fc.integer({ min: 1, max: 40 }),
  k: fc.oneof(fc.integer({ min: 0, max: 40 }), fc.integer({ min: GEMM_KC - 8, max: 2 * GEMM_KC + 8 })),
  cTransposed: fc.boolean(),
  bias: fc.constantFrom('none' as const, 'm' as const, 'n' as const),
  accumulate: fc.boolean(),
  relu: fc.boolean(),
  aFrom: fc.constantFrom('mk' as const, 'km' as const),
  bFrom: fc.constantFrom('goi' as const, 'gio' as const),
  aPad: fc.integer({ min: 0, max: 5 }),
  bPad: fc.integer({ min: 0, max: 5 }),
  cPad: fc.integer({ min: 0, max: 5 }),
  seed: seedArb,
});

function runAll(build: BuildName, cases: GemmCase[]): void {
  const { kernels, alloc } = kernelsFor(build);
  for (const c of cases) checkGemm(kernels, alloc, c, build !== 'relaxed');
}

for (const build of RUNNABLE_BUILDS) {
  describe(`${build}: f32_gemm`, () => {
    it('every partial tile: m 1..9 x n 1..17 at K = 1 and 3, every option', () => {
      const cases: GemmCase[] = [];
      let i = 0;
      for (const k of [1, 3]) {
        for (let m = 1; m <= 9; m++) {
          for (let n = 1; n <= 17; n++) for (const o of ALL_OPTIONS) cases.push(shapeCase(m, n, k, o, i++));
        }
      }
      runAll(build, cases);
    });

    it('K below, at and above the K block (255, 256, 257, 512, 513, 769), full and partial tiles', () => {
      const cases: GemmCase[] = [];
      let i = 0;
      for (const k of [GEMM_KC - 1, GEMM_KC, GEMM_KC + 1, 2 * GEMM_KC, 2 * GEMM_KC + 1, 3 * GEMM_KC + 1]) {
        for (const m of [1, 4, 5, 7]) {
          for (const n of [1, 7, 8, 9]) {
            cases.push(shapeCase(m, n, k, ALL_OPTIONS[i % ALL_OPTIONS.length], i));
            i++;
          }
        }
      }
      // every option at one multi-block shape
      for (const o of ALL_OPTIONS) cases.push(shapeCase(6, 11, 2 * GEMM_KC + 3, o, i++));
      runAll(build, cases);
    });

    it('M around the M block of 128 rows (127, 128, 129, 257)', () => {
      const cases = [127, 128, 129, 257].flatMap((m, i) => [
        shapeCase(m, 9, 300, ALL_OPTIONS[i], 2 * i),
        shapeCase(m, 16, 20, ALL_OPTIONS[23 - i], 2 * i + 1),
      ]);
      runAll(build, cases);
    });

    it('K = 0: C is the bias (or stays), then ReLU', () => {
      runAll(build, ALL_OPTIONS.map((o, i) => shapeCase(5, 9, 0, o, i)));
    });

    it('prime sizes', () => {
      const shapes: [number, number, number][] = [[2, 3, 5], [31, 37, 263], [97, 13, 521], [11, 61, 7], [1, 1, 1]];
      runAll(build, shapes.flatMap(([m, n, k], i) => [
        shapeCase(m, n, k, ALL_OPTIONS[(5 * i) % 24], 2 * i),
        shapeCase(m, n, k, ALL_OPTIONS[(5 * i + 13) % 24], 2 * i + 1),
      ]));
    });

    it('rows split into ranges (as threads will) give the same bits as one call', () => {
      const { kernels, alloc } = kernelsFor(build);
      const splitArb = fc.record({
        c: gemmCaseArb,
        cuts: fc.array(fc.nat(), { maxLength: 4 }),
        reverse: fc.boolean(),
      });
      fc.assert(fc.property(splitArb, ({ c, cuts, reverse }) => {
        const { m, n, k } = c;
        const rng = new Rng(c.seed);
        const mark = alloc.mark();
        try {
          const aPacked = alloc.allocFrom(uniform(rng, packedASize(m, k)));
          const bPacked = alloc.allocFrom(uniform(rng, packedBSize(n, k)));
          const bias = alloc.allocFrom(uniform(rng, Math.max(m, n)));
          const ldc = (c.cTransposed ? m : n) + c.cPad;
          const start = uniform(rng, (c.cTransposed ? n : m) * ldc);
          const whole = alloc.allocFrom(start), pieces = alloc.allocFrom(start);
          const args = {
            m, n, k, a: aPacked, b: bPacked, ldc, cTransposed: c.cTransposed, accumulate: c.accumulate, relu: c.relu,
            bias: c.bias === 'none' ? undefined : bias, biasAlong: c.bias === 'm' ? ('m' as const) : ('n' as const),
          };
          kernels.gemm({ ...args, c: whole });
          // boundaries at multiples of 4, pieces run in either order
          const bounds = [...new Set([0, m, ...cuts.map((x) => Math.min(m, 4 * (x % (Math.floor(m / 4) + 1))))])].sort((x, y) => x - y);
          const ranges = bounds.slice(1).map((end, i) => [bounds[i], end] as const);
          for (const rows of reverse ? ranges.reverse() : ranges) kernels.gemm({ ...args, c: pieces, rows });
          const diff = firstBitDifference(alloc.f32(pieces, start.length).slice(), alloc.f32(whole, start.length).slice());
          if (diff) throw new Error(`${describeCase(c)} split at ${bounds.join(', ')}: ${diff}`);
        } finally {
          alloc.reset(mark);
        }
      }), fcParams(100));
    });

    it('random shapes, options and strides', () => {
      const { kernels, alloc } = kernelsFor(build);
      fc.assert(fc.property(gemmCaseArb, (c) => checkGemm(kernels, alloc, c, build !== 'relaxed')), fcParams(150));
    });
  });

  describe(`${build}: packers`, () => {
    const { kernels, alloc } = kernelsFor(build);
    const packArb = fc.record({
      rows: fc.integer({ min: 1, max: 21 }), k: fc.oneof(fc.integer({ min: 0, max: 19 }), fc.integer({ min: GEMM_KC - 6, max: 2 * GEMM_KC + 6 })), pad: fc.integer({ min: 0, max: 4 }), seed: seedArb,
    });

    /** Packs a random [rows, cols] source with row stride cols + pad, returns (source, packed). */
    function pack(what: string, rows: number, cols: number, pad: number, outLen: number, seed: number, run: (src: number, ld: number, out: number) => void) {
      const ld = cols + pad;
      const src = uniform(new Rng(seed), rows * ld);
      const mark = alloc.mark();
      const srcPtr = alloc.allocFrom(src);
      const out = alloc.allocFrom(new Float32Array(outLen).fill(CANARY));
      run(srcPtr, ld, out);
      const packed = Float32Array.from(alloc.f32(out, outLen));
      alloc.reset(mark);
      return { src, ld, packed, what };
    }

    function expectPacked(packed: Float32Array, want: Float32Array, context: string): void {
      const diff = firstBitDifference(packed, want);
      if (diff) throw new Error(`${context}: ${diff}`);
    }

    /**
     * The packed layout of pack.ts, written out: per K block [k0, k0 + kc) of KC rows, the panels
     * one after the other, each [kc][width]; `value(k, col)` is what belongs at (k, col).
     */
    function packedLayout(k: number, cols: number, width: number, value: (kk: number, col: number) => number): Float32Array {
      const padded = Math.ceil(cols / width) * width;
      const out = new Float32Array(padded * k).fill(CANARY);
      for (let kk = 0; kk < k; kk++) {
        const k0 = Math.floor(kk / GEMM_KC) * GEMM_KC, kc = Math.min(GEMM_KC, k - k0);
        for (let col = 0; col < padded; col++) {
          out[k0 * padded + Math.floor(col / width) * kc * width + (kk - k0) * width + (col % width)] = value(kk, col);
        }
      }
      return out;
    }

    it('goi: B[k, j] = src[j*ld + k], zero past n', () => {
      fc.assert(fc.property(packArb, ({ rows: n, k, pad, seed }) => {
        const { src, ld, packed } = pack('goi', n, k, pad, packedBSize(n, k), seed, (s, l, o) => kernels.packB({ from: 'goi', n, k, src: s, ld: l, out: o }));
        expectPacked(packed, packedLayout(k, n, 8, (kk, j) => (j < n ? src[j * ld + kk] : 0)), `goi n ${n} k ${k} ld ${ld}`);
      }), fcParams(150));
    });

    it('gio: B[k, j] = src[k*ld + j], zero past n', () => {
      fc.assert(fc.property(packArb, ({ rows: n, k, pad, seed }) => {
        const { src, ld, packed } = pack('gio', k, n, pad, packedBSize(n, k), seed, (s, l, o) => kernels.packB({ from: 'gio', n, k, src: s, ld: l, out: o }));
        expectPacked(packed, packedLayout(k, n, 8, (kk, j) => (j < n ? src[kk * ld + j] : 0)), `gio n ${n} k ${k} ld ${ld}`);
      }), fcParams(150));
    });

    it('A from [m, k]: A[i, k] = src[min(i, m-1)*ld + k]', () => {
      fc.assert(fc.property(packArb, ({ rows: m, k, pad, seed }) => {
        const { src, ld, packed } = pack('mk', m, k, pad, packedASize(m, k), seed, (s, l, o) => kernels.packA({ from: 'mk', m, k, src: s, ld: l, out: o }));
        expectPacked(packed, packedLayout(k, m, 4, (kk, i) => src[Math.min(i, m - 1) * ld + kk]), `packA mk m ${m} k ${k} ld ${ld}`);
      }), fcParams(150));
    });

    it('A from [k, m]: A[i, k] = src[k*ld + min(i, m-1)]', () => {
      fc.assert(fc.property(packArb, ({ rows: m, k, pad, seed }) => {
        const { src, ld, packed } = pack('km', k, m, pad, packedASize(m, k), seed, (s, l, o) => kernels.packA({ from: 'km', m, k, src: s, ld: l, out: o }));
        expectPacked(packed, packedLayout(k, m, 4, (kk, i) => src[kk * ld + Math.min(i, m - 1)]), `packA km m ${m} k ${k} ld ${ld}`);
      }), fcParams(150));
    });
  });
}
