/**
 * Max pooling forward and backward (src/ops/maxpool.ts) as task kernels over ranges of planes
 * (one plane = one image and channel). The naive loops they must equal, bit for bit:
 *
 *   forward, for each output (plane, i, j):
 *     h0 = max(0, i*stride - top),  h1 = min(H, i*stride - top + kernel)      (likewise w0, w1)
 *     best = -Infinity; at = h0*W + w0
 *     for h in [h0, h1), w in [w0, w1):                 row-major scan of the clipped window
 *       v = x[plane, h, w]
 *       if (v > best || v is NaN) { best = v; at = h*W + w; if (v is NaN) stop scanning }
 *     y[plane, i, j] = best;  argmax[plane, i, j] = at  (index within the plane)
 *
 *   backward:  dx = 0; for each output o of the plane in order: dx[plane, argmax[o]] += dy[o]
 *
 * Strict > keeps the first maximum (PyTorch, Caffe); NaN propagates with the index of the first
 * NaN, as in PyTorch. Output sizes come from the host (src/geometry.ts).
 *
 * The forward takes 4 outputs of a row at once where their windows need no clipping (the taps of
 * 4 windows in parallel lanes, in the same order; stride 2 loads two vectors and keeps the even
 * lanes, so it may read one float past the last tap: x must not end the memory). The scan is
 * branch-free: a data-dependent branch per tap mispredicts and serialises it.
 */

/**
 * Planes [task*per, min(planes, (task + 1)*per)).
 *   x [planes, H, W]; y, argmax [planes, OH, OW] (argmax as i32)
 */
export function maxpool_forward_task(
  task: i32, scratch: usize,
  x: usize, y: usize, argmax: usize, planes: i32, H: i32, W: i32, OH: i32, OW: i32,
  kernel: i32, stride: i32, top: i32, left: i32, per: i32,
): void {
  const p0 = task * per, p1 = min(planes, p0 + per);
  for (let plane = p0; plane < p1; plane++) {
    const xp = x + (<usize>plane * H * W << 2);
    let o = <usize>plane * OH * OW << 2;
    for (let i = 0; i < OH; i++) {
      const h0 = max(0, i * stride - top), h1 = min(H, i * stride - top + kernel);
      let j = 0;
      if (ASC_FEATURE_SIMD) {
        // 4 outputs of the row at once, while their windows lie inside the row (no clipping in w):
        // the same taps in the same order per lane, so the same bits as the scalar scan.
        for (; j + 4 <= OW && j * stride - left >= 0 && (j + 3) * stride - left + kernel <= W; j += 4) {
          const w0 = j * stride - left;
          let vbest = f32x4.splat(-Infinity);
          let vat = i32x4.splat(h0 * W + w0);
          vat = i32x4.add(vat, i32x4(0, stride, 2 * stride, 3 * stride));
          for (let h = h0; h < h1; h++) {
            const row = xp + (<usize>h * W << 2);
            for (let v = 0; v < kernel; v++) {
              const w = w0 + v;
              const p = row + (<usize>w << 2);
              let vx: v128;
              if (stride == 1) {
                vx = v128.load(p);
              } else if (stride == 2) {
                vx = i32x4.shuffle(v128.load(p), v128.load(p, 16), 0, 2, 4, 6);
              } else {
                const s4 = <usize>stride << 2;
                vx = f32x4.replace_lane(f32x4.splat(load<f32>(p)), 1, load<f32>(p + s4));
                vx = f32x4.replace_lane(vx, 2, load<f32>(p + 2 * s4));
                vx = f32x4.replace_lane(vx, 3, load<f32>(p + 3 * s4));
              }
              const vidx = i32x4.add(i32x4.splat(h * W + w), i32x4(0, stride, 2 * stride, 3 * stride));
              // replace where v > best, or v is the first NaN (best not yet NaN)
              const vreplace = v128.or(f32x4.gt(vx, vbest), v128.andnot(f32x4.ne(vx, vx), f32x4.ne(vbest, vbest)));
              vbest = v128.bitselect(vx, vbest, vreplace);
              vat = v128.bitselect(vidx, vat, vreplace);
            }
          }
          v128.store(y + o, vbest);
          v128.store(argmax + o, vat);
          o += 16;
        }
      }
      for (; j < OW; j++) {
        const w0 = max(0, j * stride - left), w1 = min(W, j * stride - left + kernel);
        let best: f32 = -Infinity;
        let at = h0 * W + w0;
        // Branch-free scan: a sample replaces the best if greater, or if it is the first NaN;
        // after a NaN nothing replaces it, as the loop's stop.
        for (let h = h0; h < h1; h++) {
          const row = xp + (<usize>h * W << 2);
          for (let w = w0; w < w1; w++) {
            const v = load<f32>(row + (<usize>w << 2));
            const replace = (v > best) | ((v != v) & (best == best));
            best = select<f32>(v, best, replace);
            at = select<i32>(h * W + w, at, replace);
          }
        }
        store<f32>(y + o, best);
        store<i32>(argmax + o, at);
        o += 4;
      }
    }
  }
}

/**
 * Planes [task*per, min(planes, (task + 1)*per)): dx [planes, H, W] = 0, then dy scattered onto
 * the recorded maxima in output order.
 */
export function maxpool_backward_task(
  task: i32, scratch: usize,
  dy: usize, argmax: usize, dx: usize, planes: i32, HW: i32, OHW: i32, per: i32,
): void {
  const p0 = task * per, p1 = min(planes, p0 + per);
  for (let plane = p0; plane < p1; plane++) {
    const dxp = dx + (<usize>plane * HW << 2);
    memory.fill(dxp, 0, <usize>HW << 2);
    const base = <usize>plane * OHW << 2;
    for (let q = 0; q < OHW; q++) {
      const o = base + (<usize>q << 2);
      const d = dxp + (<usize>load<i32>(argmax + o) << 2);
      store<f32>(d, load<f32>(d) + load<f32>(dy + o));
    }
  }
}
