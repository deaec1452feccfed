/**
 * Packed matrix product C = A . B (+ bias) (then ReLU), the one arithmetic kernel of convolution and
 * fully connected layers, forward and backward.
 *
 * The naive loop it must equal (up to rounding; see "Summation order" below):
 *
 *   for m in [0, M), n in [0, N):
 *     acc = accumulate ? C[m, n] : (biasAlongM ? bias[m] : bias ? bias[n] : 0)
 *     for k in [0, K): acc += A[m, k] * B[k, n]
 *     C[m, n] = relu ? max(0, acc) : acc
 *
 * where C[m, n] lives at c[m*ldc + n] (row-major) or, with cTransposed, at c[n*ldc + m].
 *
 * Operands come packed (pack.ts), so one kernel serves every product whatever the layout of its
 * sources. Per K block of KC rows (kc = KC, or less for the last block):
 *   A  [ceil(M/4)][kc][4]  micro-panels of 4 rows, k-major; a ragged last panel repeats row M-1
 *   B  [ceil(N/8)][kc][8]  panels of 8 columns, k-major (XNNPACK "goi" for weights); a ragged last
 *                          panel is zero-padded
 * and the K blocks one after the other (BLIS's packed blocks: a sweep over a block's panels reads
 * memory in order, which matters when B streams from DRAM, as the fc weights do).
 *
 * How the products of AlexNet map onto it (M = rows of A, N = the 8-wide panel dimension):
 *   conv forward    Y_g[OCg, P] = W_g . cols + b     M = P,   N = OCg, K = K;   C^T stored (NCHW), bias along N
 *   conv dW         dW_g[OCg, K] += dY_g . cols^T    M = OCg, N = K,   K = P;   row-major, accumulate
 *   conv dcols      dcols[K, P] = W_g^T . dY_g       M = P,   N = K,   K = OCg; C^T stored
 *   fc forward      y[B, OUT] = x . W^T + b          M = B,   N = OUT, K = IN;  row-major, bias along N
 *   fc dx           dx[B, IN] = dy . W               M = B,   N = IN,  K = OUT; row-major
 *   fc dW           dW[OUT, IN] = dy^T . x           M = OUT, N = IN,  K = B;   row-major
 * Pixels (and batch rows) go on M, where a ragged edge costs only clamped row pointers; the weights'
 * output channels go on N, where AlexNet's counts are multiples of 8.
 *
 * Blocking (loop order as BLIS, with both operands packed up front by the host):
 *   for each K block of KC = 256 rows        an A micro-panel (4 KB) and a B micro-panel (8 KB) in L1
 *     for each M block of MC = 128 rows      the A block (128 KB) in L2
 *       for each B panel of 8 columns        stays in L1 while ...
 *         for each A micro-panel of 4 rows   ... the A panels of the block stream past it
 *           4x8 micro-kernel over the K block
 * Between K blocks the partial sums live in C: the micro-kernel starts its accumulators from C
 * (or from the bias on the first block) and applies ReLU only on the last block.
 *
 * Summation order: every C element is bias-or-C, then + A[m,0]B[0,n], + A[m,1]B[1,n], ... in k
 * order, one rounding per multiply and per add, exactly the naive float32 loop above. So the simd
 * and scalar builds agree bit for bit; the relaxed build fuses each multiply-add (one rounding).
 *
 * Work can be split by the host (threads, later) along M: f32_gemm takes a range of rows of C;
 * each C element is reduced in the same order whatever the split.
 *
 * Reference: XNNPACK src/f32-gemm/gen/f32-gemm-4x8-minmax-wasmsimd-x86-loadsplat.c (the micro-kernel);
 * Goto & van de Geijn, "Anatomy of High-Performance Matrix Multiplication" (2008), and BLIS (blocking).
 */

/** Rows of the micro-kernel tile: pixels (or batch rows). */
export const MR: i32 = 4;
/** Columns of the micro-kernel tile: output channels, two f32x4 vectors. */
export const NR: i32 = 8;
/** K block: keeps the A and B micro-panels of one tile in L1. */
export const KC: i32 = 256;
/** M block: rows of A reused from L2 against each B panel. A multiple of MR. */
export const MC: i32 = 128;

