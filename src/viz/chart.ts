/**
 * Line charts: axes with ticks at 'nice' numbers, light grid lines, axis labels, a title and a
 * legend; and the training curves of a run (loss and accuracy per epoch, train and test).
 *
 * A chart is computed in two steps, so tests can check the picture against the plan:
 * lineChartLayout() decides where everything goes (plot area, ticks, legend entries, text boxes)
 * and lineChart() draws that plan onto a canvas.
 */

import type { EpochRecord } from '../train/checkpoint.js';
import {
  type Canvas,
  type Color,
  type MarkerShape,
  type Rect,
  blit,
  createCanvas,
  drawLine,
  drawMarker,
  drawPolyline,
  drawText,
  fillRect,
  strokeRect,
  textSize,
} from './canvas.js';

/** The chart's own colours; series colours come from PALETTE and must differ from these. */
export const CHART_COLORS = {
  background: [255, 255, 255] as Color,
  text: [32, 32, 32] as Color,
  axis: [0, 0, 0] as Color,
  grid: [228, 228, 228] as Color,
  legendBorder: [160, 160, 160] as Color,
};

/** Series colours (matplotlib's 'tab10' cycle): blue, orange, green, red, purple, brown, pink, gray, olive, cyan. */
export const PALETTE: readonly Color[] = [
  [31, 119, 180], [255, 127, 14], [44, 160, 44], [214, 39, 40], [148, 103, 189],
  [140, 86, 75], [227, 119, 194], [127, 127, 127], [188, 189, 34], [23, 190, 207],
];

export interface Series {
  name: string;
  /** [x, y] in data units; a point with a non-finite coordinate is skipped and breaks the line. */
  points: readonly (readonly [number, number])[];
  color: Color;
  /** Marker at each point; default a circle, or none for series of more than 40 points. */
  marker?: MarkerShape | 'none';
}

export interface LineChartSpec {
  title: string;
  xLabel: string;
  yLabel: string;
  series: readonly Series[];
  /** Picture size in pixels. Default 640 x 440. */
  width?: number;
  height?: number;
  /** Fixed axis ranges; by default x spans the data and y the data widened to whole ticks. */
  xRange?: readonly [number, number];
  yRange?: readonly [number, number];
  /** Automatic y ranges start at 0 (losses). Default false. */
  yIncludeZero?: boolean;
  /** Automatic y ranges never go beyond these (accuracy in % stays within [0, 100]). */
  yLimits?: readonly [number, number];
  /** Ticks on whole numbers only (epochs). Default false. */
  xIntegers?: boolean;
  /** Text enlargement of tick labels, axis labels and legend; the title is one step larger. Default 2. */
  textScale?: number;
}

export interface Tick {
  value: number;
  label: string;
  /** Pixel column (x ticks) or row (y ticks) of the tick. */
  at: number;
}

export interface LegendEntry {
  name: string;
  color: Color;
  /** The short line (and marker) drawn in the series' colour. */
  swatch: Rect;
  label: Rect;
}

export interface LineChartLayout {
  width: number;
  height: number;
  /** The framed plot area; the left and bottom edges are the axes. */
  plot: Rect;
  title: Rect;
  xLabel: Rect;
  /** The y label's box (its text is drawn rotated, reading upwards). */
  yLabel: Rect;
  xTicks: Tick[];
  yTicks: Tick[];
  xRange: [number, number];
  yRange: [number, number];
  /** A framed box inside the plot area, or a row above it when every corner of the plot has curves. */
  legend: { box: Rect; entries: LegendEntry[] };
  textScale: number;
  /** Data coordinates to pixel coordinates (not rounded). */
  toPixel: (x: number, y: number) => [number, number];
}

// Spacing in pixels at text scale 1 (multiplied by the text scale).
const PAD = 6;
const TICK_LENGTH = 3;
/** Data never touches the axes: it is mapped into the plot area shrunk by this many pixels. */
const INSET = 8;
const SWATCH_LENGTH = 12;
const MAX_POINTS_WITH_MARKERS = 40;

/**
 * Round a positive number to a 'nice' one: 1, 2 or 5 times a power of ten (Heckbert, "Nice
 * numbers for graph labels", Graphics Gems 1990). With `round`, the nearest such number; without,
 * the smallest one not below x.
 */
