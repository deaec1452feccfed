import { describe, expect, it } from 'vitest';
import { UserError } from '../../src/errors.js';
import { architecture } from '../../src/model/architectures.js';
import { syntheticTensor } from '../../src/model/synthetic.js';
import type { Tensor } from '../../src/tensor.js';
import { CHART_COLORS } from '../../src/viz/chart.js';
import { defaultFilterColumns, filterGrid, filterGridLayout, firstLayerKernels } from '../../src/viz/filters.js';
import { GRID_BORDER } from '../../src/viz/grid.js';
import { contains, countColor, decoded, expectRealPicture, rgbAt, type Picture } from './picture.js';

const K = 3; // 3 x 3 kernels: the centre pixel is (1, 1)

/**
 * Eight 3-channel 3x3 kernels with known pictures:
 *   0 red      channel R = 1, G = B = 0           -> (255, 0, 0) everywhere
 *   1 green    channel G = 1                      -> (0, 255, 0)
 *   2 blue     channel B = 1                      -> (0, 0, 255)
 *   3 ramp     all channels = column i (0, 1, 2)  -> gray 0, 128, 255 left to right
 *   4 flat     all 0.7                            -> mid-gray 128
 *   5 anti-red R = -1, G = B = 0                  -> (0, 255, 255): cyan, the red channel is the minimum
 *   6 small    R = 0.001 at the centre, else 0    -> red centre, black elsewhere (its own range)
 *   7 gray ramp by rows, scaled x 100            -> gray 0, 128, 255 top to bottom
 */
function knownKernels(): Tensor<Float32Array> {
  const OC = 8;
  const w = new Float32Array(OC * 3 * K * K);
  const set = (o: number, c: number, y: number, x: number, v: number) => (w[((o * 3 + c) * K + y) * K + x] = v);
  for (let y = 0; y < K; y++) {
    for (let x = 0; x < K; x++) {
      set(0, 0, y, x, 1);
      set(1, 1, y, x, 1);
      set(2, 2, y, x, 1);
      for (let c = 0; c < 3; c++) {
        set(3, c, y, x, x);
        set(4, c, y, x, 0.7);
        set(7, c, y, x, 100 * y);
      }
      set(5, 0, y, x, -1);
    }
  }
  set(6, 0, 1, 1, 0.001);
  return { data: w, shape: [OC, 3, K, K] };
}

/** Colour of kernel pixel (i, j) of tile o: the centre of its scale x scale block. */
function tilePixel(p: Picture, tile: { x: number; y: number }, scale: number, i: number, j: number): number[] {
  return rgbAt(p, tile.x + i * scale + Math.floor(scale / 2), tile.y + j * scale + Math.floor(scale / 2));
}

/** Every pixel outside every tile (and the caption) is border-coloured. */
function expectBordersOnly(p: Picture, tiles: { x: number; y: number; width: number; height: number }[], skip?: { x: number; y: number; width: number; height: number }): void {
  let border = 0;
  for (let y = 0; y < p.height; y++) {
    for (let x = 0; x < p.width; x++) {
      if (tiles.some((t) => contains(t, x, y)) || (skip && contains(skip, x, y))) continue;
      expect(rgbAt(p, x, y), `(${x}, ${y}) is between tiles`).toEqual([...GRID_BORDER]);
      border++;
    }
  }
  expect(border).toBeGreaterThan(0);
}

