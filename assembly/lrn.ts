/**
 * Local response normalisation across channels (src/ops/lrn.ts) as task kernels: one piece is one
 * image n and a range of positions [q0, q1) of its H*W plane, all channels. The naive loops they
 * must equal (up to float32 rounding: the reference works in float64):
 *
 *   window(c)  = [max(0, c - floor(size/2)), min(C - 1, c + floor((size - 1)/2))]
 *   s[c]       = k + a * sum_{c' in window(c)} x[c']^2          a = alpha/size or alpha (host's choice)
 *   forward:   y[c]  = x[c] * s[c]^-beta
 *   backward:  t[i]  = dy[i] * x[i] * s[i]^-beta / s[i]          (= dy x / s^(beta+1))
 *              dx[j] = dy[j] * s[j]^-beta - 2 a beta x[j] * sum_{i : j in window(i)} t[i]
 *              where {i : j in window(i)} = [max(0, j - floor((size - 1)/2)), min(C - 1, j + floor(size/2))]
 *
 * at every position of the piece (x[c] stands for x[((n*C + c)*H*W + q]). Arithmetic in float32,
 * window sums in channel order, each through plain mul and add (no fused multiply-add), so that
 * the vector lanes and the scalar tail give the same bits. s^-beta is for AlexNet's beta = 0.75
 * only (every variant uses it): 1 / (sqrt(s) * sqrt(sqrt(s))), three vector instructions and a
 * division. The host runs the reference op for any other beta (a general pow would need tables:
 * data segments, which every worker's instantiation would rewrite in the shared memory).
 *
 * Reference: torch.nn.LocalResponseNorm; Caffe LRNLayer (CrossChannelForward/Backward_cpu).
 */

/** s^-0.75 = 1 / (sqrt(s) * sqrt(sqrt(s))). */
// @ts-ignore: decorator
@inline function powNegBeta(s: f32, beta: f32): f32 {
  const r = Mathf.sqrt(s);
  return 1 / (r * Mathf.sqrt(r));
}

// @ts-ignore: decorator
@inline function powNegBetaX4(s: v128, beta: f32): v128 {
  const r = f32x4.sqrt(s);
  return f32x4.div(f32x4.splat(1), f32x4.mul(r, f32x4.sqrt(r)));
}

/**
 * y = LRN(x) for image n = task / chunks, positions [q0, q1) with q0 = (task % chunks)*per.
 *   x, y      [N, C, H*W]; HW = H*W
 *   size      channels in the window; a = alpha/size or alpha; k; beta (must be 0.75)
 */
export function lrn_forward_task(
  task: i32, scratch: usize,
  x: usize, y: usize, C: i32, HW: i32, size: i32, a: f32, k: f32, beta: f32, per: i32,
): void {
  const chunks = (HW + per - 1) / per;
  const n = task / chunks;
  const q0 = (task % chunks) * per, q1 = min(HW, q0 + per);
  const before = size / 2, after = (size - 1) / 2;
  const planeBytes = <usize>HW << 2;
  const image = <usize>n * C * planeBytes;
  for (let c = 0; c < C; c++) {
    const lo = max(0, c - before), hi = min(C - 1, c + after);
    const xc = x + image + <usize>c * planeBytes, yc = y + image + <usize>c * planeBytes;
    let q = q0;
    if (ASC_FEATURE_SIMD) {
      const va = f32x4.splat(a), vk = f32x4.splat(k);
      for (; q + 4 <= q1; q += 4) {
        const o = <usize>q << 2;
        let p = x + image + <usize>lo * planeBytes + o;
        let vsum = f32x4.splat(0);
        for (let c2 = lo; c2 <= hi; c2++) {
          const v = v128.load(p);
          vsum = f32x4.add(vsum, f32x4.mul(v, v));
          p += planeBytes;
        }
        const vs = f32x4.add(vk, f32x4.mul(va, vsum));
        v128.store(yc + o, f32x4.mul(v128.load(xc + o), powNegBetaX4(vs, beta)));
      }
    }
    for (; q < q1; q++) {
      const o = <usize>q << 2;
      let p = x + image + <usize>lo * planeBytes + o;
      let sum: f32 = 0;
      for (let c2 = lo; c2 <= hi; c2++) {
        const v = load<f32>(p);
        sum += v * v;
        p += planeBytes;
      }
      const s: f32 = k + a * sum;
      store<f32>(yc + o, load<f32>(xc + o) * powNegBeta(s, beta));
    }
  }
}