export function niceNumber(x: number, round: boolean): number {
  const exponent = Math.floor(Math.log10(x));
  const f = x / 10 ** exponent; // in [1, 10)
  let nice: number;
  if (round) nice = f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10;
  else nice = f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10;
  return nice * 10 ** exponent;
}

export interface NiceTicks {
  /** The range widened to whole steps. */
  min: number;
  max: number;
  step: number;
  /** Tick values from min to max, rounded to the step's decimals. */
  values: number[];
  /** Decimals needed to print a tick value. */
  decimals: number;
}

/** About `count` ticks at nice values covering [min, max]: a nice step, then its multiples from below min to above max. */
export function niceTicks(min: number, max: number, count = 6, integers = false): NiceTicks {
  if (!(max > min)) throw new Error(`niceTicks: empty range [${min}, ${max}]`);
  let step = niceNumber((max - min) / Math.max(1, count - 1), true);
  if (integers) step = Math.max(1, step);
  const decimals = Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
  // Round through the decimal string so that 3 * 0.1 prints and compares as 0.3.
  const at = (k: number): number => Number((k * step).toFixed(decimals));
  const k0 = Math.floor(min / step + 1e-9);
  const k1 = Math.ceil(max / step - 1e-9);
  const values: number[] = [];
  for (let k = k0; k <= k1; k++) values.push(at(k));
  return { min: at(k0), max: at(k1), step, values, decimals };
}

function finitePoints(s: Series): [number, number][] {
  return s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y)).map(([x, y]) => [x, y]);
}

/** Widens an empty range [v, v] so that it can be drawn. */
function widen(min: number, max: number, integers: boolean): [number, number] {
  if (max > min) return [min, max];
  const d = integers ? 1 : min === 0 ? 1 : Math.abs(min) * 0.1;
  return [min - d, max + d];
}

function extent(values: number[], fallback: [number, number]): [number, number] {
  if (values.length === 0) return fallback;
  return [Math.min(...values), Math.max(...values)];
}

function formatTick(value: number, decimals: number): string {
  return (Object.is(value, -0) ? 0 : value).toFixed(decimals);
}

