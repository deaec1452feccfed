/**
 * The SGD update of src/train/optimizer.ts (sgdStep), on a range of elements, with the same bits:
 * the arithmetic is float64 per element, as the JavaScript reference does it, and only the stores
 * round to float32. Weights and momenta that fall below the smallest normal float32 are flushed
 * to zero, before rounding, as there.
 *
 *   pytorch:  v <- mu * v + (g + wd * w) ;  w <- w - lr * v
 *   paper:    v <- mu * v - (wd * lr) * w - lr * g ;  w <- w + v
 *
 * (v on the right of the second assignment is the stored, rounded one.) The update reads three
 * arrays and writes two: it is bound by memory traffic, which is why it runs here, on every thread,
 * rather than as a JavaScript loop (about 13 cycles an element on the machine of the results).
 *
 *   task, per   elements [task*per, min(n, (task + 1)*per))
 *   w, g, v     weights, gradients, momenta: n floats each
 *   paper       1 for the paper's form, 0 for PyTorch's
 */

const MIN_NORMAL: f64 = 1.1754943508222875e-38;

// @ts-ignore: decorator
@inline function flush(x: f64): f64 {
  return abs(x) < MIN_NORMAL ? 0 : x;
}

export function sgd_update_task(
  task: i32, scratch: usize, w: usize, g: usize, v: usize, n: i32, per: i32, lr: f64, mu: f64, wd: f64, paper: i32,
): void {
  const i0 = task * per, i1 = min(n, i0 + per);
  if (paper) {
    const wdlr = wd * lr;
    for (let i = i0; i < i1; i++) {
      const o = <usize>i << 2;
      const wi = <f64>load<f32>(w + o);
      const vf = <f32>flush(mu * <f64>load<f32>(v + o) - wdlr * wi - lr * <f64>load<f32>(g + o));
      store<f32>(v + o, vf);
      store<f32>(w + o, <f32>flush(wi + <f64>vf));
    }
  } else {
    for (let i = i0; i < i1; i++) {
      const o = <usize>i << 2;
      const wi = <f64>load<f32>(w + o);
      const vf = <f32>flush(mu * <f64>load<f32>(v + o) + (<f64>load<f32>(g + o) + wd * wi));
      store<f32>(v + o, vf);
      store<f32>(w + o, <f32>flush(wi - lr * <f64>vf));
    }
  }
}