// ---------------------------------------------------------------------------------------------
// Partial vector loads and stores, for tiles cut by the edge of C (count in 0..4 lanes).

// @ts-ignore: decorator
@inline function loadPartial(p: usize, count: i32): v128 {
  if (count >= 4) return v128.load(p);
  if (count == 3) return v128.load32_lane(p, v128.load64_zero(p), 2, 8);
  if (count == 2) return v128.load64_zero(p);
  if (count == 1) return v128.load32_zero(p);
  return f32x4.splat(0);
}

// @ts-ignore: decorator
@inline function storePartial(p: usize, v: v128, count: i32): void {
  if (count >= 4) {
    v128.store(p, v);
  } else if (count == 3) {
    v128.store64_lane(p, v, 0);
    v128.store32_lane(p, v, 2, 8);
  } else if (count == 2) {
    v128.store64_lane(p, v, 0);
  } else if (count == 1) {
    v128.store32_lane(p, v, 0);
  }
}

/** Multiply-add: one rounding with relaxed SIMD (vfmadd231ps), two without. */
// @ts-ignore: decorator
@inline function madd(va: v128, vb: v128, vacc: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) {
    return f32x4.relaxed_madd(va, vb, vacc);
  } else {
    return f32x4.add(vacc, f32x4.mul(va, vb));
  }
}

// ---------------------------------------------------------------------------------------------
// The 4x8 micro-kernel, SIMD: 8 v128 accumulators (4 rows x two f32x4), A by load32_splat,
// B by two v128.load per k. 8 accumulators + 4 va + 2 vb = 14 xmm registers, within the 15 V8
// gives wasm, so the loop runs without spills. Checked with `node --print-wasm-code` (Node 20.20,
// V8 11.3, TurboFan): the loop body is 4 vbroadcastss + 2 vmovdqu + 8 vfmadd231ps (relaxed) or
// 8 vmulps + 8 vaddps through one temporary (simd), loop counters and V8's stack check, and no
// stack traffic. Unrolling k by 2 measured slower in both builds.