export function lineChartLayout(spec: LineChartSpec): LineChartLayout {
  const width = spec.width ?? 640;
  const height = spec.height ?? 440;
  const s = spec.textScale ?? 2;
  const titleScale = s + 1;
  const pad = PAD * s;
  const points = spec.series.flatMap(finitePoints);

  // x: the data's range (epochs 1..E), ticks at nice values inside it.
  const xIntegers = spec.xIntegers ?? false;
  const xRange = spec.xRange ? [...spec.xRange] as [number, number] : widen(...extent(points.map((p) => p[0]), [0, 1]), xIntegers);
  const xt = niceTicks(xRange[0], xRange[1], 6, xIntegers);
  const xValues = xt.values.filter((v) => v >= xRange[0] - 1e-9 && v <= xRange[1] + 1e-9);

  // y: the data's range widened to whole ticks, so that grid lines frame the curves.
  let yRange: [number, number];
  let yt: NiceTicks;
  if (spec.yRange) {
    yRange = [...spec.yRange] as [number, number];
    yt = niceTicks(yRange[0], yRange[1], 6);
  } else {
    let [lo, hi] = extent(points.map((p) => p[1]), [0, 1]);
    if (spec.yIncludeZero) lo = Math.min(lo, 0);
    [lo, hi] = widen(lo, hi, false);
    yt = niceTicks(lo, hi, 6);
    const [limLo, limHi] = spec.yLimits ?? [-Infinity, Infinity];
    yRange = [Math.max(yt.min, limLo), Math.min(yt.max, limHi)];
  }
  const yValues = yt.values.filter((v) => v >= yRange[0] - 1e-9 && v <= yRange[1] + 1e-9);
  const xLabels = xValues.map((v) => formatTick(v, xt.decimals));
  const yLabels = yValues.map((v) => formatTick(v, yt.decimals));

  const tick = TICK_LENGTH * s;
  const gap = 2 * s;
  const textH = textSize('0', s).height;
  const titleSize = textSize(spec.title, titleScale);
  const yTickWidth = Math.max(0, ...yLabels.map((l) => textSize(l, s).width));
  const lastXLabelWidth = xLabels.length ? textSize(xLabels[xLabels.length - 1], s).width : 0;

  const left = pad + textH + pad + yTickWidth + gap + tick;
  const bottom = tick + gap + textH + pad + textH + pad;
  const right = pad + Math.ceil(lastXLabelWidth / 2);

  // Everything below depends on the plot area, which depends on where the legend goes: inside the
  // plot in a corner free of curves if there is one, else in a row between the title and the plot.
  const frame = (legendRow: number): LineChartLayout | null => {
    const top = pad + titleSize.height + pad + legendRow;
    const plot: Rect = { x: left, y: top, width: width - left - right, height: height - top - bottom };
    if (plot.width < 4 * INSET || plot.height < 4 * INSET) {
      throw new Error(`lineChart: ${width} x ${height} is too small for its labels at text scale ${s}`);
    }
    // Data (x, y) -> pixel: the plot area less INSET on every side, y growing upwards.
    const x0 = plot.x + INSET;
    const x1 = plot.x + plot.width - 1 - INSET;
    const y0 = plot.y + plot.height - 1 - INSET;
    const y1 = plot.y + INSET;
    const toPixel = (x: number, y: number): [number, number] => [
      x0 + ((x - xRange[0]) / (xRange[1] - xRange[0])) * (x1 - x0),
      y0 + ((y - yRange[0]) / (yRange[1] - yRange[0])) * (y1 - y0),
    ];
    const axisY = plot.y + plot.height - 1; // the x axis's row
    const xTicks = xValues.map((value, i) => ({ value, label: xLabels[i], at: Math.round(toPixel(value, 0)[0]) }));
    const yTicks = yValues.map((value, i) => ({ value, label: yLabels[i], at: Math.round(toPixel(0, value)[1]) }));
    // Centred over the plot area, but kept inside the picture when it is wider than the plot.
    const titleX = Math.min(width - pad - titleSize.width, Math.round(plot.x + plot.width / 2 - titleSize.width / 2));
    const title: Rect = { x: Math.max(pad, titleX), y: pad, ...titleSize };
    const xl = textSize(spec.xLabel, s);
    const xLabel: Rect = { x: Math.round(plot.x + plot.width / 2 - xl.width / 2), y: axisY + 1 + tick + gap + textH + pad, ...xl };
    const yl = textSize(spec.yLabel, s);
    const yLabel: Rect = { x: pad, y: Math.round(plot.y + plot.height / 2 - yl.width / 2), width: yl.height, height: yl.width };
    const curves = spec.series.map((se) => finitePoints(se).map(([x, y]) => toPixel(x, y)));
    const legend = legendRow > 0 ? legendAbove(spec, plot, s) : legendInside(spec, plot, s, curves);
    if (legend === null) return null;
    return { width, height, plot, title, xLabel, yLabel, xTicks, yTicks, xRange, yRange, legend, textScale: s, toPixel };
  };
  return frame(0) ?? frame(pad + textH + pad)!;
}

type Legend = LineChartLayout['legend'];

/** Legend rows: a swatch of the series' colour, then its name, in a box whose corner is (x, y). */
function legendEntries(spec: LineChartSpec, s: number, x: number, y: number, horizontal: boolean): Legend {
  const pad = 3 * s;
  const rowH = textSize('0', s).height + 2 * s;
  const swatchW = SWATCH_LENGTH * s;
  const entries: LegendEntry[] = [];
  let at = x + pad;
  for (const [i, se] of spec.series.entries()) {
    const size = textSize(se.name, s);
    const rowY = horizontal ? y + pad : y + pad + i * rowH;
    const ex = horizontal ? at : x + pad;
    entries.push({
      name: se.name,
      color: se.color,
      swatch: { x: ex, y: rowY, width: swatchW, height: size.height },
      label: { x: ex + swatchW + pad, y: rowY, ...size },
    });
    at = ex + swatchW + pad + size.width + 3 * pad;
  }
  const nameW = Math.max(0, ...spec.series.map((se) => textSize(se.name, s).width));
  const box: Rect = horizontal
    ? { x, y, width: at - 2 * pad - x, height: pad + rowH - 2 * s + pad }
    : { x, y, width: pad + swatchW + pad + nameW + pad, height: pad + spec.series.length * rowH - 2 * s + pad };
  return { box, entries };
}

