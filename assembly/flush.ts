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
