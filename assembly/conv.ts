/**
 * Convolution forward and backward as task kernels: each call computes one independent piece of a
 * layer (one image, group and range of output pixels; one image and group; one chunk of images and
 * one group), so that the host can hand the pieces of a layer to any number of threads. A piece
 * writes only its own part of the output, and the part it writes does not depend on which thread
 * runs it or how many there are: results are bit-identical for any thread count.
 *
 * Every task kernel takes (task, scratch, ...): `task` is the piece's index in [0, count) (the host
 * computes count the same way as the decoding below), `scratch` a private region of the calling
 * thread (the host sizes it: see each kernel).
 *
 * Shapes and formulas are those of src/ops/conv2d.ts: x [N, C, H, W], w [OC, C/G, KH, KW],
 * y [N, OC, OH, OW]; per image n and group g, with K = C/G*KH*KW and P = OH*OW,
 *   cols = im2col(x[n], g)      [K, P]
 *   Y_g  = W_g . cols + b_g     [OC/G, P]        (conv2d_forward_task)
 *   dcols = W_g^T . dY_g; dx[n] = col2im(dcols)  (conv2d_backward_data_task)
 *   dW_g += dY_g . cols^T                        (conv2d_backward_filter_task, then f32_sum_task)
 *   db[o] = sum_{n, p} dY[n, o, p]               (conv2d_bias_grad_task)
 * Each product goes through the packed GEMM of gemm.ts as its header maps them.
 */

import { KC, gemmRange } from './gemm';
import { col2im, im2colLd } from './im2col';
import { x32_packw_gemm_goi_x8, x32_packx_4x, x32_packx_4x_t } from './pack';

/** Floats of a packed A operand of m rows (pack.ts): 4*ceil(m/4)*k. */
// @ts-ignore: decorator
@inline export function packedASize(m: i32, k: i32): usize {
  return <usize>((m + 3) & ~3) * <usize>k;
}

/** Floats of a packed B operand of n columns (pack.ts): 8*ceil(n/8)*k. */
// @ts-ignore: decorator
@inline export function packedBSize(n: i32, k: i32): usize {
  return <usize>((n + 7) & ~7) * <usize>k;
}

/** Rounds a float count up to 16 floats (64 bytes), so that consecutive scratch buffers stay aligned. */
// @ts-ignore: decorator
@inline export function align16(floats: usize): usize {
  return (floats + 15) & ~15;
}

/**
 * Rows [hLo, hHi) of the zero-padded image of C channels: pbuf[c][r][w'] = x[c, hLo + r - pad, w' - pad]
 * (0 outside the image), r < hHi - hLo, w' < W + 2*pad. Every tap of the output rows that read
 * only these rows is then inside pbuf, at a fixed offset from its pixel's top-left tap.
 */
function padRows(x: usize, C: i32, H: i32, W: i32, pad: i32, hLo: i32, hHi: i32, pbuf: usize): void {
  const Wp = W + 2 * pad;
  const rowBytes = <usize>Wp << 2;
  let dst = pbuf;
  for (let c = 0; c < C; c++) {
    const plane = x + (<usize>c * H * W << 2);
    for (let hp = hLo; hp < hHi; hp++) {
      const h = hp - pad;
      if (h < 0 || h >= H) {
        memory.fill(dst, 0, rowBytes);
      } else {
        for (let w = 0; w < pad; w++) {
          store<f32>(dst + (<usize>w << 2), 0);
          store<f32>(dst + (<usize>(pad + W + w) << 2), 0);
        }
        const src = plane + (<usize>h * W << 2), d = dst + (<usize>pad << 2);
        let w = 0;
        if (ASC_FEATURE_SIMD) {
          for (; w + 4 <= W; w += 4) v128.store(d + (<usize>w << 2), v128.load(src + (<usize>w << 2)));
        }
        for (; w < W; w++) store<f32>(d + (<usize>w << 2), load<f32>(src + (<usize>w << 2)));
      }
      dst += rowBytes;
    }
  }
}

