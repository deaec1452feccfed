/**
 * What the network computed on one image: each spatial layer's output as a grid of gray feature
 * maps, and the top-k classes as a bar chart.
 *
 * Feature maps are normalised per channel: byte = 255 (a - min_c) / (max_c - min_c) over the
 * channel's H x W values, so every map shows its own pattern at full contrast (after a ReLU, min_c
 * is usually 0, so black is "no response"). A constant channel (a dead ReLU unit gives all zeros)
 * is drawn black. Brightness is therefore not comparable between tiles, only within one.
 */

import type { Architecture } from '../model/architectures.js';
import { type Tensor, formatShape } from '../tensor.js';
import { type Canvas, type Rect, createCanvas, drawText, fillRect, lineHeight, textSize } from './canvas.js';
import { CHART_COLORS, PALETTE } from './chart.js';
import { GRID_BORDER, drawTile, gridLayout, squareColumns, toByte } from './grid.js';

export interface FeatureMapGridOptions {
  /** Text above the grid, usually the layer name; the shape C x H x W is appended. */
  caption?: string;
  /** Enlargement of each activation (nearest neighbour). Default max(1, round(48 / max(H, W))). */
  scale?: number;
  /** Tiles per row. Default: a near-square grid (squareColumns). */
  columns?: number;
  /** Pixels between and around tiles. Default 1. */
  border?: number;
}

export interface FeatureMapGridLayout {
  width: number;
  height: number;
  scale: number;
  /** Tile of channel c, for c = 0 .. C-1. */
  tiles: Rect[];
  grid: Rect;
  caption?: Rect;
  /** The caption's text as drawn. */
  captionText?: string;
}

const CAPTION_SCALE = 2;

function chw(t: Tensor): [number, number, number] {
  const s = t.shape;
  if (s.length === 3) return [s[0], s[1], s[2]];
  if (s.length === 4 && s[0] === 1) return [s[1], s[2], s[3]];
  throw new Error(`featureMapGrid: expected one image's maps [1, C, H, W] or [C, H, W], got ${formatShape(s)}`);
}

export function featureMapGridLayout(shape: readonly number[], options: FeatureMapGridOptions = {}): FeatureMapGridLayout {
  const [C, H, W] = chw({ data: new Float32Array(0), shape });
  const scale = options.scale ?? Math.max(1, Math.round(48 / Math.max(H, W)));
  const border = options.border ?? 1;
  const columns = options.columns ?? squareColumns(C);
  let top = 0;
  let caption: Rect | undefined;
  let captionText: string | undefined;
  if (options.caption !== undefined) {
    captionText = `${options.caption}  ${C} x ${H} x ${W}`;
    caption = { x: border + 2 * CAPTION_SCALE, y: 2 * CAPTION_SCALE, ...textSize(captionText, CAPTION_SCALE) };
    top = caption.y + lineHeight(CAPTION_SCALE) + 2 * CAPTION_SCALE;
  }
  const grid = gridLayout(C, W * scale, H * scale, columns, border, 0, top);
  const width = Math.max(grid.box.width, caption ? caption.x + caption.width + 2 * CAPTION_SCALE : 0);
  return { width, height: grid.box.y + grid.box.height, scale, tiles: grid.tiles, grid: grid.box, ...(caption ? { caption, captionText } : {}) };
}

/** One image's feature maps [1, C, H, W] or [C, H, W] as gray tiles, each normalised on its own. */
export function featureMapGrid(t: Tensor, options: FeatureMapGridOptions = {}): Canvas {
  const [C, H, W] = chw(t);
  const L = featureMapGridLayout(t.shape, options);
  const c = createCanvas(L.width, L.height, GRID_BORDER);
  if (L.caption && L.captionText) drawText(c, L.captionText, L.caption.x, L.caption.y, CHART_COLORS.text, { scale: CAPTION_SCALE });
  const a = t.data;
  for (let ch = 0; ch < C; ch++) {
    const base = ch * H * W;
    let lo = Infinity;
    let hi = -Infinity;
    for (let i = base; i < base + H * W; i++) {
      lo = Math.min(lo, a[i]);
      hi = Math.max(hi, a[i]);
    }
    drawTile(c, L.tiles[ch], W, H, L.scale, (x, y) => {
      const v = toByte(a[base + y * W + x], lo, hi, 0);
      return [v, v, v];
    });
  }
  return c;
}

/**
 * The layers whose outputs are feature maps [N, C, H, W] (everything before `flatten`), in order:
 * for caffe conv1, relu1, norm1, pool1, conv2, ..., pool5. A conv layer's output is before its
 * ReLU; the relu layer's is after.
 */
