/**
 * Packing: copies GEMM operands into the panel layouts the micro-kernel reads (gemm.ts).
 *
 * Names follow XNNPACK: "packw" packs the weight-side operand B into panels of 8 columns, "packx"
 * packs the other operand A into micro-panels of 4 rows. The suffix names the source layout:
 *
 *   x32_packw_gemm_goi_x8   B from [N, K] rows (o = output, i = input: PyTorch's weight layout),
 *                           B[k, j] = src[j*ld + k]
 *   x32_packw_gemm_gio_x8   B from [K, N] rows, B[k, j] = src[k*ld + j]
 *   x32_packx_4x            A from [M, K] rows, A[i, k] = src[i*ld + k]
 *   x32_packx_4x_t          A from [K, M] rows (e.g. the im2col matrix [K, P]), A[i, k] = src[k*ld + i]
 *
 * Packed layout, as BLIS packs it: K is cut into blocks of KC = 256 rows (the last one shorter);
 * each K block holds all panels of the operand for those rows, one panel after the other, each
 * k-major. So the micro-kernel streams one contiguous panel of the block, and a sweep over all
 * panels of a block reads one contiguous stretch of memory:
 *
 *   B: element (k, j) at  k0*Np + (j/8)*kc*8 + (k-k0)*8 + j%8     Np = 8*ceil(N/8)
 *   A: element (i, k) at  k0*Mp + (i/4)*kc*4 + (k-k0)*4 + i%4     Mp = 4*ceil(M/4)
 *   where k0 = KC*floor(k/KC) starts k's block and kc = min(KC, K - k0) is the block's length.
 *
 * `ld` is the source's row stride in floats (>= the row length), so sub-blocks of a larger matrix
 * (one group of a grouped convolution) pack without a copy. A's rows past M (up to Mp) repeat row
 * M-1 rather than being zero: the micro-kernel clamps its C row pointers onto row M-1 too, so the
 * repeated rows recompute and re-store the same values (XNNPACK's clamping). B's columns past N
 * are zero: they are computed and never stored.
 *
 * Sizes of the packed buffers in floats: A Mp*K, B Np*K.
 */

import { KC } from './gemm';

// @ts-ignore: decorator
@inline function transpose4x4Store(out: usize, r0: v128, r1: v128, r2: v128, r3: v128, stride: usize): void {
  // In: r_i = row i, columns 0..3. Out: column j (rows 0..3) at out + j*stride.
  const t0 = f32x4.shuffle(r0, r1, 0, 4, 1, 5);
  const t1 = f32x4.shuffle(r0, r1, 2, 6, 3, 7);
  const t2 = f32x4.shuffle(r2, r3, 0, 4, 1, 5);
  const t3 = f32x4.shuffle(r2, r3, 2, 6, 3, 7);
  v128.store(out, f32x4.shuffle(t0, t2, 0, 1, 4, 5));
  v128.store(out + stride, f32x4.shuffle(t0, t2, 2, 3, 6, 7));
  v128.store(out + 2 * stride, f32x4.shuffle(t1, t3, 0, 1, 4, 5));
  v128.store(out + 3 * stride, f32x4.shuffle(t1, t3, 2, 3, 6, 7));
}

/** One K block of kc rows: B from [N, K] rows into panels [N/8][kc][8]. */
function packwGoiBlock(n: i32, k: i32, src: usize, ld: i32, out: usize): void {
  const rowBytes = <usize>ld << 2;
  for (let j0 = 0; j0 < n; j0 += 8) {
    const nr = min(8, n - j0);
    const panel = out + (<usize>j0 * k << 2); // (j0/8) * k * 8 floats
    const s = src + <usize>j0 * rowBytes;
    let kk = 0;
    if (ASC_FEATURE_SIMD) {
      if (nr == 8) {
        // 8 rows x 4 k at a time: two 4x4 transposes give, for each k, the 8 row values.
        for (; kk + 4 <= k; kk += 4) {
          const p = s + (<usize>kk << 2);
          const o = panel + (<usize>kk << 5);
          transpose4x4Store(o, v128.load(p), v128.load(p + rowBytes), v128.load(p + 2 * rowBytes), v128.load(p + 3 * rowBytes), 32);
          const p4 = p + 4 * rowBytes;
          transpose4x4Store(o + 16, v128.load(p4), v128.load(p4 + rowBytes), v128.load(p4 + 2 * rowBytes), v128.load(p4 + 3 * rowBytes), 32);
        }
      }
    }
    for (; kk < k; kk++) {
      const o = panel + (<usize>kk << 5);
      for (let q = 0; q < 8; q++) {
        store<f32>(o + (<usize>q << 2), q < nr ? load<f32>(s + <usize>q * rowBytes + (<usize>kk << 2)) : 0);
      }
    }
  }
}

/** One K block of kc rows: B from [K, N] rows into panels [N/8][kc][8]. */
function packwGioBlock(n: i32, k: i32, src: usize, ld: i32, out: usize): void {
  const rowBytes = <usize>ld << 2;
  for (let j0 = 0; j0 < n; j0 += 8) {
    const nr = min(8, n - j0);
    const panel = out + (<usize>j0 * k << 2);
    let s = src + (<usize>j0 << 2);
    if (nr == 8) {
      for (let kk = 0; kk < k; kk++) {
        if (ASC_FEATURE_SIMD) {
          v128.store(panel + (<usize>kk << 5), v128.load(s));
          v128.store(panel + (<usize>kk << 5), v128.load(s, 16), 16);
        } else {
          for (let q = 0; q < 8; q++) store<f32>(panel + (<usize>kk << 5) + (<usize>q << 2), load<f32>(s + (<usize>q << 2)));
        }
        s += rowBytes;
      }
    } else {
      for (let kk = 0; kk < k; kk++) {
        const o = panel + (<usize>kk << 5);
        for (let q = 0; q < 8; q++) store<f32>(o + (<usize>q << 2), q < nr ? load<f32>(s + (<usize>q << 2)) : 0);
        s += rowBytes;
      }
    }
  }
}

