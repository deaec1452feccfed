/**
 * ReLU forward and backward (src/ops/relu.ts) as task kernels over ranges of elements. The naive
 * loops they must equal, bit for bit:
 *
 *   forward:   y[i]  = x[i] > 0 ? x[i] : 0
 *   backward:  dx[i] = x[i] > 0 ? dy[i] : 0              (ReLU'(0) = 0, as PyTorch and Caffe)
 *
 * for i in [task*per, min(n, (task + 1)*per)). SIMD: f32x4.pmax(0, x) is `0 < x ? x : 0` lane by
 * lane (one maxps; NaN and -0 give +0, as the loop does), and the backward keeps dy under the
 * mask x > 0 (f32x4.gt then v128.and).
 */

export function relu_forward_task(task: i32, scratch: usize, x: usize, y: usize, n: i32, per: i32): void {
  const i0 = task * per, i1 = min(n, i0 + per);
  let i = i0;
  if (ASC_FEATURE_SIMD) {
    const vzero = f32x4.splat(0);
    for (; i + 4 <= i1; i += 4) {
      const o = <usize>i << 2;
      v128.store(y + o, f32x4.pmax(vzero, v128.load(x + o)));
    }
  }
  for (; i < i1; i++) {
    const o = <usize>i << 2;
    const v = load<f32>(x + o);
    store<f32>(y + o, v > 0 ? v : 0);
  }
}

export function relu_backward_task(task: i32, scratch: usize, x: usize, dy: usize, dx: usize, n: i32, per: i32): void {
  const i0 = task * per, i1 = min(n, i0 + per);
  let i = i0;
  if (ASC_FEATURE_SIMD) {
    const vzero = f32x4.splat(0);
    for (; i + 4 <= i1; i += 4) {
      const o = <usize>i << 2;
      v128.store(dx + o, v128.and(v128.load(dy + o), f32x4.gt(v128.load(x + o), vzero)));
    }
  }
  for (; i < i1; i++) {
    const o = <usize>i << 2;
    store<f32>(dx + o, load<f32>(x + o) > 0 ? load<f32>(dy + o) : 0);
  }
}