/** Floats of the padded rows im2col_packx_4x needs for pixels [p0, p0 + m) (its `pbuf`). */
export function im2col_pad_size(C: i32, H: i32, W: i32, KH: i32, stride: i32, pad: i32, OW: i32, p0: i32, m: i32): i32 {
  const ohLo = p0 / OW, ohHi = (p0 + m - 1) / OW;
  const hHi = min(H + 2 * pad, ohHi * stride + KH);
  return C * (hHi - ohLo * stride) * (W + 2 * pad);
}

/**
 * im2col straight into the packed A layout of pack.ts, for output pixels [p0, p0 + m) of one image
 * and group: the GEMM's A is cols^T restricted to those pixels, A[i, k] = cols[k, p0 + i]. The
 * naive loop it must equal (bit for bit) is im2col followed by x32_packx_4x_t:
 *
 *   for i < 4*ceil(m/4), k < K:                    rows past m repeat pixel p0 + m - 1
 *     p = p0 + min(i, m - 1); (oh, ow) = (p / OW, p % OW); (c, u, v) from k = (c*KH + u)*KW + v
 *     h = oh*stride - pad + u;  w = ow*stride - pad + v
 *     out[k0*Mp + (i/4)*kc*4 + (k - k0)*4 + i%4] = (0 <= h < H && 0 <= w < W) ? x[(c*H + h)*W + w] : 0
 *
 * with Mp = 4*ceil(m/4) and k0, kc the K block of k (pack.ts).
 *
 * How: the rows of the image these pixels read are first copied, zero-padded, into `pbuf`
 * (im2col_pad_size floats), so that no tap needs a bounds check: tap k of pixel p is
 * pbuf[base(p) + off(k)], base(p) the pixel's top-left tap and off(k) = (c*rows + u)*Wp + v the
 * same for every pixel. A micro-panel of 4 pixels is then written k by k in memory order: one
 * vector load when the 4 pixels are neighbours in one output row (stride 1), else 4 loads.
 */
export function im2col_packx_4x(
  x: usize, C: i32, H: i32, W: i32, KH: i32, KW: i32, stride: i32, pad: i32,
  OH: i32, OW: i32, p0: i32, m: i32, out: usize, pbuf: usize,
): void {
  const K = C * KH * KW;
  const KHW = KH * KW;
  const mp = <usize>((m + 3) & ~3);
  const Wp = W + 2 * pad;
  const ohLo = p0 / OW, ohHi = (p0 + m - 1) / OW;
  const hLo = ohLo * stride, hHi = min(H + 2 * pad, ohHi * stride + KH);
  const rows = hHi - hLo;
  padRows(x, C, H, W, pad, hLo, hHi, pbuf);
  const planeFloats = rows * Wp;
  for (let k0 = 0; k0 < K; k0 += KC) {
    const kc = min(KC, K - k0);
    const block = out + (<usize>k0 * mp << 2);
    const cStart = k0 / KHW, rStart = k0 % KHW;
    const uStart = rStart / KW, vStart = rStart % KW;
    for (let i0 = 0; i0 < m; i0 += 4) {
      // Each row's pixel (clamped onto the last real one) and its top-left tap in pbuf.
      const q0 = p0 + i0, q1 = p0 + min(i0 + 1, m - 1), q2 = p0 + min(i0 + 2, m - 1), q3 = p0 + min(i0 + 3, m - 1);
      const oh0 = q0 / OW, oh1 = q1 / OW, oh2 = q2 / OW, oh3 = q3 / OW;
      const b0 = pbuf + (<usize>((oh0 * stride - hLo) * Wp + (q0 - oh0 * OW) * stride) << 2);
      const b1 = pbuf + (<usize>((oh1 * stride - hLo) * Wp + (q1 - oh1 * OW) * stride) << 2);
      const b2 = pbuf + (<usize>((oh2 * stride - hLo) * Wp + (q2 - oh2 * OW) * stride) << 2);
      const b3 = pbuf + (<usize>((oh3 * stride - hLo) * Wp + (q3 - oh3 * OW) * stride) << 2);
      const neighbours = ASC_FEATURE_SIMD && stride == 1 && oh0 == oh3 && i0 + 3 < m;
      let off = <usize>(cStart * planeFloats + uStart * Wp + vStart) << 2;
      let u = uStart, v = vStart;
      let o = block + (<usize>i0 * kc << 2);
      if (neighbours) {
        for (let kk = 0; kk < kc; kk++) {
          v128.store(o, v128.load(b0 + off));
          o += 16;
          off += 4;
          if (++v == KW) {
            v = 0;
            off += <usize>(Wp - KW) << 2;
            if (++u == KH) {
              u = 0;
              off += <usize>(planeFloats - KH * Wp) << 2;
            }
          }
        }
      } else {
        for (let kk = 0; kk < kc; kk++) {
          store<f32>(o, load<f32>(b0 + off));
          store<f32>(o, load<f32>(b1 + off), 4);
          store<f32>(o, load<f32>(b2 + off), 8);
          store<f32>(o, load<f32>(b3 + off), 12);
          o += 16;
          off += 4;
          if (++v == KW) {
            v = 0;
            off += <usize>(Wp - KW) << 2;
            if (++u == KH) {
              u = 0;
              off += <usize>(planeFloats - KH * Wp) << 2;
            }
          }
        }
      }
    }
  }
}