/**
 * The legend inside the plot area, in the first corner (top right, top left, bottom right, bottom
 * left) that no curve passes through; null if every corner is taken.
 */
function legendInside(spec: LineChartSpec, plot: Rect, s: number, curves: [number, number][][]): Legend | null {
  const { box } = legendEntries(spec, s, 0, 0, false);
  const corners: [number, number][] = [
    [plot.x + plot.width - INSET - box.width, plot.y + INSET],
    [plot.x + INSET, plot.y + INSET],
    [plot.x + plot.width - INSET - box.width, plot.y + plot.height - INSET - box.height],
    [plot.x + INSET, plot.y + plot.height - INSET - box.height],
  ];
  // Whether a curve (sampled every pixel along each segment, markers included) comes near the box.
  const margin = 6;
  const free = (bx: number, by: number): boolean => {
    for (const pts of curves) {
      for (let i = 0; i < pts.length; i++) {
        const [ax, ay] = pts[i];
        const [cx, cy] = pts[Math.min(i + 1, pts.length - 1)];
        const steps = Math.max(1, Math.ceil(Math.hypot(cx - ax, cy - ay)));
        for (let k = 0; k <= steps; k++) {
          const x = ax + ((cx - ax) * k) / steps;
          const y = ay + ((cy - ay) * k) / steps;
          if (x >= bx - margin && x < bx + box.width + margin && y >= by - margin && y < by + box.height + margin) return false;
        }
      }
    }
    return true;
  };
  const corner = corners.find(([x, y]) => free(x, y));
  return corner ? legendEntries(spec, s, Math.round(corner[0]), Math.round(corner[1]), false) : null;
}

/** The legend as one row, centred between the title and the plot area. */
function legendAbove(spec: LineChartSpec, plot: Rect, s: number): Legend {
  const { box } = legendEntries(spec, s, 0, 0, true);
  const x = Math.round(plot.x + plot.width / 2 - box.width / 2);
  return legendEntries(spec, s, x, plot.y - box.height - 2 * s, true);
}

function markerOf(se: Series): MarkerShape | 'none' {
  return se.marker ?? (se.points.length > MAX_POINTS_WITH_MARKERS ? 'none' : 'circle');
}

/** A line chart of one or more series, with axes, nice ticks, grid, labels, title and legend. */
export function lineChart(spec: LineChartSpec): Canvas {
  const L = lineChartLayout(spec);
  const s = L.textScale;
  const c = createCanvas(L.width, L.height, CHART_COLORS.background);
  const { plot } = L;
  const axisY = plot.y + plot.height - 1;
  const tick = TICK_LENGTH * s;
  const gap = 2 * s;

  // Grid lines at the ticks, under everything else.
  for (const t of L.xTicks) fillRect(c, { x: t.at, y: plot.y, width: 1, height: plot.height }, CHART_COLORS.grid);
  for (const t of L.yTicks) fillRect(c, { x: plot.x, y: t.at, width: plot.width, height: 1 }, CHART_COLORS.grid);

  // The curves, clipped to the plot area, then their markers.
  const lineWidth = Math.max(1, Math.min(2, s));
  for (const se of spec.series) {
    const px = se.points.map(([x, y]) => L.toPixel(x, y));
    drawPolyline(c, px, se.color, { width: lineWidth, clip: plot });
    const marker = markerOf(se);
    if (marker === 'none') continue;
    for (const [x, y] of px) if (Number.isFinite(x) && Number.isFinite(y)) drawMarker(c, x, y, se.color, marker, 1 + s, plot);
  }

  // Axes: the left and bottom edges of the plot area, with ticks and their labels outside.
  fillRect(c, { x: plot.x, y: plot.y, width: 1, height: plot.height }, CHART_COLORS.axis);
  fillRect(c, { x: plot.x, y: axisY, width: plot.width, height: 1 }, CHART_COLORS.axis);
  for (const t of L.xTicks) {
    fillRect(c, { x: t.at, y: axisY + 1, width: 1, height: tick }, CHART_COLORS.axis);
    drawText(c, t.label, t.at, axisY + 1 + tick + gap, CHART_COLORS.text, { scale: s, align: 'center' });
  }
  for (const t of L.yTicks) {
    fillRect(c, { x: plot.x - tick, y: t.at, width: tick, height: 1 }, CHART_COLORS.axis);
    drawText(c, t.label, plot.x - tick - gap, t.at, CHART_COLORS.text, { scale: s, align: 'right', valign: 'middle' });
  }

  drawText(c, spec.title, L.title.x, L.title.y, CHART_COLORS.text, { scale: s + 1 });
  drawText(c, spec.xLabel, L.xLabel.x, L.xLabel.y, CHART_COLORS.text, { scale: s });
  drawText(c, spec.yLabel, L.yLabel.x, L.yLabel.y, CHART_COLORS.text, { scale: s, direction: 'up' });

  if (spec.series.length > 0) {
    fillRect(c, L.legend.box, CHART_COLORS.background);
    strokeRect(c, L.legend.box, CHART_COLORS.legendBorder);
    for (const [i, e] of L.legend.entries.entries()) {
      const mid = e.swatch.y + Math.floor(e.swatch.height / 2) - s;
      drawLine(c, e.swatch.x, mid, e.swatch.x + e.swatch.width - 1, mid, e.color, { width: lineWidth });
      const marker = markerOf(spec.series[i]);
      if (marker !== 'none') drawMarker(c, e.swatch.x + e.swatch.width / 2, mid, e.color, marker, 1 + s);
      drawText(c, e.name, e.label.x, e.label.y, CHART_COLORS.text, { scale: s });
    }
  }
  return c;
}

