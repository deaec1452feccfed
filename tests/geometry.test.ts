/**
 * Output sizes of convolution and pooling (src/geometry.ts): AlexNet's sizes in every variant,
 * floor vs ceil, the rule that a ceil window starting in the trailing padding is dropped, pad order,
 * and adaptive pooling windows; windowCount against an enumeration of the windows.
 */

import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { adaptiveWindow, outputSize2d, symmetricPads, windowCount } from '../src/geometry.js';
import { checkProperty } from './helpers/random.js';

describe('windowCount', () => {
  it('AlexNet at 227 (Caffe, floor or ceil) and torchvision at 224 reach 55 -> 27 -> 13 -> 6', () => {
    for (const rounding of ['floor', 'ceil'] as const) {
      expect(windowCount(227, 11, 4, 0, 0)).toBe(55); //            conv1, Caffe
      expect(windowCount(55, 3, 2, 0, 0, rounding)).toBe(27); //    pool1
      expect(windowCount(27, 5, 1, 2, 2)).toBe(27); //              conv2
      expect(windowCount(27, 3, 2, 0, 0, rounding)).toBe(13); //    pool2
      expect(windowCount(13, 3, 1, 1, 1)).toBe(13); //              conv3-5
      expect(windowCount(13, 3, 2, 0, 0, rounding)).toBe(6); //     pool5
    }
    expect(windowCount(224, 11, 4, 2, 2)).toBe(55); // torchvision conv1: (224 + 4 - 11) / 4 = 54.25
  });

  it('at 224 without padding: floor gives 54 -> 26 -> ... -> 5, Caffe\'s ceil gives 54 -> 27 -> ... -> 6', () => {
    expect(windowCount(224, 11, 4, 0, 0)).toBe(54); // (224 - 11) / 4 = 53.25
    // floor: the paper's "224" does not reach 6x6
    expect(windowCount(54, 3, 2, 0, 0, 'floor')).toBe(26);
    expect(windowCount(26, 3, 2, 0, 0, 'floor')).toBe(12);
    expect(windowCount(12, 3, 2, 0, 0, 'floor')).toBe(5);
    // ceil (the ONNX zoo's bvlcalexnet at 224): (54 - 3) / 2 = 25.5 rounds up
    expect(windowCount(54, 3, 2, 0, 0, 'ceil')).toBe(27);
    expect(windowCount(27, 3, 2, 0, 0, 'ceil')).toBe(13);
    expect(windowCount(13, 3, 2, 0, 0, 'ceil')).toBe(6);
  });

  it('ceil drops a window that would start in the trailing padding: size 5, kernel 2, stride 2, pad 1 -> 3', () => {
    // span 5 + 1 + 1 - 2 = 5; ceil(5 / 2) + 1 = 4 windows would start at -1, 1, 3, 5: the last starts
    // in the trailing padding (5 >= size 5) and is dropped, as PyTorch and Caffe do
    expect(windowCount(5, 2, 2, 1, 1, 'ceil')).toBe(3);
    expect(windowCount(5, 2, 2, 1, 1, 'floor')).toBe(3);
    // a last window starting inside the input is kept: size 6, kernel 3, stride 2, pad 1 -> starts -1, 1, 3, 5
    expect(windowCount(6, 3, 2, 1, 1, 'ceil')).toBe(4);
    expect(windowCount(6, 3, 2, 1, 1, 'floor')).toBe(3);
  });

  // With ceil rounding, a kernel longer than the padded input by less than a stride still fits one
  // clipped window: ceil(span / stride) + 1 = 1 for -stride < span < 0, as PyTorch
  // (pooling_output_shape_pad_lr: div_rtn(span + stride - 1, stride) + 1) and Caffe compute it.
  // E.g. nn.MaxPool2d(2, 2, ceil_mode=True) on a 1x1 map gives 1x1. (Once a bug here.)
  it('ceil fits one clipped window when the kernel overhangs by less than the stride (1, k2, s2 -> 1)', () => {
    expect(windowCount(1, 2, 2, 0, 0, 'ceil')).toBe(1); //  span -1: ceil(-1/2) + 1 = 1
    expect(windowCount(2, 3, 2, 0, 0, 'ceil')).toBe(1); //  span -1
    expect(windowCount(1, 4, 3, 0, 1, 'ceil')).toBe(1); //  span -2 > -3
    expect(windowCount(1, 3, 2, 0, 0, 'ceil')).toBe(0); //  span -2 = -stride: no window (also PyTorch)
  });

  it('a kernel larger than the padded input fits 0 times; default rounding is floor', () => {
    expect(windowCount(2, 5, 1, 1, 1)).toBe(0);
    expect(windowCount(2, 5, 1, 1, 1, 'ceil')).toBe(0); // span -1 = -stride: none in PyTorch either
    expect(windowCount(1, 2, 2, 0, 0, 'floor')).toBe(0);
    expect(windowCount(4, 3, 2, 0, 0)).toBe(1);
    expect(windowCount(4, 3, 2, 0, 0, 'ceil')).toBe(2);
  });

  it('equals the number of window positions: floor = windows inside the padded input; ceil also lets the last overhang, unless it starts past the input', () => {
    checkProperty(
      fc.property(
        fc.integer({ min: 1, max: 40 }),
        fc.integer({ min: 1, max: 7 }),
        fc.integer({ min: 1, max: 4 }),
        fc.nat(6),
        fc.nat(6),
        (size, kernel, stride, pb, pa) => {
          const [before, after] = [pb % kernel, pa % kernel]; // pads smaller than the kernel
          let floor = 0;
          while (floor * stride + kernel <= size + before + after) floor++;
          let ceil = 0;
          while (ceil * stride + kernel <= size + before + after + stride - 1 && ceil * stride - before < size) ceil++;
          expect(windowCount(size, kernel, stride, before, after, 'floor')).toBe(floor);
          expect(ceil - floor === 0 || ceil - floor === 1).toBe(true);
          expect(windowCount(size, kernel, stride, before, after, 'ceil')).toBe(ceil);
        },
      ),
      2000,
    );
  });
});

