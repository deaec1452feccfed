/**
 * Task kernels of the fully connected layers (src/ops/linear.ts: x [B, IN], w [OUT, IN], y [B, OUT]):
 *
 *   forward   y  = x . W^T + b     linear_forward_task: W read in place, as stored ([OUT, IN] rows)
 *   dx        dx = dy . W          gemm_task: A = dy (mk), B = W packed gio
 *   dW        dW = dy^T . x        gemm_task: A = dy read as [k, m] (km), B = x packed gio
 *   db        db = sum_n dy[n, :]  column_sums_task
 *
 * The forward reads the weights as they are stored, so that a network whose weights were loaded
 * straight into the kernels' memory (src/backend/wasm/backend.ts, allocateResident) is run without
 * a second, packed copy of its 234 MB of fc weights. At the batch sizes of inference each output is
 * a dot product of two contiguous rows, which SIMD reads at the speed of memory; see
 * linear_forward_task.
 *
 * In the backward products a task is one tile of rows x columns of C; each packs its own rows of A
 * into its scratch (the A operands are activations: small next to the weights) and multiplies them
 * with the shared, pre-packed B. Splitting along N as well as M keeps both threads busy when M is a
 * single tile.
 */

import { KC, NR, gemmRange } from './gemm';
import { x32_packx_4x, x32_packx_4x_t } from './pack';

/**
 * Outputs [task*per, (task + 1)*per) of every row of y = x . W^T + b, W [OUT, IN] row-major, read in place:
 *
 *   y[i, j] = ((s0 + s1) + (s2 + s3)) + tail + b[j]
 *
 * where s_l = sum over k = l, l + 4, l + 8, ... < IN4 of x[i, k] * w[j, k], accumulated in k order
 * (one multiply-add each, fused in the relaxed build), IN4 = IN rounded down to a multiple of 4,
 * and tail = the remaining k in order. The four s_l are the lanes of one f32x4 accumulator; the
 * scalar build keeps them in four variables and gets the same bits as the SIMD build. Every y[i, j]
 * is computed this way whatever tile it falls in, so the result depends neither on the batch size
 * nor on how outputs are shared among threads.
 *
 * Tiles of 4 outputs x 2 rows (8 accumulators, 6 loads per 8 multiply-adds), or x 1 row (4
 * accumulators: independent chains, so that one row streams the weights at the speed of memory).
 * K is cut into blocks of KB: a block of the 4 weight rows (8 KB) and of every batch row stays in
 * L1 while the row pairs pass over it, so the weights are read from memory once per call; the
 * accumulators wait in `scratch` between blocks (which does not change any sum).
 *
 *   task, per    outputs [task*per, min(OUT, (task + 1)*per)); per a multiple of 4
 *   scratch      16*B floats
 *   x            [B, IN] row-major;  w [OUT, IN] row-major;  bias OUT floats or 0;  y [B, OUT] row-major
 */
export function linear_forward_task(
  task: i32, scratch: usize, x: usize, B: i32, IN: i32, w: usize, bias: usize, y: usize, OUT: i32, per: i32,
): void {
  const j0 = task * per, j1 = min(OUT, j0 + per);
  const rowBytes = <usize>IN << 2;
  let j = j0;
  if (ASC_FEATURE_SIMD) {
    const IN4 = IN & ~3;
    for (; j + 4 <= j1; j += 4) {
      const w0 = w + <usize>j * rowBytes;
      for (let k0 = 0; k0 < IN4 || k0 == 0; k0 += KB) {
        const k1 = min(IN4, k0 + KB);
        let i = 0;
        for (; i + 2 <= B; i += 2) dot4x2(x + <usize>i * rowBytes, w0, rowBytes, k0, k1, scratch + (<usize>i << 6));
        if (i < B) dot4x1(x + <usize>i * rowBytes, w0, rowBytes, k0, k1, scratch + (<usize>i << 6));
      }
      for (let i = 0; i < B; i++) {
        const xi = x + <usize>i * rowBytes, yi = y + ((<usize>i * OUT + j) << 2), acc = scratch + (<usize>i << 6);
        for (let jj = 0; jj < 4; jj++) {
          store<f32>(yi + (<usize>jj << 2), finish(lanes(v128.load(acc + (<usize>jj << 4))), xi, w0 + <usize>jj * rowBytes, IN, bias, j + jj));
        }
      }
    }
  }
  for (; j < j1; j++) {
    for (let i = 0; i < B; i++) dot1(x + <usize>i * rowBytes, w + <usize>j * rowBytes, IN, bias, j, y + ((<usize>i * OUT + j) << 2));
  }
}

/** Floats of K per block of linear_forward_task. */
const KB = 512;

/**
 * Rows i, i+1 (x at row i) against weight rows j..j+3 (w at row j), k in [k0, k1): the 8
 * accumulators continue from acc (row i: 4 x f32x4, then row i+1), or start at 0 when k0 = 0.
 */
