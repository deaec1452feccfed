/**
 * Task kernels of the fully connected layers (src/ops/linear.ts: x [B, IN], w [OUT, IN], y [B, OUT]):
 *
 *   forward   y  = x . W^T + b     gemm_task: A = x (mk), B = W packed goi, bias along N
 *   dx        dx = dy . W          gemm_task: A = dy (mk), B = W packed gio
 *   dW        dW = dy^T . x        gemm_task: A = dy read as [k, m] (km), B = x packed gio
 *   db        db = sum_n dy[n, :]  column_sums_task
 *
 * A task is one tile of rows x columns of C; each packs its own rows of A into its scratch (the
 * A operands are activations: small next to the weights) and multiplies them with the shared,
 * pre-packed B. Splitting along N as well as M keeps both threads busy when M is a single tile
 * (batch 1: the fc layers are then matrix-vector products bound by reading the weights).
 */

import { gemmRange } from './gemm';
import { x32_packx_4x, x32_packx_4x_t } from './pack';

/**
 * C[r0 : r0 + rows, c0 : c0 + cols] = A . B (+ bias along N), one tile of a product whose B is packed.
 *
 *   task          rowTile*colTiles + colTile, with colTiles = ceil(n / cols); r0 = rowTile*rows, c0 = colTile*cols
 *   scratch       packedASize(rows, k) floats: this tile's rows of A, packed
 *   m, n, k       sizes of the whole product: C [m, n], A [m, k], B [k, n]
 *   a, aFromKm    A's source: [m, k] rows (aFromKm = 0, A[i, kk] = a[i*lda + kk]) or [k, m] rows
 *                 (aFromKm = 1, A[i, kk] = a[kk*lda + i])
 *   lda           A source's row stride in floats
 *   b             B packed (pack.ts), packedBSize(n, k) floats
 *   bias          n floats (along N), or 0
 *   c, ldc        C row-major, row stride ldc
 *   rows, cols    tile size: rows a multiple of 4, cols a multiple of 8
 */
export function gemm_task(
  task: i32, scratch: usize,
  m: i32, n: i32, k: i32, a: usize, aFromKm: bool, lda: i32, b: usize, bias: usize, c: usize, ldc: i32,
  rows: i32, cols: i32,
): void {
  const colTiles = (n + cols - 1) / cols;
  const rowTile = task / colTiles, colTile = task % colTiles;
  const r0 = rowTile * rows, mr = min(rows, m - r0);
  const c0 = colTile * cols, c1 = min(n, c0 + cols);
  if (aFromKm) x32_packx_4x_t(mr, k, a + (<usize>r0 << 2), lda, scratch);
  else x32_packx_4x(mr, k, a + ((<usize>r0 * lda) << 2), lda, scratch);
  gemmRange(mr, n, k, scratch, b, c + ((<usize>r0 * ldc) << 2), ldc, false, bias, false, false, false, 0, mr, c0, c1);
}

/**
 * Column sums of a [rows, cols] row-major matrix, columns [task*per, (task + 1)*per):
 *   out[j] = sum_{r < rows} src[r*cols + j]
 * in float64, row by row, rounded once (the fc bias gradient: rows = batch).
 */
export function column_sums_task(task: i32, scratch: usize, src: usize, rows: i32, cols: i32, out: usize, per: i32): void {
  const j0 = task * per, j1 = min(cols, j0 + per);
  const rowBytes = <usize>cols << 2;
  let j = j0;
  if (ASC_FEATURE_SIMD) {
    for (; j + 4 <= j1; j += 4) {
      let p = src + (<usize>j << 2);
      let vacc01 = f64x2.splat(0), vacc23 = f64x2.splat(0);
      for (let r = 0; r < rows; r++) {
        const v = v128.load(p);
        vacc01 = f64x2.add(vacc01, f64x2.promote_low_f32x4(v));
        vacc23 = f64x2.add(vacc23, f64x2.promote_low_f32x4(i32x4.shuffle(v, v, 2, 3, 0, 1)));
        p += rowBytes;
      }
      v128.store(out + (<usize>j << 2), f32x4.demote_f64x2_zero(vacc01));
      v128.store64_lane(out + (<usize>j << 2) + 8, f32x4.demote_f64x2_zero(vacc23), 0);
    }
  }
  for (; j < j1; j++) {
    let p = src + (<usize>j << 2);
    let s: f64 = 0;
    for (let r = 0; r < rows; r++) {
      s += <f64>load<f32>(p);
      p += rowBytes;
    }
    store<f32>(out + (<usize>j << 2), <f32>s);
  }
}