describe('filterGrid', () => {
  const weight = knownKernels();

  it('reproduces known kernels at their tiles (per-filter normalisation, RGB)', () => {
    const scale = 4;
    const L = filterGridLayout(weight.shape, { scale, columns: 4 });
    const p = decoded(filterGrid(weight, { scale, columns: 4 }));
    expectRealPicture(p, L.width, L.height);
    // 4 columns of (3 * 4 + 1 border) + 1 border wide, 2 rows high.
    expect([L.width, L.height]).toEqual([4 * 13 + 1, 2 * 13 + 1]);
    const at = (o: number, i = 1, j = 1) => tilePixel(p, L.tiles[o], scale, i, j);
    expect(at(0)).toEqual([255, 0, 0]);
    expect(at(1)).toEqual([0, 255, 0]);
    expect(at(2)).toEqual([0, 0, 255]);
    expect([at(3, 0), at(3, 1), at(3, 2)]).toEqual([[0, 0, 0], [128, 128, 128], [255, 255, 255]]);
    expect(at(4)).toEqual([128, 128, 128]);
    expect(at(5)).toEqual([0, 255, 255]);
    expect([at(6, 1, 1), at(6, 0, 0)]).toEqual([[255, 0, 0], [0, 0, 0]]);
    expect([at(7, 1, 0), at(7, 1, 1), at(7, 1, 2)]).toEqual([[0, 0, 0], [128, 128, 128], [255, 255, 255]]);
    // Each kernel pixel is a whole scale x scale block (nearest-neighbour enlargement).
    const t = L.tiles[3];
    for (let v = 0; v < scale; v++) for (let u = 0; u < scale; u++) expect(rgbAt(p, t.x + 2 * scale + u, t.y + v)).toEqual([255, 255, 255]);
    // Tiles in reading order: kernel 4 starts the second row.
    expect([L.tiles[4].x, L.tiles[4].y]).toEqual([1, 14]);
    expectBordersOnly(p, L.tiles);
  });

  it('draws two groups as two blocks, one above the other, with a gap', () => {
    const opts = { scale: 2, columns: 2, groups: 2, groupGap: 5 };
    const L = filterGridLayout(weight.shape, opts);
    const p = decoded(filterGrid(weight, opts));
    expectRealPicture(p, L.width, L.height);
    expect(L.groups).toHaveLength(2);
    const [g1, g2] = L.groups;
    expect(g2.y).toBe(g1.y + g1.height + 5);
    expect(g1.x).toBe(g2.x);
    // Kernels 0-3 in the first block, 4-7 in the second.
    for (let o = 0; o < 8; o++) {
      const inside = o < 4 ? g1 : g2;
      expect(contains(inside, L.tiles[o].x, L.tiles[o].y), `kernel ${o}`).toBe(true);
    }
    expect(tilePixel(p, L.tiles[4], 2, 1, 1)).toEqual([128, 128, 128]);
    expect(tilePixel(p, L.tiles[5], 2, 1, 1)).toEqual([0, 255, 255]);
    expectBordersOnly(p, L.tiles);
    // The gap rows between the blocks are border-coloured across the whole width.
    for (let y = g1.y + g1.height; y < g2.y; y++) expect(countColor(p, GRID_BORDER, { x: 0, y, width: p.width, height: 1 })).toBe(p.width);
  });

  it('maps zero to mid-gray and +-max|w| to 255 and 0 with the symmetric normalisation', () => {
    const w = new Float32Array(2 * 1 * 1 * 3);
    w.set([-2, 0, 2, 0.5, 0.5, 0.5]);
    const t = { data: w, shape: [2, 1, 1, 3] };
    const L = filterGridLayout(t.shape, { scale: 1, columns: 2 });
    const p = decoded(filterGrid(t, { scale: 1, columns: 2, normalisation: 'symmetric' }));
    const gray = (o: number, i: number) => rgbAt(p, L.tiles[o].x + i, L.tiles[o].y);
    expect([gray(0, 0), gray(0, 1), gray(0, 2)]).toEqual([[0, 0, 0], [128, 128, 128], [255, 255, 255]]);
    // 127.5 * (1 + 0.5 / 2) = 159.4 -> 159: the flat kernel keeps its level relative to the others.
    expect(gray(1, 0)).toEqual([159, 159, 159]);
    // Per filter, the flat kernel would be mid-gray.
    const q = decoded(filterGrid(t, { scale: 1, columns: 2 }));
    expect(rgbAt(q, L.tiles[1].x, L.tiles[1].y)).toEqual([128, 128, 128]);
  });

  it('draws one-channel kernels in gray and can swap BGR weights to RGB', () => {
    const gray = { data: Float32Array.from([0, 1, 2, 3]), shape: [1, 1, 2, 2] };
    const L = filterGridLayout(gray.shape, { scale: 1 });
    const p = decoded(filterGrid(gray, { scale: 1 }));
    expect([rgbAt(p, L.tiles[0].x, L.tiles[0].y), rgbAt(p, L.tiles[0].x + 1, L.tiles[0].y + 1)]).toEqual([[0, 0, 0], [255, 255, 255]]);
    const bgr = filterGrid(weight, { scale: 4, columns: 4, channelOrder: 'bgr' });
    const q = decoded(bgr);
    const B = filterGridLayout(weight.shape, { scale: 4, columns: 4 });
    expect(tilePixel(q, B.tiles[0], 4, 1, 1)).toEqual([0, 0, 255]); // stored channel 0 is blue
    expect(tilePixel(q, B.tiles[2], 4, 1, 1)).toEqual([255, 0, 0]);
  });

  it('puts a caption above the grid', () => {
    const opts = { scale: 4, columns: 4, caption: 'conv1' };
    const L = filterGridLayout(weight.shape, opts);
    const p = decoded(filterGrid(weight, opts));
    expect(L.caption).toBeDefined();
    expect(L.tiles[0].y).toBeGreaterThan(L.caption!.y + L.caption!.height);
    expect(countColor(p, CHART_COLORS.text, L.caption!)).toBeGreaterThan(10);
    expectBordersOnly(p, L.tiles, L.caption);
  });

  it('lays out 96 kernels in 2 groups as the paper does: 6 rows of 16, 11x11 tiles enlarged 4 times', () => {
    expect(defaultFilterColumns(96, 2)).toBe(16);
    expect(defaultFilterColumns(64, 1)).toBe(16);
    expect(defaultFilterColumns(48, 2)).toBe(12);
    const L = filterGridLayout([96, 3, 11, 11], { groups: 2 });
    expect([L.scale, L.columns]).toEqual([4, 16]);
    expect(L.width).toBe(16 * 45 + 1);
    expect(L.height).toBe(2 * (3 * 45 + 1) + 8);
    expect(L.tiles[47].y).toBeLessThan(L.groups[1].y);
    expect(L.tiles[48]).toMatchObject({ x: 1, y: L.groups[1].y + 1, width: 44, height: 44 });
  });

  it('refuses kernels it cannot draw', () => {
    expect(() => filterGrid({ data: new Float32Array(2 * 2 * 9), shape: [2, 2, 3, 3] })).toThrow(/1 \(gray\) or 3 \(RGB\)/);
    expect(() => filterGrid(weight, { groups: 3 })).toThrow(/8 kernels cannot be split into 3/);
    expect(() => filterGrid({ data: new Float32Array(4), shape: [4] })).toThrow(/rank-4/);
  });
});