/**
 * One piece of the convolution forward: image n, group g, output pixels [p0, p0 + m):
 *   Y_g[:, p0 : p0 + m] = W_g . cols[:, p0 : p0 + m] + b_g
 * as [m, OCg] = A . B with A = the pixels' patches packed by im2col_packx_4x into `scratch` and
 * B = W_g packed (goi), stored transposed into y (NCHW).
 *
 *   task      ((n*groups + g)*chunks + chunk), chunks = ceil(P / rows), p0 = chunk*rows
 *   scratch   align16(packedASize(rows, K)) floats, then the padded rows of the image
 *             (im2col_pad_size, at most C/G*(H + 2*pad)*(W + 2*pad) floats)
 *   wPacked   the groups' packed weights one after the other, packedBSize(OC/G, K) floats each
 *             (x32_packw_gemm_goi_x8 of w[g*OCg : (g+1)*OCg] viewed as [OCg, K])
 *   bias      OC floats, or 0
 *   y         [N, OC, OH, OW]
 */
export function conv2d_forward_task(
  task: i32, scratch: usize,
  x: usize, C: i32, H: i32, W: i32, OC: i32, KH: i32, KW: i32, stride: i32, pad: i32, groups: i32, OH: i32, OW: i32,
  wPacked: usize, bias: usize, y: usize, rows: i32,
): void {
  const P = OH * OW, Cg = C / groups, OCg = OC / groups, K = Cg * KH * KW;
  const chunks = (P + rows - 1) / rows;
  const chunk = task % chunks, ng = task / chunks;
  const g = ng % groups, n = ng / groups;
  const p0 = chunk * rows, m = min(rows, P - p0);
  const xg = x + ((<usize>(n * C + g * Cg) * H * W) << 2);
  const pbuf = scratch + (align16(packedASize(rows, K)) << 2);
  im2col_packx_4x(xg, Cg, H, W, KH, KW, stride, pad, OH, OW, p0, m, scratch, pbuf);
  const wg = wPacked + (<usize>g * packedBSize(OCg, K) << 2);
  const bg = bias != 0 ? bias + (<usize>(g * OCg) << 2) : 0;
  const yg = y + ((<usize>(n * OC + g * OCg) * P + p0) << 2);
  gemmRange(m, OCg, K, scratch, wg, yg, P, true, bg, false, false, false, 0, m, 0, OCg);
}

