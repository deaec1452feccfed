/**
 * The first convolution's kernels as a picture, like Figure 3 of Krizhevsky et al. (2012): "96
 * convolutional kernels of size 11x11x3 learned by the first convolutional layer ... The top 48
 * kernels were learned on GPU 1 while the bottom 48 kernels were learned on GPU 2."
 *
 * Each kernel W[o] (shape [C, KH, KW]) becomes a KH x KW tile: with C = 3 its three input
 * channels are the tile's red, green and blue; with C = 1 it is gray.
 *
 * Normalisation (how weights become 0..255), one rule for every tile of a picture:
 *
 *   'per-filter' (default)  each kernel is stretched by its own extremes, over all its channels
 *                           together: byte = 255 (w - min_o) / (max_o - min_o). Every tile uses
 *                           the full range, as in the paper's figure, so weak kernels stay visible;
 *                           treating the channels together keeps a kernel's hue (a kernel that
 *                           only looks at red stays red). A constant kernel is mid-gray (128).
 *   'symmetric'             one range for all kernels, centred on zero: byte = 127.5 (1 + w / m)
 *                           with m = max |w| over the whole layer. Zero is mid-gray, and tiles
 *                           can be compared in strength (untrained or dead kernels look flat).
 *
 * Groups: the paper trained on two GPUs; conv1's 96 kernels were split 48 + 48, and because conv2
 * is grouped (each half sees only its own GPU's conv1 maps) the halves specialise: in the paper,
 * mostly colour-agnostic kernels in one, colour blobs in the other. With groups = 2 the two halves
 * are drawn one above the other, separated by a gap, as in Figure 3. conv1 itself is not a grouped
 * convolution; firstLayerKernels() takes the group count from the next convolution.
 */

import { UserError } from '../errors.js';
import type { Architecture } from '../model/architectures.js';
import type { Weights } from '../model/network.js';
import { type Tensor, dims, formatShape } from '../tensor.js';
import { type Canvas, type Color, type Rect, createCanvas, drawText, lineHeight, textSize } from './canvas.js';
import { CHART_COLORS } from './chart.js';
import { GRID_BORDER, columnsNear, drawTile, gridLayout, toByte } from './grid.js';

export type FilterNormalisation = 'per-filter' | 'symmetric';

export interface FilterGridOptions {
  /** Blocks to split the kernels into (2 for the caffe and paper weights). Default 1. */
  groups?: number;
  /** Enlargement of each kernel pixel (nearest neighbour). Default ceil(40 / max(KH, KW)): 4 for 11x11. */
  scale?: number;
  /** Tiles per row in each block. Default: the paper's proportions (16 for 96 kernels in 2 groups). */
  columns?: number;
  /** Pixels between tiles and around each block. Default 1. */
  border?: number;
  /** Pixels between group blocks. Default 8. */
  groupGap?: number;
  normalisation?: FilterNormalisation;
  /** Which input channel is red: 'bgr' for weights trained on BGR images (Caffe's). Default 'rgb'. */
  channelOrder?: 'rgb' | 'bgr';
  /** A line of text above the grid. */
  caption?: string;
}

export interface FilterGridLayout {
  width: number;
  height: number;
  scale: number;
  columns: number;
  /** Tile of kernel o, for o = 0 .. OC-1. */
  tiles: Rect[];
  /** One box per group (border included); group g holds kernels g*OC/groups .. (g+1)*OC/groups - 1. */
  groups: Rect[];
  caption?: Rect;
}

const CAPTION_SCALE = 2;

/**
 * Default tiles per row: the smallest divisor of the group's kernel count that is at least
 * sqrt(8/3 * OC), giving the proportions of the paper's figure (6 rows of 16 for 96 kernels in
 * 2 groups; 4 rows of 16 for torchvision's 64).
 */
export function defaultFilterColumns(outChannels: number, groups: number): number {
  return columnsNear(outChannels / groups, Math.sqrt((8 / 3) * outChannels));
}