// @ts-ignore: decorator
@inline function ukernelSimd(
  mr: i32, nr: i32, kc: i32,
  a: usize, b: usize,
  c: usize, ldc: i32, cTransposed: bool,
  initFromC: bool, biasN: usize, biasM: usize, relu: bool,
): void {
  const cs = <usize>ldc << 2; // C stride in bytes
  let vacc0x0123: v128, vacc0x4567: v128;
  let vacc1x0123: v128, vacc1x4567: v128;
  let vacc2x0123: v128, vacc2x4567: v128;
  let vacc3x0123: v128, vacc3x4567: v128;

  // Row pointers of a row-major tile, clamped at the edge of C: rows past M alias the last row
  // (whose A rows the packer repeated too), so they compute and store the same values.
  const c0 = c;
  const c1 = mr > 1 ? c0 + cs : c0;
  const c2 = mr > 2 ? c1 + cs : c1;
  const c3 = mr > 3 ? c2 + cs : c2;

  if (initFromC) {
    if (!cTransposed) {
      const nlo = min(nr, 4), nhi = nr - 4;
      vacc0x0123 = loadPartial(c0, nlo); vacc0x4567 = loadPartial(c0 + 16, nhi);
      vacc1x0123 = loadPartial(c1, nlo); vacc1x4567 = loadPartial(c1 + 16, nhi);
      vacc2x0123 = loadPartial(c2, nlo); vacc2x4567 = loadPartial(c2 + 16, nhi);
      vacc3x0123 = loadPartial(c3, nlo); vacc3x4567 = loadPartial(c3 + 16, nhi);
    } else {
      // C^T: column n of the tile is 4 consecutive floats at c + n*ldc; load columns, transpose.
      const vc0 = loadPartial(c, mr);
      const vc1 = nr > 1 ? loadPartial(c + cs, mr) : f32x4.splat(0);
      const vc2 = nr > 2 ? loadPartial(c + 2 * cs, mr) : f32x4.splat(0);
      const vc3 = nr > 3 ? loadPartial(c + 3 * cs, mr) : f32x4.splat(0);
      const vc4 = nr > 4 ? loadPartial(c + 4 * cs, mr) : f32x4.splat(0);
      const vc5 = nr > 5 ? loadPartial(c + 5 * cs, mr) : f32x4.splat(0);
      const vc6 = nr > 6 ? loadPartial(c + 6 * cs, mr) : f32x4.splat(0);
      const vc7 = nr > 7 ? loadPartial(c + 7 * cs, mr) : f32x4.splat(0);
      let t0 = f32x4.shuffle(vc0, vc1, 0, 4, 1, 5);
      let t1 = f32x4.shuffle(vc0, vc1, 2, 6, 3, 7);
      let t2 = f32x4.shuffle(vc2, vc3, 0, 4, 1, 5);
      let t3 = f32x4.shuffle(vc2, vc3, 2, 6, 3, 7);
      vacc0x0123 = f32x4.shuffle(t0, t2, 0, 1, 4, 5);
      vacc1x0123 = f32x4.shuffle(t0, t2, 2, 3, 6, 7);
      vacc2x0123 = f32x4.shuffle(t1, t3, 0, 1, 4, 5);
      vacc3x0123 = f32x4.shuffle(t1, t3, 2, 3, 6, 7);
      t0 = f32x4.shuffle(vc4, vc5, 0, 4, 1, 5);
      t1 = f32x4.shuffle(vc4, vc5, 2, 6, 3, 7);
      t2 = f32x4.shuffle(vc6, vc7, 0, 4, 1, 5);
      t3 = f32x4.shuffle(vc6, vc7, 2, 6, 3, 7);
      vacc0x4567 = f32x4.shuffle(t0, t2, 0, 1, 4, 5);
      vacc1x4567 = f32x4.shuffle(t0, t2, 2, 3, 6, 7);
      vacc2x4567 = f32x4.shuffle(t1, t3, 0, 1, 4, 5);
      vacc3x4567 = f32x4.shuffle(t1, t3, 2, 3, 6, 7);
    }
  } else if (biasN != 0) {
    // The B panel is zero-padded, and so must the bias be read: only nr lanes are real.
    vacc0x0123 = loadPartial(biasN, min(nr, 4));
    vacc0x4567 = loadPartial(biasN + 16, nr - 4);
    vacc1x0123 = vacc0x0123; vacc1x4567 = vacc0x4567;
    vacc2x0123 = vacc0x0123; vacc2x4567 = vacc0x4567;
    vacc3x0123 = vacc0x0123; vacc3x4567 = vacc0x4567;
  } else if (biasM != 0) {
    const b0 = biasM;
    const b1 = mr > 1 ? b0 + 4 : b0;
    const b2 = mr > 2 ? b1 + 4 : b1;
    const b3 = mr > 3 ? b2 + 4 : b2;
    vacc0x0123 = v128.load32_splat(b0); vacc0x4567 = vacc0x0123;
    vacc1x0123 = v128.load32_splat(b1); vacc1x4567 = vacc1x0123;
    vacc2x0123 = v128.load32_splat(b2); vacc2x4567 = vacc2x0123;
    vacc3x0123 = v128.load32_splat(b3); vacc3x4567 = vacc3x0123;
  } else {
    vacc0x0123 = f32x4.splat(0); vacc0x4567 = vacc0x0123;
    vacc1x0123 = vacc0x0123; vacc1x4567 = vacc0x0123;
    vacc2x0123 = vacc0x0123; vacc2x4567 = vacc0x0123;
    vacc3x0123 = vacc0x0123; vacc3x4567 = vacc0x0123;
  }

  for (let k = kc; k > 0; k--) {
    const va0 = v128.load32_splat(a);
    const va1 = v128.load32_splat(a, 4);
    const va2 = v128.load32_splat(a, 8);
    const va3 = v128.load32_splat(a, 12);
    a += 16;
    const vb0123 = v128.load(b);
    const vb4567 = v128.load(b, 16);
    b += 32;
    vacc0x0123 = madd(va0, vb0123, vacc0x0123);
    vacc0x4567 = madd(va0, vb4567, vacc0x4567);
    vacc1x0123 = madd(va1, vb0123, vacc1x0123);
    vacc1x4567 = madd(va1, vb4567, vacc1x4567);
    vacc2x0123 = madd(va2, vb0123, vacc2x0123);
    vacc2x4567 = madd(va2, vb4567, vacc2x4567);
    vacc3x0123 = madd(va3, vb0123, vacc3x0123);
    vacc3x4567 = madd(va3, vb4567, vacc3x4567);
  }

  if (relu) {
    // pmax(0, x) = 0 < x ? x : 0: one maxps; f32x4.max would add NaN handling (~8 instructions).
    const vzero = f32x4.splat(0);
    vacc0x0123 = f32x4.pmax(vzero, vacc0x0123); vacc0x4567 = f32x4.pmax(vzero, vacc0x4567);
    vacc1x0123 = f32x4.pmax(vzero, vacc1x0123); vacc1x4567 = f32x4.pmax(vzero, vacc1x4567);
    vacc2x0123 = f32x4.pmax(vzero, vacc2x0123); vacc2x4567 = f32x4.pmax(vzero, vacc2x4567);
    vacc3x0123 = f32x4.pmax(vzero, vacc3x0123); vacc3x4567 = f32x4.pmax(vzero, vacc3x4567);
  }

  if (!cTransposed) {
    if (nr == 8) {
      // Last row first, as XNNPACK: where rows alias, the values are equal anyway.
      v128.store(c3, vacc3x0123); v128.store(c3, vacc3x4567, 16);
      v128.store(c2, vacc2x0123); v128.store(c2, vacc2x4567, 16);
      v128.store(c1, vacc1x0123); v128.store(c1, vacc1x4567, 16);
      v128.store(c0, vacc0x0123); v128.store(c0, vacc0x4567, 16);
    } else {
      const nlo = min(nr, 4), nhi = nr - 4;
      storePartial(c3, vacc3x0123, nlo); storePartial(c3 + 16, vacc3x4567, nhi);
      storePartial(c2, vacc2x0123, nlo); storePartial(c2 + 16, vacc2x4567, nhi);
      storePartial(c1, vacc1x0123, nlo); storePartial(c1 + 16, vacc1x4567, nhi);
      storePartial(c0, vacc0x0123, nlo); storePartial(c0 + 16, vacc0x4567, nhi);
    }
  } else {
    // C^T (e.g. NCHW conv output): transpose the two 4x4 halves so that each vector holds the 4
    // rows of one column, then store column n at c + n*ldc. Rows past M are cut by lane stores
    // (aliasing would spill into the next column); columns past N are not stored.
    let t0 = f32x4.shuffle(vacc0x0123, vacc1x0123, 0, 4, 1, 5);
    let t1 = f32x4.shuffle(vacc0x0123, vacc1x0123, 2, 6, 3, 7);
    let t2 = f32x4.shuffle(vacc2x0123, vacc3x0123, 0, 4, 1, 5);
    let t3 = f32x4.shuffle(vacc2x0123, vacc3x0123, 2, 6, 3, 7);
    const vc0 = f32x4.shuffle(t0, t2, 0, 1, 4, 5);
    const vc1 = f32x4.shuffle(t0, t2, 2, 3, 6, 7);
    const vc2 = f32x4.shuffle(t1, t3, 0, 1, 4, 5);
    const vc3 = f32x4.shuffle(t1, t3, 2, 3, 6, 7);
    t0 = f32x4.shuffle(vacc0x4567, vacc1x4567, 0, 4, 1, 5);
    t1 = f32x4.shuffle(vacc0x4567, vacc1x4567, 2, 6, 3, 7);
    t2 = f32x4.shuffle(vacc2x4567, vacc3x4567, 0, 4, 1, 5);
    t3 = f32x4.shuffle(vacc2x4567, vacc3x4567, 2, 6, 3, 7);
    const vc4 = f32x4.shuffle(t0, t2, 0, 1, 4, 5);
    const vc5 = f32x4.shuffle(t0, t2, 2, 3, 6, 7);
    const vc6 = f32x4.shuffle(t1, t3, 0, 1, 4, 5);
    const vc7 = f32x4.shuffle(t1, t3, 2, 3, 6, 7);
    if (mr == 4 && nr == 8) {
      v128.store(c, vc0); v128.store(c + cs, vc1);
      v128.store(c + 2 * cs, vc2); v128.store(c + 3 * cs, vc3);
      v128.store(c + 4 * cs, vc4); v128.store(c + 5 * cs, vc5);
      v128.store(c + 6 * cs, vc6); v128.store(c + 7 * cs, vc7);
    } else {
      storePartial(c, vc0, mr);
      if (nr > 1) storePartial(c + cs, vc1, mr);
      if (nr > 2) storePartial(c + 2 * cs, vc2, mr);
      if (nr > 3) storePartial(c + 3 * cs, vc3, mr);
      if (nr > 4) storePartial(c + 4 * cs, vc4, mr);
      if (nr > 5) storePartial(c + 5 * cs, vc5, mr);
      if (nr > 6) storePartial(c + 6 * cs, vc6, mr);
      if (nr > 7) storePartial(c + 7 * cs, vc7, mr);
    }
  }
}