/**
 * One piece of the convolution's input gradient: image n, group g:
 *   dcols = W_g^T . dY_g  [K, P]   (as [P, K] = dY_g^T . W_g, stored transposed)
 *   dx[n, g*Cg : (g+1)*Cg] = col2im(dcols)
 *
 *   task      n*groups + g
 *   scratch   align16(packedASize(P, OCg)) + K*P floats: packed dY_g^T, then dcols
 *   wPackedT  the groups' W_g packed as B from [OCg, K] rows (x32_packw_gemm_gio_x8), packedBSize(K, OCg)
 *             floats each
 *   dx        [N, C, H, W]; the piece overwrites its image and group
 */
export function conv2d_backward_data_task(
  task: i32, scratch: usize,
  dy: usize, C: i32, H: i32, W: i32, OC: i32, KH: i32, KW: i32, stride: i32, pad: i32, groups: i32, OH: i32, OW: i32,
  wPackedT: usize, dx: usize,
): void {
  const P = OH * OW, Cg = C / groups, OCg = OC / groups, K = Cg * KH * KW;
  const g = task % groups, n = task / groups;
  const a = scratch;
  const dcols = a + (align16(packedASize(P, OCg)) << 2);
  const dyg = dy + ((<usize>(n * OC + g * OCg) * P) << 2);
  x32_packx_4x_t(P, OCg, dyg, P, a);
  const wg = wPackedT + (<usize>g * packedBSize(K, OCg) << 2);
  gemmRange(P, K, OCg, a, wg, dcols, P, true, 0, false, false, false, 0, P, 0, K);
  const dxg = dx + ((<usize>(n * C + g * Cg) * H * W) << 2);
  memory.fill(dxg, 0, <usize>Cg * H * W << 2);
  col2im(dcols, Cg, H, W, KH, KW, stride, pad, OH, OW, dxg);
}

/**
 * One piece of the convolution's weight gradient: images [n0, n1) of one chunk and group g,
 *   partial_chunk[g*OCg : (g+1)*OCg] = sum_{n0 <= n < n1} dY_g(n) . cols(n)^T     [OCg, K]
 * The images go `span` at a time through one product whose reduction runs over all their pixels,
 *   [dY_g(a) ... dY_g(b-1)] . [cols(a) ... cols(b-1)]^T      (K of the GEMM = (b - a)*P)
 * (AlexNet's later layers have only P = 36 or 169 pixels: one image alone is a short reduction),
 * the first span overwriting the partial and the next ones adding to it. The host adds the chunks'
 * partials in chunk order (f32_sum_task). Chunks and spans are cut from N and the shapes alone,
 * so the sums do not depend on the number of threads.
 *
 *   task      chunk*groups + g, with n0 = chunk*imagesPerChunk, n1 = min(N, n0 + imagesPerChunk)
 *   scratch   align16(K*S) + align16(packedBSize(K, S)) + align16(OCg*S) + packedASize(OCg, S) floats
 *             with S = span*P: the images' patches side by side, packed as B (goi), their dY_g rows
 *             side by side, packed as A
 *   partials  [chunks][OC, K]
 */
export function conv2d_backward_filter_task(
  task: i32, scratch: usize,
  x: usize, dy: usize, N: i32, C: i32, H: i32, W: i32, OC: i32, KH: i32, KW: i32, stride: i32, pad: i32, groups: i32,
  OH: i32, OW: i32, imagesPerChunk: i32, span: i32, partials: usize,
): void {
  const P = OH * OW, Cg = C / groups, OCg = OC / groups, K = Cg * KH * KW;
  const g = task % groups, chunk = task / groups;
  const n0 = chunk * imagesPerChunk, n1 = min(N, n0 + imagesPerChunk);
  const S = span * P;
  const cols = scratch;
  const b = cols + (align16(<usize>K * S) << 2);
  const dyCat = b + (align16(packedBSize(K, S)) << 2);
  const a = dyCat + (align16(<usize>OCg * S) << 2);
  const dwg = partials + ((<usize>chunk * OC * K + <usize>g * OCg * K) << 2);
  const rowBytes = <usize>P << 2;
  for (let s0 = n0; s0 < n1; s0 += span) {
    const s1 = min(n1, s0 + span);
    const ld = (s1 - s0) * P;
    for (let n = s0; n < s1; n++) {
      const col = <usize>((n - s0) * P) << 2;
      im2colLd(x + ((<usize>(n * C + g * Cg) * H * W) << 2), Cg, H, W, KH, KW, stride, pad, OH, OW, cols + col, ld);
      const dyg = dy + ((<usize>(n * OC + g * OCg) * P) << 2);
      for (let o = 0; o < OCg; o++) memory.copy(dyCat + ((<usize>o * ld) << 2) + col, dyg + <usize>o * rowBytes, rowBytes);
    }
    x32_packw_gemm_goi_x8(K, ld, cols, ld, b);
    x32_packx_4x(OCg, ld, dyCat, ld, a);
    gemmRange(OCg, K, ld, a, b, dwg, K, false, 0, false, s0 != n0, false, 0, OCg, 0, K);
  }
}

