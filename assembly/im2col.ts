/**
 * im2col and its adjoint col2im: the data movement of convolution as a matrix product, for one
 * image and one channel group. Same layout as src/ops/conv2d.ts, which the tests hold these to
 * bit for bit. The naive loops they must equal:
 *
 *   im2col: for c < C, u < KH, v < KW, i < OH, j < OW:
 *     h = i*stride - pad + u;  w = j*stride - pad + v
 *     cols[((c*KH + u)*KW + v)*P + i*OW + j] = (0 <= h < H && 0 <= w < W) ? x[(c*H + h)*W + w] : 0
 *
 *   col2im: the same loop with the assignment reversed into an accumulation,
 *     if (0 <= h < H && 0 <= w < W) dx[(c*H + h)*W + w] += cols[((c*KH + u)*KW + v)*P + i*OW + j]
 *
 * with P = OH*OW. `x` and `dx` point at the first of the C channels of the group (the host adds
 * the (n*Ctotal + g*C)*H*W offset), and OH, OW come from the host's geometry (src/geometry.ts,
 * the one place that formula lives). col2im adds into dx in the same (c, u, v, i, j) order as the
 * reference, so each float32 sum rounds identically.
 *
 * Per output row i the valid taps form one run of columns [jLo, jHi): everything outside is
 * padding. With stride 1 the run is a contiguous copy (vector moves) or a contiguous vector add.
 */

/** First output column j whose tap j*stride - pad + v lies inside [0, W), and one past the last. */
// @ts-ignore: decorator
@inline function validRun(W: i32, stride: i32, pad: i32, v: i32, OW: i32): u64 {
  const lead = pad - v; // need j*stride >= lead
  let jLo = lead <= 0 ? 0 : (lead + stride - 1) / stride;
  const tail = W - 1 + pad - v; // need j*stride <= tail
  let jHi = tail < 0 ? 0 : tail / stride + 1;
  jHi = min(jHi, OW);
  jLo = min(jLo, jHi);
  return (<u64>jLo << 32) | <u64><u32>jHi;
}

/**
 * Short copies and fills, inline: im2col's runs are one output row (6 to 55 floats in AlexNet),
 * where a memory.copy or memory.fill call costs more than the move.
 */
// @ts-ignore: decorator
@inline function copy(dst: usize, src: usize, count: i32): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    for (; i + 4 <= count; i += 4) v128.store(dst + (<usize>i << 2), v128.load(src + (<usize>i << 2)));
  }
  for (; i < count; i++) store<f32>(dst + (<usize>i << 2), load<f32>(src + (<usize>i << 2)));
}

// @ts-ignore: decorator
@inline function zero(dst: usize, count: i32): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    const vzero = f32x4.splat(0);
    for (; i + 4 <= count; i += 4) v128.store(dst + (<usize>i << 2), vzero);
  }
  for (; i < count; i++) store<f32>(dst + (<usize>i << 2), 0);
}

/**
 * x [C, H, W] (one image, one group) -> cols [C*KH*KW, OH*OW].
 */
export function im2col(
  x: usize, C: i32, H: i32, W: i32,
  KH: i32, KW: i32, stride: i32, pad: i32,
  OH: i32, OW: i32, cols: usize,
): void {
  im2colLd(x, C, H, W, KH, KW, stride, pad, OH, OW, cols, OH * OW);
}

/**
 * im2col into the columns [0, OH*OW) of a wider matrix whose rows are `ld` floats apart: the
 * weight gradient lays several images' patches side by side (conv.ts).
 */
export function im2colLd(
  x: usize, C: i32, H: i32, W: i32,
  KH: i32, KW: i32, stride: i32, pad: i32,
  OH: i32, OW: i32, cols: usize, ld: i32,
): void {
  let row = cols;
  for (let c = 0; c < C; c++) {
    const plane = x + (<usize>c * H * W << 2);
    for (let u = 0; u < KH; u++) {
      for (let v = 0; v < KW; v++) {
        const run = validRun(W, stride, pad, v, OW);
        const jLo = <i32>(run >> 32), jHi = <i32>(run & 0xffffffff);
        for (let i = 0; i < OH; i++) {
          const dst = row + (<usize>i * OW << 2);
          const h = i * stride - pad + u;
          if (h < 0 || h >= H || jLo >= jHi) {
            zero(dst, OW);
            continue;
          }
          if (jLo > 0) zero(dst, jLo);
          const src = plane + ((<usize>h * W + (jLo * stride - pad + v)) << 2);
          if (stride == 1) {
            copy(dst + (<usize>jLo << 2), src, jHi - jLo);
          } else {
            const step = <usize>stride << 2;
            let s = src;
            for (let j = jLo; j < jHi; j++) {
              store<f32>(dst + (<usize>j << 2), load<f32>(s));
              s += step;
            }
          }
          if (jHi < OW) zero(dst + (<usize>jHi << 2), OW - jHi);
        }
        row += <usize>ld << 2;
      }
    }
  }
}

/**
 * dx [C, H, W] += col2im(cols [C*KH*KW, OH*OW]): the adjoint of im2col (entries that came from
 * padding are dropped).
 */
export function col2im(
  cols: usize, C: i32, H: i32, W: i32,
  KH: i32, KW: i32, stride: i32, pad: i32,
  OH: i32, OW: i32, dx: usize,
): void {
  const P = OH * OW;
  let row = cols;
  for (let c = 0; c < C; c++) {
    const plane = dx + (<usize>c * H * W << 2);
    for (let u = 0; u < KH; u++) {
      for (let v = 0; v < KW; v++) {
        const run = validRun(W, stride, pad, v, OW);
        const jLo = <i32>(run >> 32), jHi = <i32>(run & 0xffffffff);
        for (let i = 0; i < OH; i++) {
          const h = i * stride - pad + u;
          if (h < 0 || h >= H) continue;
          const src = row + (<usize>i * OW << 2);
          let d = plane + ((<usize>h * W + (jLo * stride - pad + v)) << 2);
          let j = jLo;
          if (stride == 1) {
            if (ASC_FEATURE_SIMD) {
              for (; j + 4 <= jHi; j += 4) {
                v128.store(d, f32x4.add(v128.load(d), v128.load(src + (<usize>j << 2))));
                d += 16;
              }
            }
            for (; j < jHi; j++) {
              store<f32>(d, load<f32>(d) + load<f32>(src + (<usize>j << 2)));
              d += 4;
            }
          } else {
            const step = <usize>stride << 2;
            for (; j < jHi; j++) {
              store<f32>(d, load<f32>(d) + load<f32>(src + (<usize>j << 2)));
              d += step;
            }
          }
        }
        row += <usize>P << 2;
      }
    }
  }
}
