/**
 * Adaptive average pooling to a fixed output size (torchvision's AlexNet pools to 6x6 before the
 * classifier so that inputs other than 224x224 still give 256*6*6 features).
 *
 * Shapes: x [N, C, H, W], y [N, C, OH, OW].
 *
 * Forward:   y[n, c, i, j] = mean of x[n, c, h, w] over h in [h0(i), h1(i)), w in [w0(j), w1(j))
 *            h0(i) = floor(i*H/OH), h1(i) = ceil((i+1)*H/OH), likewise w (geometry.ts adaptiveWindow).
 * Backward:  dx[n, c, h, w] = sum over the windows (i, j) containing (h, w) of dy[n, c, i, j] / |window(i, j)|
 *
 * It is the identity when H = OH and W = OW (AlexNet at 224: 6x6 in, 6x6 out); with a smaller
 * input the windows overlap or repeat (a 1x1 map is copied to all 36 positions).
 *
 * Reference: torch.nn.AdaptiveAvgPool2d (https://pytorch.org/docs/1.13/generated/torch.nn.AdaptiveAvgPool2d.html).
 */

import { adaptiveWindow } from '../geometry.js';
import { type FloatArray, type Tensor, allocLike, dims, formatShape } from '../tensor.js';

export interface AdaptiveAvgPoolParams {
  outH: number;
  outW: number;
}

export interface AdaptiveAvgPoolCache {
  xShape: readonly number[];
}

export function adaptiveAvgPoolForward<A extends FloatArray>(
  x: Tensor<A>,
  params: AdaptiveAvgPoolParams,
): { y: Tensor<A>; cache: AdaptiveAvgPoolCache } {
  const [N, C, H, W] = dims('adaptive avgpool', x, 4);
  const { outH: OH, outW: OW } = params;
  const y = allocLike(x.data, N * C * OH * OW);
  for (let plane = 0; plane < N * C; plane++) {
    for (let i = 0; i < OH; i++) {
      const [h0, h1] = adaptiveWindow(i, H, OH);
      for (let j = 0; j < OW; j++) {
        const [w0, w1] = adaptiveWindow(j, W, OW);
        let sum = 0;
        for (let h = h0; h < h1; h++) for (let w = w0; w < w1; w++) sum += x.data[(plane * H + h) * W + w];
        y[(plane * OH + i) * OW + j] = sum / ((h1 - h0) * (w1 - w0));
      }
    }
  }
  return { y: { data: y, shape: [N, C, OH, OW] }, cache: { xShape: [N, C, H, W] } };
}

export function adaptiveAvgPoolBackward<A extends FloatArray>(cache: AdaptiveAvgPoolCache, dy: Tensor<A>): { dx: Tensor<A> } {
  const [N, C, H, W] = cache.xShape;
  const [dN, dC, OH, OW] = dims('adaptive avgpool backward: dy', dy, 4);
  if (dN !== N || dC !== C) throw new Error(`adaptive avgpool backward: dy ${formatShape(dy.shape)} does not match x [${N}, ${C}, ${H}, ${W}]`);
  const dx = new Float64Array(N * C * H * W); // overlapping windows add up: sum in float64
  for (let plane = 0; plane < N * C; plane++) {
    for (let i = 0; i < OH; i++) {
      const [h0, h1] = adaptiveWindow(i, H, OH);
      for (let j = 0; j < OW; j++) {
        const [w0, w1] = adaptiveWindow(j, W, OW);
        const share = dy.data[(plane * OH + i) * OW + j] / ((h1 - h0) * (w1 - w0));
        for (let h = h0; h < h1; h++) for (let w = w0; w < w1; w++) dx[(plane * H + h) * W + w] += share;
      }
    }
  }
  const out = allocLike(dy.data, dx.length);
  out.set(dx);
  return { dx: { data: out, shape: [N, C, H, W] } };
}