/**
 * dx = LRN backward for image n, positions [q0, q1) (as lrn_forward_task), from x and dy.
 *   scratch   2*C*per floats: s^-beta and t of the piece, [C][per] each
 */
export function lrn_backward_task(
  task: i32, scratch: usize,
  x: usize, dy: usize, dx: usize, C: i32, HW: i32, size: i32, a: f32, k: f32, beta: f32, per: i32,
): void {
  const chunks = (HW + per - 1) / per;
  const n = task / chunks;
  const q0 = (task % chunks) * per, q1 = min(HW, q0 + per);
  const m = q1 - q0;
  const before = size / 2, after = (size - 1) / 2;
  const planeBytes = <usize>HW << 2;
  const image = <usize>n * C * planeBytes;
  const rowBytes = <usize>per << 2; // a row of the scratch tables
  const R = scratch; //                                 s^-beta  [C][per]
  const T = scratch + <usize>C * rowBytes; //            t        [C][per]
  // Pass 1: s^-beta and t = dy x s^-beta / s at every channel of the piece.
  for (let c = 0; c < C; c++) {
    const lo = max(0, c - before), hi = min(C - 1, c + after);
    const off = image + <usize>c * planeBytes + (<usize>q0 << 2);
    const rc = R + <usize>c * rowBytes, tc = T + <usize>c * rowBytes;
    let i = 0;
    if (ASC_FEATURE_SIMD) {
      const va = f32x4.splat(a), vk = f32x4.splat(k);
      for (; i + 4 <= m; i += 4) {
        const o = <usize>i << 2;
        let p = x + image + <usize>lo * planeBytes + (<usize>q0 << 2) + o;
        let vsum = f32x4.splat(0);
        for (let c2 = lo; c2 <= hi; c2++) {
          const v = v128.load(p);
          vsum = f32x4.add(vsum, f32x4.mul(v, v));
          p += planeBytes;
        }
        const vs = f32x4.add(vk, f32x4.mul(va, vsum));
        const vr = powNegBetaX4(vs, beta);
        v128.store(rc + o, vr);
        const vt = f32x4.div(f32x4.mul(f32x4.mul(v128.load(dy + off + o), v128.load(x + off + o)), vr), vs);
        v128.store(tc + o, vt);
      }
    }
    for (; i < m; i++) {
      const o = <usize>i << 2;
      let p = x + image + <usize>lo * planeBytes + (<usize>q0 << 2) + o;
      let sum: f32 = 0;
      for (let c2 = lo; c2 <= hi; c2++) {
        const v = load<f32>(p);
        sum += v * v;
        p += planeBytes;
      }
      const s: f32 = k + a * sum;
      const r = powNegBeta(s, beta);
      store<f32>(rc + o, r);
      store<f32>(tc + o, ((load<f32>(dy + off + o) * load<f32>(x + off + o)) * r) / s);
    }
  }
  // Pass 2: dx[j] = dy[j] s[j]^-beta - 2 a beta x[j] sum of t over the channels whose window holds j.
  const coef: f32 = 2 * a * beta;
  for (let j = 0; j < C; j++) {
    const lo = max(0, j - after), hi = min(C - 1, j + before);
    const off = image + <usize>j * planeBytes + (<usize>q0 << 2);
    const rj = R + <usize>j * rowBytes;
    let i = 0;
    if (ASC_FEATURE_SIMD) {
      const vcoef = f32x4.splat(coef);
      for (; i + 4 <= m; i += 4) {
        const o = <usize>i << 2;
        let p = T + <usize>lo * rowBytes + o;
        let vsum = f32x4.splat(0);
        for (let i2 = lo; i2 <= hi; i2++) {
          vsum = f32x4.add(vsum, v128.load(p));
          p += rowBytes;
        }
        const vdirect = f32x4.mul(v128.load(dy + off + o), v128.load(rj + o));
        const vcross = f32x4.mul(f32x4.mul(vcoef, v128.load(x + off + o)), vsum);
        v128.store(dx + off + o, f32x4.sub(vdirect, vcross));
      }
    }
    for (; i < m; i++) {
      const o = <usize>i << 2;
      let p = T + <usize>lo * rowBytes + o;
      let sum: f32 = 0;
      for (let i2 = lo; i2 <= hi; i2++) {
        sum += load<f32>(p);
        p += rowBytes;
      }
      store<f32>(dx + off + o, load<f32>(dy + off + o) * load<f32>(rj + o) - (coef * load<f32>(x + off + o)) * sum);
    }
  }
}
