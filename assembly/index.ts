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
 * Memory: imported (env.memory), shared (built with --sharedMemory: one compiled module runs in
 * several threads over one memory) and laid out by the host. Kernels never allocate, keep no
 * mutable globals and have no data segments (instantiating in another thread writes nothing).
 * Every pointer is a byte address into that memory; every size counts floats.
 *
 * Kernels named `*_task` compute one piece of a layer: (task, scratch, ...) with the piece's index
 * and a private scratch region of the calling thread; the host runs pieces [0, count) on any number
 * of threads (src/backend/wasm/backend.ts), and a piece's result does not depend on which.
 */

export { f32_gemm, f32_gemm_4x8_peak } from './gemm';
export { x32_packw_gemm_goi_x8, x32_packw_gemm_gio_x8, x32_packx_4x, x32_packx_4x_t } from './pack';
export { im2col, col2im } from './im2col';
export { flush_subnormals, has_subnormals } from './flush';
export {
  im2col_packx_4x, im2col_pad_size, conv2d_forward_task, conv2d_backward_data_task, conv2d_backward_filter_task,
  conv2d_bias_grad_task, f32_sum_task,
} from './conv';
export {
  winograd_filter_transform, pad_planes_task, winograd_forward_task, winograd_backward_data_task,
  winograd_backward_filter_task, winograd_filter_grad_task,
} from './winograd';
export { linear_forward_task, gemm_task, column_sums_task } from './linear';
export { relu_forward_task, relu_backward_task } from './eltwise';
export { lrn_forward_task, lrn_backward_task } from './lrn';
export { maxpool_forward_task, maxpool_backward_task } from './pool';
export { sgd_update_task } from './optimizer';

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