/** SIMD128, multiply then add (two roundings). */
export function f32_gemm_4x8__wasmsimd_loadsplat(
  mr: i32, nr: i32, kc: i32, a: usize, b: usize, c: usize, ldc: i32, cTransposed: bool,
  initFromC: bool, biasN: usize, biasM: usize, relu: bool,
): void {
  ukernelSimd(mr, nr, kc, a, b, c, ldc, cTransposed, initFromC, biasN, biasM, relu);
}

/** Relaxed SIMD: f32x4.relaxed_madd, which V8 lowers to vfmadd231ps where FMA exists. */
export function f32_gemm_4x8__wasmrelaxedsimd_fma_loadsplat(
  mr: i32, nr: i32, kc: i32, a: usize, b: usize, c: usize, ldc: i32, cTransposed: bool,
  initFromC: bool, biasN: usize, biasM: usize, relu: bool,
): void {
  ukernelSimd(mr, nr, kc, a, b, c, ldc, cTransposed, initFromC, biasN, biasM, relu);
}

/** No SIMD: the same tile as plain loops, in the same summation order. */
export function f32_gemm_4x8__scalar(
  mr: i32, nr: i32, kc: i32, a: usize, b: usize, c: usize, ldc: i32, cTransposed: bool,
  initFromC: bool, biasN: usize, biasM: usize, relu: bool,
): void {
  for (let i = 0; i < mr; i++) {
    for (let j = 0; j < nr; j++) {
      const cp = cTransposed ? c + ((<usize>j * ldc + i) << 2) : c + ((<usize>i * ldc + j) << 2);
      let acc: f32 = 0;
      if (initFromC) acc = load<f32>(cp);
      else if (biasN != 0) acc = load<f32>(biasN + (<usize>j << 2));
      else if (biasM != 0) acc = load<f32>(biasM + (<usize>i << 2));
      let pa = a + (<usize>i << 2);
      let pb = b + (<usize>j << 2);
      for (let k = 0; k < kc; k++) {
        acc += load<f32>(pa) * load<f32>(pb);
        pa += MR << 2;
        pb += NR << 2;
      }
      if (relu && !(acc > 0)) acc = 0; // = pmax(0, acc), NaN included
      store<f32>(cp, acc);
    }
  }
}