describe('outputSize2d and pads', () => {
  it('reads pads in ONNX order [top, left, bottom, right]', () => {
    // stride 1, kernel 3 on 5x5: size + pads - 2
    expect(outputSize2d(5, 5, 3, 1, [2, 0, 1, 0])).toEqual([5 + 2 + 1 - 2, 5 - 2]);
    expect(outputSize2d(5, 5, 3, 1, [0, 1, 0, 3])).toEqual([5 - 2, 5 + 1 + 3 - 2]);
    expect(outputSize2d(7, 9, 3, 2, symmetricPads(0), 'ceil')).toEqual([3, 4]);
    expect(outputSize2d(8, 8, 3, 2, symmetricPads(0), 'ceil')).toEqual([4, 4]);
    expect(outputSize2d(8, 8, 3, 2, symmetricPads(0), 'floor')).toEqual([3, 3]);
  });

  it('symmetricPads repeats one pad on all four sides', () => {
    expect(symmetricPads(2)).toEqual([2, 2, 2, 2]);
  });
});

describe('adaptiveWindow', () => {
  it('5 -> 6: [0,1) [0,2) [1,3) [2,4) [3,5) [4,5); 6 -> 6 is the identity; 1 -> 6 repeats', () => {
    expect([0, 1, 2, 3, 4, 5].map((i) => adaptiveWindow(i, 5, 6))).toEqual([[0, 1], [0, 2], [1, 3], [2, 4], [3, 5], [4, 5]]);
    expect([0, 1, 2, 3, 4, 5].map((i) => adaptiveWindow(i, 6, 6))).toEqual([[0, 1], [1, 2], [2, 3], [3, 4], [4, 5], [5, 6]]);
    expect([0, 1, 2, 3, 4, 5].map((i) => adaptiveWindow(i, 1, 6))).toEqual(Array(6).fill([0, 1]));
    expect([0, 1, 2, 3, 4, 5].map((i) => adaptiveWindow(i, 13, 6))).toEqual([[0, 3], [2, 5], [4, 7], [6, 9], [8, 11], [10, 13]]);
  });

  it('windows are non-empty, cover [0, in) in order, and start at floor(i*in/out)', () => {
    checkProperty(
      fc.property(fc.integer({ min: 1, max: 60 }), fc.integer({ min: 1, max: 60 }), (inSize, outSize) => {
        let prevEnd = 0;
        for (let i = 0; i < outSize; i++) {
          const [s, e] = adaptiveWindow(i, inSize, outSize);
          expect(s).toBe(Math.floor((i * inSize) / outSize));
          expect(e).toBeGreaterThan(s);
          expect(s).toBeLessThanOrEqual(prevEnd); // no gap between consecutive windows
          expect(e).toBeGreaterThanOrEqual(prevEnd);
          expect(e - s).toBeLessThanOrEqual(Math.ceil(inSize / outSize) + 1);
          prevEnd = e;
        }
        expect(adaptiveWindow(0, inSize, outSize)[0]).toBe(0);
        expect(prevEnd).toBe(inSize);
      }),
      300,
    );
  });
});