export interface TrainingCurvesOptions {
  /** Size of each of the two panels. Default 640 x 440. */
  panelWidth?: number;
  panelHeight?: number;
  textScale?: number;
}

/** Colours of the curves: train blue, test orange, test top-5 green. */
export const CURVE_COLORS = { train: PALETTE[0], test: PALETTE[1], testTop5: PALETTE[2] };

/** The two panels of trainingCurves, as line chart specs (their series are what gets drawn). */
export function trainingCurveSpecs(records: readonly EpochRecord[], options: TrainingCurvesOptions = {}): [LineChartSpec, LineChartSpec] {
  const size = { width: options.panelWidth ?? 640, height: options.panelHeight ?? 440, textScale: options.textScale };
  const curve = (y: (r: EpochRecord) => number | undefined): [number, number][] => records.map((r) => [r.epoch, y(r) ?? NaN]);
  const pct = (v: number | undefined): number | undefined => (v === undefined ? undefined : 100 * v);
  const loss: LineChartSpec = {
    ...size,
    title: 'Loss',
    xLabel: 'epoch',
    yLabel: 'cross-entropy loss',
    xIntegers: true,
    yIncludeZero: true,
    series: [
      { name: 'train', points: curve((r) => r.trainLoss), color: CURVE_COLORS.train },
      { name: 'test', points: curve((r) => r.testLoss), color: CURVE_COLORS.test },
    ],
  };
  const accuracy: LineChartSpec = {
    ...size,
    title: 'Accuracy',
    xLabel: 'epoch',
    yLabel: 'accuracy (%)',
    xIntegers: true,
    yLimits: [0, 100],
    series: [
      { name: 'train', points: curve((r) => pct(r.trainAccuracy)), color: CURVE_COLORS.train },
      { name: 'test', points: curve((r) => pct(r.testAccuracy)), color: CURVE_COLORS.test },
      ...(records.some((r) => r.testTop5 !== undefined)
        ? [{ name: 'test top-5', points: curve((r) => pct(r.testTop5)), color: CURVE_COLORS.testTop5 }]
        : []),
    ],
  };
  return [loss, accuracy];
}

/**
 * A run's learning curves (metrics.jsonl): loss per epoch on the left, accuracy per epoch (in %)
 * on the right, train and test in each (and test top-5 accuracy when recorded). Train figures are
 * averages over each epoch's mini-batches, with dropout and augmentation on; test figures are
 * measured after the epoch, so early on train loss can sit above test loss.
 */
export function trainingCurves(records: readonly EpochRecord[], options: TrainingCurvesOptions = {}): Canvas {
  const [loss, accuracy] = trainingCurveSpecs(records, options).map(lineChart);
  const c = createCanvas(loss.width + accuracy.width, Math.max(loss.height, accuracy.height), CHART_COLORS.background);
  blit(c, loss, 0, 0);
  blit(c, accuracy, loss.width, 0);
  return c;
}