/** The micro-kernel of this build, chosen at compile time. */
// @ts-ignore: decorator
@inline function ukernel(
  mr: i32, nr: i32, kc: i32, a: usize, b: usize, c: usize, ldc: i32, cTransposed: bool,
  initFromC: bool, biasN: usize, biasM: usize, relu: bool,
): void {
  if (ASC_FEATURE_RELAXED_SIMD) {
    f32_gemm_4x8__wasmrelaxedsimd_fma_loadsplat(mr, nr, kc, a, b, c, ldc, cTransposed, initFromC, biasN, biasM, relu);
  } else if (ASC_FEATURE_SIMD) {
    f32_gemm_4x8__wasmsimd_loadsplat(mr, nr, kc, a, b, c, ldc, cTransposed, initFromC, biasN, biasM, relu);
  } else {
    f32_gemm_4x8__scalar(mr, nr, kc, a, b, c, ldc, cTransposed, initFromC, biasN, biasM, relu);
  }
}

// ---------------------------------------------------------------------------------------------
// The driver.

/**
 * C = A . B (+ bias) (then ReLU), or C += A . B with `accumulate`; A and B packed (pack.ts).
 *
 *   m, n, k       GEMM sizes: C is [m, n], A [m, k], B [k, n]
 *   a             packed A, 4*ceil(m/4)*k floats (pack.ts)
 *   b             packed B, 8*ceil(n/8)*k floats
 *   c, ldc        C[i, j] at c[i*ldc + j], or c[j*ldc + i] with cTransposed (ldc in floats)
 *   bias          0 for none, else m floats (biasAlongM) or n floats added before the products;
 *                 ignored with accumulate
 *   relu          store max(0, x)
 *   mBegin, mEnd  compute only rows [mBegin, mEnd) of C (mBegin a multiple of 4): the host splits
 *                 work between threads this way; every element is still reduced in the same order,
 *                 so the result does not depend on the split
 */