function dot4x2(x: usize, w: usize, rowBytes: usize, k0: i32, k1: i32, acc: usize): void {
  const x1 = x + rowBytes;
  const w1 = w + rowBytes, w2 = w1 + rowBytes, w3 = w2 + rowBytes;
  let a00 = f32x4.splat(0), a01 = a00, a02 = a00, a03 = a00;
  let a10 = a00, a11 = a00, a12 = a00, a13 = a00;
  if (k0 > 0) {
    a00 = v128.load(acc); a01 = v128.load(acc, 16); a02 = v128.load(acc, 32); a03 = v128.load(acc, 48);
    a10 = v128.load(acc, 64); a11 = v128.load(acc, 80); a12 = v128.load(acc, 96); a13 = v128.load(acc, 112);
  }
  const end = <usize>k1 << 2;
  for (let o = <usize>k0 << 2; o < end; o += 16) {
    const vx0 = v128.load(x + o), vx1 = v128.load(x1 + o);
    const vw0 = v128.load(w + o), vw1 = v128.load(w1 + o), vw2 = v128.load(w2 + o), vw3 = v128.load(w3 + o);
    a00 = madd(vx0, vw0, a00); a01 = madd(vx0, vw1, a01); a02 = madd(vx0, vw2, a02); a03 = madd(vx0, vw3, a03);
    a10 = madd(vx1, vw0, a10); a11 = madd(vx1, vw1, a11); a12 = madd(vx1, vw2, a12); a13 = madd(vx1, vw3, a13);
  }
  v128.store(acc, a00); v128.store(acc, a01, 16); v128.store(acc, a02, 32); v128.store(acc, a03, 48);
  v128.store(acc, a10, 64); v128.store(acc, a11, 80); v128.store(acc, a12, 96); v128.store(acc, a13, 112);
}

/** dot4x2 for one row. */
function dot4x1(x: usize, w: usize, rowBytes: usize, k0: i32, k1: i32, acc: usize): void {
  const w1 = w + rowBytes, w2 = w1 + rowBytes, w3 = w2 + rowBytes;
  let a0 = f32x4.splat(0), a1 = a0, a2 = a0, a3 = a0;
  if (k0 > 0) {
    a0 = v128.load(acc); a1 = v128.load(acc, 16); a2 = v128.load(acc, 32); a3 = v128.load(acc, 48);
  }
  const end = <usize>k1 << 2;
  for (let o = <usize>k0 << 2; o < end; o += 16) {
    const vx = v128.load(x + o);
    a0 = madd(vx, v128.load(w + o), a0); a1 = madd(vx, v128.load(w1 + o), a1);
    a2 = madd(vx, v128.load(w2 + o), a2); a3 = madd(vx, v128.load(w3 + o), a3);
  }
  v128.store(acc, a0); v128.store(acc, a1, 16); v128.store(acc, a2, 32); v128.store(acc, a3, 48);
}

/** ((lanes 0 + 1) + (lanes 2 + 3)) of an accumulator. */
// @ts-ignore: decorator
@inline function lanes(v: v128): f32 {
  return (f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1)) + (f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3));
}

/** The end of one output: its lane sum, the k past IN4 in order, the bias. */
// @ts-ignore: decorator
@inline function finish(s: f32, x: usize, w: usize, IN: i32, bias: usize, j: i32): f32 {
  for (let k = IN & ~3; k < IN; k++) s += load<f32>(x + (<usize>k << 2)) * load<f32>(w + (<usize>k << 2));
  if (bias != 0) s += load<f32>(bias + (<usize>j << 2));
  return s;
}

/** One output y[i, j] (x at row i, w at row j), in the same order as the tiles and in either build. */
function dot1(x: usize, w: usize, IN: i32, bias: usize, j: i32, y: usize): void {
  const end = <usize>(IN & ~3) << 2;
  let s: f32;
  if (ASC_FEATURE_SIMD) {
    let acc = f32x4.splat(0);
    for (let o: usize = 0; o < end; o += 16) acc = madd(v128.load(x + o), v128.load(w + o), acc);
    s = lanes(acc);
  } else {
    let s0: f32 = 0, s1: f32 = 0, s2: f32 = 0, s3: f32 = 0;
    for (let o: usize = 0; o < end; o += 16) {
      s0 += load<f32>(x + o) * load<f32>(w + o);
      s1 += load<f32>(x + o, 4) * load<f32>(w + o, 4);
      s2 += load<f32>(x + o, 8) * load<f32>(w + o, 8);
      s3 += load<f32>(x + o, 12) * load<f32>(w + o, 12);
    }
    s = (s0 + s1) + (s2 + s3);
  }
  store<f32>(y, finish(s, x, w, IN, bias, j));
}

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
