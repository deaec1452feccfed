/**
 * Presets against torchvision 0.14 and numpy on the same decoded PNG pixels: the torchvision
 * transforms (Resize(256), CenterCrop(224), ToTensor, Normalize) and TenCrop on PIL images, the
 * Caffe recipe computed by numpy from Pillow's resize, the Fashion-MNIST recipe.
 */

import { describe, expect, it } from 'vitest';
import { ARCH_NAMES, architecture } from '../../src/model/architectures.js';
import { decodeImage } from '../../src/image/decode.js';
import { type RgbImage, crop, flipHorizontal, grayImage, rgbImage } from '../../src/image/image.js';
import {
  CAFFE_PRESET, MINI_PRESET, TORCHVISION_PRESET, centerCrop, centerCropOffset, miniPreset, preprocess,
  preprocessBatch, preprocessTenCrop, presetFor, resizeForPreset, resizedSize, roundHalfEven, tenCrop, toTensor,
} from '../../src/image/preprocess.js';
import { difference, expectExact, imageFixture, manifest, sha256 } from './fixtures.js';

const load = (rel: string): RgbImage => decodeImage(imageFixture(rel));

function expectClose(actual: Float32Array, name: string, tol = 1e-6): void {
  const e = manifest.preset[name];
  expect(actual.length).toBe(e.shape.reduce((a, b) => a * b, 1));
  const d = difference(actual, e);
  expect(d.max, `${name}: max |difference| over ${d.count} compared values, first at flat index ${d.at}`).toBeLessThanOrEqual(tol);
}

describe('torchvision preset: Resize(256), CenterCrop(224), ToTensor, Normalize', () => {
  const sources = Object.entries(manifest.preset).filter(([n]) => n.startsWith('torchvision_rgb'));
  it('has fixtures for four pictures', () => expect(sources.length).toBe(4));
  for (const [name, e] of sources) {
    it(`${e.source}: same bytes before normalisation, tensor within 1e-6 (and in fact bit-identical)`, () => {
      const img = load(e.source!);
      const p = TORCHVISION_PRESET;
      const cropped = centerCrop(resizeForPreset(img, p), p.crop, p.cropRounding);
      expect(sha256(cropped.data), 'uint8 crop that torchvision hands to ToTensor').toBe(e.uint8_sha256);
      const t = preprocess(img, p);
      expect(t.shape).toEqual([1, 3, 224, 224]);
      expectClose(t.data, name);
      expectExact(t.data, e, name);
    });
  }
  it('normalisation of every byte value equals torch\'s, bit for bit', () => {
    const ramp = rgbImage(256, 1, Uint8Array.from({ length: 768 }, (_, i) => Math.floor(i / 3)));
    const t = toTensor([ramp], TORCHVISION_PRESET);
    expectExact(t.data, manifest.preset.torchvision_lut, 'lookup table [3, 256]');
  });
  it('TenCrop(224) after Resize(256): torchvision\'s order and crops', () => {
    const name = 'torchvision_tencrop_rgb_500x375';
    const t = preprocessTenCrop(load('png/rgb_500x375.png'), TORCHVISION_PRESET);
    expect(t.shape).toEqual([10, 3, 224, 224]);
    expectClose(t.data, name);
    expectExact(t.data, manifest.preset[name], name);
  });
});

describe('caffe preset: warp 256x256, crop 227 at 14, BGR, minus mean', () => {
  for (const [name, e] of Object.entries(manifest.preset).filter(([n]) => n.startsWith('caffe_'))) {
    it(`${e.source}`, () => {
      const t = preprocess(load(e.source!), CAFFE_PRESET);
      expect(t.shape).toEqual([1, 3, 227, 227]);
      expectClose(t.data, name);
      expectExact(t.data, e, name);
    });
  }
  it('channel 0 is blue', () => {
    const red = rgbImage(300, 300, new Uint8Array(300 * 300 * 3).map((_, i) => (i % 3 === 0 ? 255 : 0)));
    const t = preprocess(red, CAFFE_PRESET);
    const plane = 227 * 227;
    expect(t.data[0]).toBeCloseTo(0 - 104.007, 4);
    expect(t.data[plane]).toBeCloseTo(0 - 116.669, 4);
    expect(t.data[2 * plane]).toBeCloseTo(255 - 122.679, 4);
  });
});