/**
 * The bias gradient of a convolution, channels [task*per, (task + 1)*per):
 *   db[o] = sum_{n < N, p < P} dy[(n*OC + o)*P + p]
 * summed in float64 (two f64x2 partial sums over p, then the tail, image by image) and rounded once.
 */
export function conv2d_bias_grad_task(task: i32, scratch: usize, dy: usize, N: i32, OC: i32, P: i32, db: usize, per: i32): void {
  const o0 = task * per, o1 = min(OC, o0 + per);
  for (let o = o0; o < o1; o++) {
    let total: f64 = 0;
    for (let n = 0; n < N; n++) total += sumRowF64(dy + ((<usize>(n * OC + o) * P) << 2), P);
    store<f32>(db + (<usize>o << 2), <f32>total);
  }
}

/** sum of `count` floats at p, in float64: lanes (0, 1) and (2, 3) of each 4 in two f64x2, then the tail. */
export function sumRowF64(p: usize, count: i32): f64 {
  let i = 0;
  let s: f64 = 0;
  if (ASC_FEATURE_SIMD) {
    let vacc01 = f64x2.splat(0), vacc23 = f64x2.splat(0);
    for (; i + 4 <= count; i += 4) {
      const v = v128.load(p + (<usize>i << 2));
      vacc01 = f64x2.add(vacc01, f64x2.promote_low_f32x4(v));
      vacc23 = f64x2.add(vacc23, f64x2.promote_low_f32x4(i32x4.shuffle(v, v, 2, 3, 0, 1)));
    }
    s = (f64x2.extract_lane(vacc01, 0) + f64x2.extract_lane(vacc01, 1)) + (f64x2.extract_lane(vacc23, 0) + f64x2.extract_lane(vacc23, 1));
  }
  for (; i < count; i++) s += <f64>load<f32>(p + (<usize>i << 2));
  return s;
}

/**
 * Adds `count` arrays of `len` floats, laid one after the other at `src`, in array order:
 *   out[i] = ((src[0][i] + src[1][i]) + src[2][i]) + ...       for i in [task*per, (task + 1)*per)
 * (the reduction of the weight-gradient chunks; out may be src[0] itself).
 */
export function f32_sum_task(task: i32, scratch: usize, src: usize, count: i32, len: i32, out: usize, per: i32): void {
  const i0 = task * per, i1 = min(len, i0 + per);
  const stride = <usize>len << 2;
  let i = i0;
  if (ASC_FEATURE_SIMD) {
    for (; i + 4 <= i1; i += 4) {
      let p = src + (<usize>i << 2);
      let acc = v128.load(p);
      for (let c = 1; c < count; c++) {
        p += stride;
        acc = f32x4.add(acc, v128.load(p));
      }
      v128.store(out + (<usize>i << 2), acc);
    }
  }
  for (; i < i1; i++) {
    let p = src + (<usize>i << 2);
    let acc = load<f32>(p);
    for (let c = 1; c < count; c++) {
      p += stride;
      acc += load<f32>(p);
    }
    store<f32>(out + (<usize>i << 2), acc);
  }
}
