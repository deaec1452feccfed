/**
 * Entry point of the kernel module: the exports every build shares.
 *
 * One source, three builds (asconfig.json), chosen at compile time by ASC_FEATURE_SIMD and
 * ASC_FEATURE_RELAXED_SIMD:
 *   build/kernels-scalar.wasm   no SIMD: plain loops
 *   build/kernels-simd.wasm     SIMD128: f32x4.mul + f32x4.add
 *   build/kernels-relaxed.wasm  SIMD128 + relaxed SIMD: f32x4.relaxed_madd (FMA)
 * Same exports and signatures in all three, so the host (src/backend/wasm/kernels.ts) does not
 * care which one it got.
 *
 * Memory: imported (env.memory) and laid out by the host. Kernels never allocate, keep no mutable
 * globals and have no data segments, so one compiled module can run in several threads over one
 * shared memory. Every pointer is a byte address into that memory; every size counts floats.
 */

export { f32_gemm, f32_gemm_4x8_peak } from './gemm';
export { x32_packw_gemm_goi_x8, x32_packw_gemm_gio_x8, x32_packx_4x, x32_packx_4x_t } from './pack';
export { im2col, col2im } from './im2col';
export { flush_subnormals } from './flush';

/** Which instruction set this build uses: 0 scalar, 1 SIMD128, 2 SIMD128 + relaxed SIMD. */
export function kernel_isa(): i32 {
  if (ASC_FEATURE_RELAXED_SIMD) return 2;
  if (ASC_FEATURE_SIMD) return 1;
  return 0;
}

/** First byte the host may use: past any static data of this module (there is none today). */
export function heap_base(): usize {
  return __heap_base;
}
