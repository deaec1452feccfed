/**
 * Flush subnormals to (signed) zero: WebAssembly has no flush-to-zero mode, and on Intel cores an
 * operand or result below the smallest normal float (2^-126 ~ 1.18e-38) makes a multiply-add take
 * a microcode assist: on an Intel Xeon (AVX-512) the GEMM dropped from ~32 to ~0.3 GFLOP/s. AMD
 * Zen handles most of them in hardware (bench/gemm.ts measures both on the machine it runs on). Training can produce such values (decaying weights,
 * vanishing gradients); call this on them before packing.
 *
 * The naive loop it must equal:
 *   for i < n: if (|x[i]| < 2^-126) x[i] = sign(x[i]) * 0
 * (which keeps zeros, normals, infinities and NaNs as they are).
 */

/** The smallest normal float32, 2^-126, as bits. */
const MIN_NORMAL_BITS: u32 = 0x00800000;
/** Every bit but the sign. */
const ABS_MASK: u32 = 0x7fffffff;

export function flush_subnormals(x: usize, n: i32): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    const vabsMask = i32x4.splat(ABS_MASK);
    const vminNormal = i32x4.splat(MIN_NORMAL_BITS);
    for (; i + 4 <= n; i += 4) {
      const p = x + (<usize>i << 2);
      const v = v128.load(p);
      // |x| < 2^-126 compares as integers on the magnitude bits; clearing them leaves the sign.
      const vtiny = i32x4.lt_u(v128.and(v, vabsMask), vminNormal);
      v128.store(p, v128.andnot(v, v128.and(vtiny, vabsMask)));
    }
  }
  for (; i < n; i++) {
    const p = x + (<usize>i << 2);
    const bits = load<u32>(p);
    if ((bits & ABS_MASK) < MIN_NORMAL_BITS) store<u32>(p, bits & ~ABS_MASK);
  }
}

/**
 * Whether any of the n floats at x is subnormal (0 < |x| < 2^-126): a read-only scan, so that a
 * tensor can be used where it lies when there is nothing to flush (the common case).
 */
export function has_subnormals(x: usize, n: i32): bool {
  // 0 < m < 2^-126 as unsigned magnitudes: m - 1 < 2^-126 - 1 (m = 0 wraps to the largest u32)
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    const vabsMask = i32x4.splat(ABS_MASK);
    const vone = i32x4.splat(1);
    const vlimit = i32x4.splat(MIN_NORMAL_BITS - 1);
    for (; i + 16 <= n; i += 16) {
      const p = x + (<usize>i << 2);
      const t0 = i32x4.lt_u(i32x4.sub(v128.and(v128.load(p), vabsMask), vone), vlimit);
      const t1 = i32x4.lt_u(i32x4.sub(v128.and(v128.load(p, 16), vabsMask), vone), vlimit);
      const t2 = i32x4.lt_u(i32x4.sub(v128.and(v128.load(p, 32), vabsMask), vone), vlimit);
      const t3 = i32x4.lt_u(i32x4.sub(v128.and(v128.load(p, 48), vabsMask), vone), vlimit);
      if (v128.any_true(v128.or(v128.or(t0, t1), v128.or(t2, t3)))) return true;
    }
  }
  for (; i < n; i++) {
    if ((load<u32>(x + (<usize>i << 2)) & ABS_MASK) - 1 < MIN_NORMAL_BITS - 1) return true;
  }
  return false;
}