/** One K block of kc rows: A from [M, K] rows into micro-panels [M/4][kc][4]. */
function packxBlock(m: i32, k: i32, src: usize, ld: i32, out: usize): void {
  const rowBytes = <usize>ld << 2;
  for (let i0 = 0; i0 < m; i0 += 4) {
    // Rows past M clamp onto row M-1.
    const s0 = src + <usize>i0 * rowBytes;
    const s1 = i0 + 1 < m ? s0 + rowBytes : s0;
    const s2 = i0 + 2 < m ? s1 + rowBytes : s1;
    const s3 = i0 + 3 < m ? s2 + rowBytes : s2;
    const panel = out + (<usize>i0 * k << 2); // (i0/4) * k * 4 floats
    let kk = 0;
    if (ASC_FEATURE_SIMD) {
      for (; kk + 4 <= k; kk += 4) {
        const off = <usize>kk << 2;
        transpose4x4Store(panel + (<usize>kk << 4), v128.load(s0 + off), v128.load(s1 + off), v128.load(s2 + off), v128.load(s3 + off), 16);
      }
    }
    for (; kk < k; kk++) {
      const off = <usize>kk << 2;
      const o = panel + (<usize>kk << 4);
      store<f32>(o, load<f32>(s0 + off));
      store<f32>(o, load<f32>(s1 + off), 4);
      store<f32>(o, load<f32>(s2 + off), 8);
      store<f32>(o, load<f32>(s3 + off), 12);
    }
  }
}

/** One K block of kc rows: A from [K, M] rows into micro-panels [M/4][kc][4]. */
function packxTBlock(m: i32, k: i32, src: usize, ld: i32, out: usize): void {
  const rowBytes = <usize>ld << 2;
  for (let i0 = 0; i0 < m; i0 += 4) {
    const panel = out + (<usize>i0 * k << 2);
    let s = src + (<usize>i0 << 2);
    if (i0 + 4 <= m) {
      for (let kk = 0; kk < k; kk++) {
        if (ASC_FEATURE_SIMD) {
          v128.store(panel + (<usize>kk << 4), v128.load(s));
        } else {
          for (let q = 0; q < 4; q++) store<f32>(panel + (<usize>kk << 4) + (<usize>q << 2), load<f32>(s + (<usize>q << 2)));
        }
        s += rowBytes;
      }
    } else {
      const last = <usize>(m - 1 - i0) << 2; // byte offset of column M-1 from column i0
      for (let kk = 0; kk < k; kk++) {
        const o = panel + (<usize>kk << 4);
        for (let q = 0; q < 4; q++) store<f32>(o + (<usize>q << 2), load<f32>(s + min(<usize>q << 2, last)));
        s += rowBytes;
      }
    }
  }
}

/** B from [N, K] rows: weights [OC, K] for the conv forward, [OUT, IN] for the fc forward. */
export function x32_packw_gemm_goi_x8(n: i32, k: i32, src: usize, ld: i32, out: usize): void {
  const np = <usize>((n + 7) & ~7);
  for (let k0 = 0; k0 < k; k0 += KC) {
    packwGoiBlock(n, min(KC, k - k0), src + (<usize>k0 << 2), ld, out + (<usize>k0 * np << 2));
  }
}

/** B from [K, N] rows: W [OC, K] as [K', N'] for conv dx; W [OUT, IN] for fc dx; x [B, IN] for fc dW. */
export function x32_packw_gemm_gio_x8(n: i32, k: i32, src: usize, ld: i32, out: usize): void {
  const np = <usize>((n + 7) & ~7);
  for (let k0 = 0; k0 < k; k0 += KC) {
    packwGioBlock(n, min(KC, k - k0), src + (<usize>k0 * ld << 2), ld, out + (<usize>k0 * np << 2));
  }
}

/** A from [M, K] rows: x [B, IN] for the fc forward, dY_g [OCg, P] for conv dW. */
export function x32_packx_4x(m: i32, k: i32, src: usize, ld: i32, out: usize): void {
  const mp = <usize>((m + 3) & ~3);
  for (let k0 = 0; k0 < k; k0 += KC) {
    packxBlock(m, min(KC, k - k0), src + (<usize>k0 << 2), ld, out + (<usize>k0 * mp << 2));
  }
}

/** A from [K, M] rows: cols [K, P] for the conv forward, dY_g [OCg, P] for conv dx, dy [B, OUT] for fc dW. */
export function x32_packx_4x_t(m: i32, k: i32, src: usize, ld: i32, out: usize): void {
  const mp = <usize>((m + 3) & ~3);
  for (let k0 = 0; k0 < k; k0 += KC) {
    packxTBlock(m, min(KC, k - k0), src + (<usize>k0 * ld << 2), ld, out + (<usize>k0 * mp << 2));
  }
}
