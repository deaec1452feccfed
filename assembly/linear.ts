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

import { KC, NR, gemmRange } from './gemm';
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
  if (ASC_FEATURE_SIMD && mr == 1 && !aFromKm) {
    // One row (the fc layers at batch 1): a matrix-vector product, reading A's row in place.
    gemv1xN(n, k, a + ((<usize>r0 * lda) << 2), b, bias, c + ((<usize>r0 * ldc) << 2), c0, c1);
    return;
  }
  if (aFromKm) x32_packx_4x_t(mr, k, a + (<usize>r0 << 2), lda, scratch);
  else x32_packx_4x(mr, k, a + ((<usize>r0 * lda) << 2), lda, scratch);
  gemmRange(mr, n, k, scratch, b, c + ((<usize>r0 * ldc) << 2), ldc, false, bias, false, false, false, 0, mr, c0, c1);
}

/**
 * One row of C: c[j] = bias[j] + sum_k a[k] B[k, j] for j in [nBegin, nEnd) (nBegin a multiple of 8),
 * B packed (pack.ts), a read in place. The naive loop it must equal is gemm.ts's with M = 1, in the
 * same summation order (bias, then k = 0, 1, ..., one multiply-add each, fused in the relaxed
 * build), so a row computed here has the same bits as in a 4x8 tile. With 4 rows of the tile
 * holding copies of one row, the 4x8 kernel does 4 times the arithmetic; this one reads each B
 * panel once per row, and the fc layers at batch 1 become bound by reading the weights.
 *
 * Two panels (16 columns, 4 accumulators) at a time, so that the multiply-adds of one k overlap.
 * Between K blocks the partial sums live in c, as in gemm.ts.
 */
function gemv1xN(n: i32, k: i32, a: usize, b: usize, bias: usize, c: usize, nBegin: i32, nEnd: i32): void {
  const blocks = k > 0 ? (k + KC - 1) / KC : 1;
  const np = <usize>((n + NR - 1) & ~(NR - 1));
  for (let kb = 0; kb < blocks; kb++) {
    const k0 = kb * KC;
    const kc = min(KC, k - k0);
    const bBlock = b + (<usize>k0 * np << 2);
    const aBlock = a + (<usize>k0 << 2);
    for (let n0 = nBegin; n0 < nEnd; n0 += 2 * NR) {
      const nr = min(2 * NR, nEnd - n0); // columns of the pair of panels that are stored
      const p0 = bBlock + (<usize>n0 * kc << 2);
      const p1 = p0 + (<usize>(NR * kc) << 2); // the next panel (read only when nr > 8)
      const two = nr > NR;
      let vacc0: v128, vacc1: v128, vacc2: v128, vacc3: v128;
      const cp = c + (<usize>n0 << 2);
      if (kb > 0) {
        vacc0 = loadUpTo(cp, nr); vacc1 = loadUpTo(cp + 16, nr - 4);
        vacc2 = loadUpTo(cp + 32, nr - 8); vacc3 = loadUpTo(cp + 48, nr - 12);
      } else if (bias != 0) {
        const bp = bias + (<usize>n0 << 2);
        vacc0 = loadUpTo(bp, nr); vacc1 = loadUpTo(bp + 16, nr - 4);
        vacc2 = loadUpTo(bp + 32, nr - 8); vacc3 = loadUpTo(bp + 48, nr - 12);
      } else {
        vacc0 = f32x4.splat(0); vacc1 = vacc0; vacc2 = vacc0; vacc3 = vacc0;
      }
      let pa = aBlock, pb0 = p0, pb1 = p1;
      if (two) {
        for (let kk = 0; kk < kc; kk++) {
          const va = v128.load32_splat(pa);
          vacc0 = madd(va, v128.load(pb0), vacc0);
          vacc1 = madd(va, v128.load(pb0, 16), vacc1);
          vacc2 = madd(va, v128.load(pb1), vacc2);
          vacc3 = madd(va, v128.load(pb1, 16), vacc3);
          pa += 4; pb0 += 32; pb1 += 32;
        }
      } else {
        for (let kk = 0; kk < kc; kk++) {
          const va = v128.load32_splat(pa);
          vacc0 = madd(va, v128.load(pb0), vacc0);
          vacc1 = madd(va, v128.load(pb0, 16), vacc1);
          pa += 4; pb0 += 32;
        }
      }
      storeUpTo(cp, vacc0, nr); storeUpTo(cp + 16, vacc1, nr - 4);
      storeUpTo(cp + 32, vacc2, nr - 8); storeUpTo(cp + 48, vacc3, nr - 12);
    }
  }
}

/** Multiply-add as gemm.ts: fused in the relaxed build, multiply then add otherwise. */
// @ts-ignore: decorator
@inline function madd(va: v128, vb: v128, vacc: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(va, vb, vacc);
  return f32x4.add(vacc, f32x4.mul(va, vb));
}

/** The first `count` lanes (clamped to 0..4) of 4 floats at p; the others 0. */
// @ts-ignore: decorator
@inline function loadUpTo(p: usize, count: i32): v128 {
  if (count >= 4) return v128.load(p);
  let v = f32x4.splat(0);
  if (count > 0) v = f32x4.replace_lane(v, 0, load<f32>(p));
  if (count > 1) v = f32x4.replace_lane(v, 1, load<f32>(p, 4));
  if (count > 2) v = f32x4.replace_lane(v, 2, load<f32>(p, 8));
  return v;
}

// @ts-ignore: decorator
@inline function storeUpTo(p: usize, v: v128, count: i32): void {
  if (count >= 4) {
    v128.store(p, v);
    return;
  }
  if (count > 0) store<f32>(p, f32x4.extract_lane(v, 0));
  if (count > 1) store<f32>(p, f32x4.extract_lane(v, 1), 4);
  if (count > 2) store<f32>(p, f32x4.extract_lane(v, 2), 8);
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