/** Weights holding only the first layer's kernels (all that firstLayerKernels reads), uniform in +-0.1. */
function conv1Only(key: string, shape: readonly number[]): Map<string, Tensor> {
  return new Map([[key, syntheticTensor(7, shape, 0.1)]]);
}

describe('firstLayerKernels', () => {
  it('finds conv1 and takes the groups of conv2', () => {
    for (const [name, key, groups, shape] of [
      ['caffe', 'conv1.weight', 2, [96, 3, 11, 11]],
      ['paper', 'conv1.weight', 2, [96, 3, 11, 11]],
      ['torchvision', 'features.0.weight', 1, [64, 3, 11, 11]],
      ['mini', 'conv1.weight', 2, [48, 1, 5, 5]],
    ] as const) {
      const arch = architecture(name);
      const k = firstLayerKernels(arch, conv1Only(key, shape));
      expect([k.layer, k.key, k.groups, k.weight.shape]).toEqual(['conv1', key, groups, shape]);
    }
  });

  it('says which tensor is missing', () => {
    const arch = architecture('torchvision');
    expect(() => firstLayerKernels(arch, new Map())).toThrow(UserError);
    expect(() => firstLayerKernels(arch, new Map())).toThrow('weights have no tensor "features.0.weight" (the torchvision conv1 kernels)');
  });

  it('draws synthetic caffe kernels without blank tiles', () => {
    const arch = architecture('caffe');
    const k = firstLayerKernels(arch, conv1Only('conv1.weight', [96, 3, 11, 11]));
    const L = filterGridLayout(k.weight.shape, { groups: k.groups });
    const p = decoded(filterGrid(k.weight, { groups: k.groups }));
    expectRealPicture(p, L.width, L.height);
    // Per-filter normalisation: every tile reaches 0 and 255 in some channel.
    for (const t of L.tiles.slice(0, 5)) {
      let lo = 255;
      let hi = 0;
      for (let y = t.y; y < t.y + t.height; y++) for (let x = t.x; x < t.x + t.width; x++) for (const v of rgbAt(p, x, y)) [lo, hi] = [Math.min(lo, v), Math.max(hi, v)];
      expect([lo, hi]).toEqual([0, 255]);
    }
  });
});