export function filterGridLayout(shape: readonly number[], options: FilterGridOptions = {}): FilterGridLayout {
  if (shape.length !== 4) throw new Error(`filterGrid: expected kernels [OC, C, KH, KW], got ${formatShape(shape)}`);
  const [OC, C, KH, KW] = shape;
  if (C !== 1 && C !== 3) throw new Error(`filterGrid: kernels need 1 (gray) or 3 (RGB) input channels, got ${formatShape(shape)}`);
  const groups = options.groups ?? 1;
  if (!Number.isInteger(groups) || groups < 1 || OC % groups !== 0) {
    throw new Error(`filterGrid: ${OC} kernels cannot be split into ${groups} equal groups`);
  }
  const scale = options.scale ?? Math.max(1, Math.ceil(40 / Math.max(KH, KW)));
  const border = options.border ?? 1;
  const gap = options.groupGap ?? 8;
  const perGroup = OC / groups;
  const columns = Math.min(perGroup, options.columns ?? defaultFilterColumns(OC, groups));
  let y = 0;
  let caption: Rect | undefined;
  if (options.caption !== undefined) {
    const size = textSize(options.caption, CAPTION_SCALE);
    caption = { x: border, y: CAPTION_SCALE * 2, ...size };
    y = caption.y + lineHeight(CAPTION_SCALE) + CAPTION_SCALE * 2;
  }
  const tiles: Rect[] = [];
  const boxes: Rect[] = [];
  for (let g = 0; g < groups; g++) {
    const grid = gridLayout(perGroup, KW * scale, KH * scale, columns, border, 0, y);
    tiles.push(...grid.tiles);
    boxes.push(grid.box);
    y += grid.box.height + (g < groups - 1 ? gap : 0);
  }
  const width = Math.max(boxes[0].width, caption ? caption.x + caption.width + border : 0);
  return { width, height: y, scale, columns, tiles, groups: boxes, ...(caption ? { caption } : {}) };
}

/**
 * The kernels [OC, C, KH, KW] as a grid of colour (C = 3) or gray (C = 1) tiles; see the file
 * comment for the normalisation and the groups.
 */
export function filterGrid(weight: Tensor, options: FilterGridOptions = {}): Canvas {
  const [OC, C, KH, KW] = dims('filterGrid', weight, 4);
  const L = filterGridLayout(weight.shape, options);
  const w = weight.data;
  const per = C * KH * KW;
  const normalisation = options.normalisation ?? 'per-filter';
  if (normalisation !== 'per-filter' && normalisation !== 'symmetric') throw new Error(`filterGrid: unknown normalisation "${String(normalisation)}"`);
  // The range each kernel is mapped by: its own [min, max], or [-m, m] for all.
  let m = 0;
  for (let i = 0; i < w.length; i++) m = Math.max(m, Math.abs(w[i]));
  const ranges: [number, number][] = [];
  for (let o = 0; o < OC; o++) {
    if (normalisation === 'symmetric') {
      ranges.push([-m, m]);
      continue;
    }
    let lo = Infinity;
    let hi = -Infinity;
    for (let i = o * per; i < (o + 1) * per; i++) {
      lo = Math.min(lo, w[i]);
      hi = Math.max(hi, w[i]);
    }
    ranges.push([lo, hi]);
  }
  // Input channel shown as red, green, blue.
  const rgbChannels = C === 1 ? [0, 0, 0] : options.channelOrder === 'bgr' ? [2, 1, 0] : [0, 1, 2];

  const c = createCanvas(L.width, L.height, GRID_BORDER);
  if (L.caption && options.caption !== undefined) {
    drawText(c, options.caption, L.caption.x, L.caption.y, CHART_COLORS.text, { scale: CAPTION_SCALE });
  }
  for (let o = 0; o < OC; o++) {
    const [lo, hi] = ranges[o];
    const byte = (ch: number, i: number, j: number): number => toByte(w[o * per + (ch * KH + j) * KW + i], lo, hi, 128);
    drawTile(c, L.tiles[o], KW, KH, L.scale, (i, j): Color => [byte(rgbChannels[0], i, j), byte(rgbChannels[1], i, j), byte(rgbChannels[2], i, j)]);
  }
  return c;
}

export interface FirstLayerKernels {
  /** The layer's name (conv1) and its weight-file key. */
  layer: string;
  key: string;
  weight: Tensor;
  /** The group count to draw with: that of the next convolution (2 for caffe, caffenet, paper, mini). */
  groups: number;
}

/** The first convolution's kernels of `weights`, and how to group them; a UserError if missing. */
export function firstLayerKernels(arch: Architecture, weights: Weights): FirstLayerKernels {
  const convs = arch.layers.filter((l) => l.kind === 'conv');
  const first = convs[0];
  if (!first || first.kind !== 'conv') throw new Error(`${arch.name} has no convolution`);
  const key = `${first.param}.weight`;
  const weight = weights.get(key);
  if (!weight) throw new UserError(`weights have no tensor "${key}" (the ${arch.name} ${first.name} kernels)`);
  if (weight.shape.length !== 4 || (weight.shape[1] !== 1 && weight.shape[1] !== 3)) {
    throw new UserError(`tensor "${key}" has shape ${formatShape(weight.shape)}, expected [OC, 1 or 3, KH, KW]`);
  }
  const next = convs[1];
  const groups = next && next.kind === 'conv' && weight.shape[0] % next.groups === 0 ? next.groups : 1;
  return { layer: first.name, key, weight, groups };
}
