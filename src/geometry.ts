/**
 * Output sizes of convolution and pooling: the one place this formula lives.
 *
 * A window of `kernel` taps moved by `stride` over an input of `size` samples, extended by
 * `padBefore` samples in front and `padAfter` behind, fits
 *
 *     floor((size + padBefore + padAfter - kernel) / stride) + 1          (floor rounding)
 *     ceil ((size + padBefore + padAfter - kernel) / stride) + 1          (ceil rounding)
 *
 * times. Ceil rounding (Caffe's pooling, PyTorch `ceil_mode=True`) lets the last window hang over
 * the end; as in both, a window that would start in the trailing padding (entirely outside the
 * input and the leading padding) is dropped.
 *
 * Reference: PyTorch `pooling_output_shape` (aten/src/ATen/native/Pool.h); Caffe `PoolingLayer::Reshape`;
 * `torch.nn.Conv2d` and `torch.nn.MaxPool2d` docs ("Shape" sections).
 */

export type Rounding = 'floor' | 'ceil';

export function windowCount(
  size: number,
  kernel: number,
  stride: number,
  padBefore: number,
  padAfter: number,
  rounding: Rounding = 'floor',
): number {
  const span = size + padBefore + padAfter - kernel;
  let count = (rounding === 'ceil' ? Math.ceil(span / stride) : Math.floor(span / stride)) + 1;
  if (rounding === 'ceil' && (count - 1) * stride >= size + padBefore) count -= 1;
  // A kernel longer than the padded input fits no window (floor), or one that hangs over (ceil,
  // when it is shorter by less than a stride, e.g. size 1, kernel 2, stride 2 gives 1).
  return Math.max(0, count);
}

/** Padding on the four sides of a 2-d window op, in ONNX order: top, left, bottom, right. */
export type Pads = readonly [top: number, left: number, bottom: number, right: number];

export function symmetricPads(pad: number): Pads {
  return [pad, pad, pad, pad];
}

/** Output height and width of a square `kernel` x `kernel` window op with the given pads. */
export function outputSize2d(
  H: number,
  W: number,
  kernel: number,
  stride: number,
  pads: Pads,
  rounding: Rounding = 'floor',
): [OH: number, OW: number] {
  return [
    windowCount(H, kernel, stride, pads[0], pads[2], rounding),
    windowCount(W, kernel, stride, pads[1], pads[3], rounding),
  ];
}

/**
 * Window `i` of adaptive average pooling from `inSize` to `outSize` covers
 * `[floor(i * inSize / outSize), ceil((i + 1) * inSize / outSize))`.
 * Reference: PyTorch `AdaptiveAvgPool2d` (aten/src/ATen/native/AdaptiveAveragePooling.cpp, start_index/end_index).
 */
export function adaptiveWindow(i: number, inSize: number, outSize: number): [start: number, end: number] {
  return [Math.floor((i * inSize) / outSize), Math.ceil(((i + 1) * inSize) / outSize)];
}