export function featureMapLayers(arch: Architecture): string[] {
  const names: string[] = [];
  for (const l of arch.layers) {
    if (l.kind === 'flatten' || l.kind === 'linear') break;
    if (l.kind !== 'dropout') names.push(l.name);
  }
  return names;
}

export interface TopClassRow {
  /** Index of the class in `probs`. */
  index: number;
  probability: number;
  /** The label as drawn (shortened if very long). */
  label: string;
  labelBox: Rect;
  /** The bar: its width is probability x the full bar width. */
  bar: Rect;
  percentBox: Rect;
  percentText: string;
}

export interface TopClassesLayout {
  width: number;
  height: number;
  title: Rect;
  titleText: string;
  /** Where a 100% bar would end. */
  barArea: Rect;
  rows: TopClassRow[];
}

export interface TopClassesOptions {
  /** Width of a 100% bar in pixels. Default 320. */
  barWidth?: number;
  title?: string;
}

/** Labels longer than this many characters are cut, ending in '...'. */
export const MAX_LABEL_CHARS = 40;
export const BAR_COLOR = PALETTE[0];
const TEXT_SCALE = 2;

/** The k most probable classes, most probable first; ties keep the lower class index first. */
export function topK(probs: ArrayLike<number>, k: number): number[] {
  const order = Array.from({ length: probs.length }, (_, i) => i);
  order.sort((a, b) => probs[b] - probs[a] || a - b);
  return order.slice(0, Math.max(0, Math.min(k, probs.length)));
}

function shorten(label: string): string {
  return label.length <= MAX_LABEL_CHARS ? label : label.slice(0, MAX_LABEL_CHARS - 3) + '...';
}

export function topClassesLayout(probs: ArrayLike<number>, labels: readonly string[], k = 5, options: TopClassesOptions = {}): TopClassesLayout {
  if (labels.length !== probs.length) throw new Error(`topClassesChart: ${probs.length} probabilities but ${labels.length} labels`);
  const s = TEXT_SCALE;
  const pad = 6 * s;
  const rowH = lineHeight(s) + 4 * s;
  const barW = options.barWidth ?? 320;
  const picked = topK(probs, k);
  const titleText = options.title ?? `top-${picked.length} classes`;
  const title: Rect = { x: pad, y: pad, ...textSize(titleText, s + 1) };
  const texts = picked.map((i) => shorten(labels[i]));
  const labelW = Math.max(0, ...texts.map((t) => textSize(t, s).width));
  const barX = pad + labelW + pad;
  const top = title.y + title.height + pad;
  const percentW = textSize('100.0%', s).width;
  const rows = picked.map((index, r): TopClassRow => {
    const y = top + r * rowH;
    const p = Math.min(1, Math.max(0, probs[index]));
    const text = texts[r];
    const size = textSize(text, s);
    const barLen = Math.round(p * barW);
    const percentText = `${(100 * probs[index]).toFixed(1)}%`;
    return {
      index,
      probability: probs[index],
      label: text,
      labelBox: { x: barX - pad - size.width, y: y + 2 * s, ...size },
      bar: { x: barX, y, width: barLen, height: rowH - 2 * s },
      percentBox: { x: barX + barLen + 2 * s, y: y + 2 * s, ...textSize(percentText, s) },
      percentText,
    };
  });
  const width = Math.max(barX + barW + 2 * s + percentW + pad, title.x + title.width + pad);
  const height = top + rows.length * rowH + pad;
  return { width, height, title, titleText, barArea: { x: barX, y: top, width: barW, height: rows.length * rowH }, rows };
}

/** A horizontal bar chart of the k most probable classes, with their labels and percentages. */
export function topClassesChart(probs: ArrayLike<number>, labels: readonly string[], k = 5, options: TopClassesOptions = {}): Canvas {
  const L = topClassesLayout(probs, labels, k, options);
  const c = createCanvas(L.width, L.height, CHART_COLORS.background);
  drawText(c, L.titleText, L.title.x, L.title.y, CHART_COLORS.text, { scale: TEXT_SCALE + 1 });
  // A faint track shows the full 100% length behind each bar.
  for (const row of L.rows) {
    fillRect(c, { ...row.bar, width: L.barArea.width }, CHART_COLORS.grid);
    fillRect(c, row.bar, BAR_COLOR);
    drawText(c, row.label, row.labelBox.x, row.labelBox.y, CHART_COLORS.text, { scale: TEXT_SCALE });
    drawText(c, row.percentText, row.percentBox.x, row.percentBox.y, CHART_COLORS.text, { scale: TEXT_SCALE });
  }
  return c;
}
