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
      for (let j = 0; j < OW; j++) {
        const w0 = max(0, j * stride - left), w1 = min(W, j * stride - left + kernel);
        let best: f32 = -Infinity;
        let at = h0 * W + w0;
        for (let h = h0; h < h1; h++) {
          const row = xp + (<usize>h * W << 2);
          let w = w0;
          for (; w < w1; w++) {
            const v = load<f32>(row + (<usize>w << 2));
            if (v > best || v != v) {
              best = v;
              at = h * W + w;
              if (v != v) break;
            }
          }
          if (best != best) break;
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