describe('mini preset: convert(L), 28x28, Normalize(0.2860, 0.3530)', () => {
  for (const [name, e] of Object.entries(manifest.preset).filter(([n]) => n.startsWith('mini_'))) {
    it(`${e.source}`, () => {
      const t = preprocess(load(e.source!), MINI_PRESET);
      expect(t.shape).toEqual([1, 1, 28, 28]);
      expectClose(t.data, name);
      expectExact(t.data, e, name);
    });
  }
  it('mean and std are fields a training run can set', () => {
    const p = miniPreset({ mean: 0.5, std: 0.25 });
    expect(p.mean).toEqual([0.5]);
    expect(p.std).toEqual([0.25]);
    const white = rgbImage(28, 28, new Uint8Array(28 * 28 * 3).fill(255));
    expect(preprocess(white, p).data[0]).toBe(2); // (1 - 0.5) / 0.25
    expect(MINI_PRESET.mean).toEqual([0.286]);
  });
});

describe('geometry of resizing and cropping', () => {
  it('Python round: halves to even, so a 341-wide picture is cropped from 58', () => {
    expect(centerCropOffset(341, 224, 'half-even')).toBe(58); // round(58.5)
    expect(centerCropOffset(343, 224, 'half-even')).toBe(60); // round(59.5)
    expect(centerCropOffset(342, 224, 'half-even')).toBe(59);
    expect(centerCropOffset(256, 224, 'half-even')).toBe(16);
    expect(centerCropOffset(256, 227, 'floor')).toBe(14); // Caffe: (256 - 227) / 2 in integers
    expect([0.5, 1.5, 2.5, -0.5, -1.5, 2.4999, 2.5001].map(roundHalfEven)).toEqual([0, 2, 2, 0, -2, 2, 3]);
  });
  it('shorter side to 256, the long side int(256 * long / short)', () => {
    const rule = TORCHVISION_PRESET.resize;
    expect(resizedSize(500, 375, rule)).toEqual([341, 256]); // 341.33
    expect(resizedSize(375, 500, rule)).toEqual([256, 341]);
    expect(resizedSize(257, 301, rule)).toEqual([256, 299]); // 299.83: truncated, not rounded
    expect(resizedSize(300, 300, rule)).toEqual([256, 256]);
    expect(resizedSize(37, 23, rule)).toEqual([411, 256]); // upscaled
    expect(resizedSize(640, 480, CAFFE_PRESET.resize)).toEqual([256, 256]);
  });
  it('refuses a picture whose resize would pass 100 megapixels', () => {
    const sliver = rgbImage(1, 2000);
    expect(() => preprocess(sliver, TORCHVISION_PRESET)).toThrow('image is 1x2000 pixels; resizing it for torchvision would make it 256x512000, more than 100 megapixels');
  });
  it('tenCrop: corners, centre, then the five of the mirrored picture', () => {
    // 5 x 3 grey picture whose pixel value is its x; crops of 2.
    const img = grayImage(5, 3, Uint8Array.from({ length: 15 }, (_, i) => 10 * (i % 5) + Math.floor(i / 5)));
    const crops = tenCrop(img, 2);
    const at = (k: number) => [...crops[k].data];
    expect(at(0)).toEqual([...crop(img, 0, 0, 2, 2).data]); // top-left
    expect(at(1)).toEqual([...crop(img, 3, 0, 2, 2).data]); // top-right
    expect(at(2)).toEqual([...crop(img, 0, 1, 2, 2).data]); // bottom-left
    expect(at(3)).toEqual([...crop(img, 3, 1, 2, 2).data]); // bottom-right
    expect(at(4)).toEqual([...crop(img, 2, 0, 2, 2).data]); // centre: round(1.5) = 2, round(0.5) = 0
    const f = flipHorizontal(img);
    expect(at(5)).toEqual([...flipHorizontal(crop(img, 3, 0, 2, 2)).data]); // flipped tl = mirror of tr
    expect(at(9)).toEqual([...crop(f, 2, 0, 2, 2).data]); // centre of the flipped picture
    expect(at(9)).not.toEqual([...flipHorizontal(crops[4]).data]); // ... which is not the mirrored centre
  });
  it('batches pictures of different sizes', () => {
    const t = preprocessBatch([load('png/rgb.png'), load('png/rgb_341x256.png')], TORCHVISION_PRESET);
    expect(t.shape).toEqual([2, 3, 224, 224]);
    expect(sha256(t.data.subarray(3 * 224 * 224))).toBe(sha256(preprocess(load('png/rgb_341x256.png'), TORCHVISION_PRESET).data));
  });
});

describe('presetFor', () => {
  it('matches each architecture\'s input size and channels', () => {
    for (const arch of ARCH_NAMES) {
      const p = presetFor(arch);
      const a = architecture(arch);
      expect(p.crop, arch).toBe(a.inputSize);
      expect(p.color === 'gray' ? 1 : 3, arch).toBe(a.inputChannels);
    }
    expect(presetFor('torchvision')).toBe(TORCHVISION_PRESET);
    expect(presetFor('caffe')).toBe(CAFFE_PRESET);
    expect(presetFor('paper')).toBe(CAFFE_PRESET);
    expect(presetFor('mini')).toBe(MINI_PRESET);
  });
});