export function f32_gemm(
  m: i32, n: i32, k: i32,
  a: usize, b: usize,
  c: usize, ldc: i32, cTransposed: bool,
  bias: usize, biasAlongM: bool,
  accumulate: bool, relu: bool,
  mBegin: i32, mEnd: i32,
): void {
  gemmRange(m, n, k, a, b, c, ldc, cTransposed, bias, biasAlongM, accumulate, relu, mBegin, mEnd, 0, n);
}

/**
 * f32_gemm restricted to rows [mBegin, mEnd) and columns [nBegin, nEnd) of C (mBegin a multiple
 * of 4, nBegin a multiple of 8): the host's task kernels split a product this way between
 * threads, along M (pixels, batch rows) or, when M is a single tile (the fc layers at batch 1),
 * along N. Every C element is reduced in the same order whatever the split.
 */
export function gemmRange(
  m: i32, n: i32, k: i32,
  a: usize, b: usize,
  c: usize, ldc: i32, cTransposed: bool,
  bias: usize, biasAlongM: bool,
  accumulate: bool, relu: bool,
  mBegin: i32, mEnd: i32, nBegin: i32, nEnd: i32,
): void {
  const blocks = k > 0 ? (k + KC - 1) / KC : 1; // k = 0 still writes bias (or keeps C) and ReLU
  const mp = <usize>((m + MR - 1) & ~(MR - 1)), np = <usize>((n + NR - 1) & ~(NR - 1));
  for (let kb = 0; kb < blocks; kb++) {
    const k0 = kb * KC;
    const kc = min(KC, k - k0);
    const aBlock = a + (<usize>k0 * mp << 2), bBlock = b + (<usize>k0 * np << 2);
    const first = kb == 0, last = kb == blocks - 1;
    const initFromC = accumulate || !first;
    for (let m0 = mBegin; m0 < mEnd; m0 += MC) {
      const m1 = min(mEnd, m0 + MC);
      for (let n0 = nBegin; n0 < nEnd; n0 += NR) {
        const nr = min(NR, nEnd - n0);
        const bPanel = bBlock + (<usize>n0 * kc << 2); // panel n0/8 of the block: (n0/8)*kc*8 floats in
        const biasN = bias != 0 && !biasAlongM ? bias + (<usize>n0 << 2) : 0;
        for (let i0 = m0; i0 < m1; i0 += MR) {
          const mr = min(MR, m1 - i0);
          const aPanel = aBlock + (<usize>i0 * kc << 2);
          const cTile = cTransposed ? c + ((<usize>n0 * ldc + i0) << 2) : c + ((<usize>i0 * ldc + n0) << 2);
          const biasM = bias != 0 && biasAlongM ? bias + (<usize>i0 << 2) : 0;
          ukernel(mr, nr, kc, aPanel, bPanel, cTile, ldc, cTransposed, initFromC, biasN, biasM, relu && last);
        }
      }
    }
  }
}

/**
 * The micro-kernel alone, `reps` times over one A micro-panel and one B panel of `kc` rows
 * (12 KB at kc = 256: both in L1), accumulating into a row-major 4x8 C: the in-cache peak that
 * bench/gemm.ts sets the layer shapes against. 2*4*8*kc*reps FLOPs.
 */
export function f32_gemm_4x8_peak(reps: i32, kc: i32, a: usize, b: usize, c: usize): void {
  for (let r = 0; r < reps; r++) {
    ukernel(MR, NR, kc, a, b, c, NR, false, true, 0, 0, false);
  }
}
