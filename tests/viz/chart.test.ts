import { describe, expect, it } from 'vitest';
import type { EpochRecord } from '../../src/train/checkpoint.js';
import { type Color, createCanvas, drawText } from '../../src/viz/canvas.js';
import {
  CHART_COLORS, CURVE_COLORS, type LineChartSpec, lineChart, lineChartLayout, niceNumber, niceTicks, trainingCurveSpecs, trainingCurves,
} from '../../src/viz/chart.js';
import { contains, countColor, decoded, expectRealPicture, pixelsOf, rgbAt, same, type Picture } from './picture.js';

const BLUE: Color = [31, 119, 180];
const ORANGE: Color = [255, 127, 14];

function spec(over: Partial<LineChartSpec> = {}): LineChartSpec {
  return {
    title: 'Loss',
    xLabel: 'epoch',
    yLabel: 'loss',
    series: [
      { name: 'train', points: [[1, 2.0], [2, 1.2], [3, 0.8], [4, 0.6], [5, 0.5]], color: BLUE },
      { name: 'test', points: [[1, 1.6], [2, 1.1], [3, 0.9], [4, 0.85], [5, 0.8]], color: ORANGE },
    ],
    xIntegers: true,
    yIncludeZero: true,
    ...over,
  };
}

/** Text `text` at `scale` drawn alone: its ink pattern, to compare with a region of a picture. */
function expectTextAt(p: Picture, text: string, x: number, y: number, scale: number, color: Color = CHART_COLORS.text): void {
  const ref = createCanvas(p.width, p.height);
  const box = drawText(ref, text, x, y, color, { scale });
  let ink = 0;
  for (const [px, py] of pixelsOf(box)) {
    const i = 4 * (py * ref.width + px);
    const want = ref.data[i] === color[0] && ref.data[i + 1] === color[1] && ref.data[i + 2] === color[2];
    if (want) {
      ink++;
      expect(same(rgbAt(p, px, py), color), `"${text}" ink at (${px}, ${py})`).toBe(true);
    }
  }
  expect(ink, `"${text}" has ink`).toBeGreaterThan(0);
}

describe('nice numbers', () => {
  it('rounds to 1, 2 or 5 times a power of ten', () => {
    expect([0.13, 0.27, 4.2, 8, 12, 340].map((x) => niceNumber(x, true))).toEqual([0.1, 0.2, 5, 10, 10, 500]);
    expect([0.13, 0.27, 4.2, 8, 12, 340].map((x) => niceNumber(x, false))).toEqual([0.2, 0.5, 5, 10, 20, 500]);
  });

  it('puts ticks on whole steps covering the range, printed with the step\'s decimals', () => {
    expect(niceTicks(0, 1.1)).toMatchObject({ min: 0, max: 1.2, step: 0.2, decimals: 1, values: [0, 0.2, 0.4, 0.6, 0.8, 1, 1.2] });
    expect(niceTicks(69.8, 91.9)).toMatchObject({ min: 65, max: 95, step: 5, decimals: 0 });
    expect(niceTicks(1, 25, 6, true)).toMatchObject({ step: 5, values: [0, 5, 10, 15, 20, 25] });
    expect(niceTicks(1, 3, 6, true).step).toBe(1); // never fractional epochs
    expect(niceTicks(0.21, 0.27).values).toEqual([0.21, 0.22, 0.23, 0.24, 0.25, 0.26, 0.27]);
    expect(niceTicks(-3, 3).values).toEqual([-3, -2, -1, 0, 1, 2, 3]);
    expect(() => niceTicks(1, 1)).toThrow(/empty/);
  });
});

describe('lineChart', () => {
  const s = spec();
  const L = lineChartLayout(s);
  const p = decoded(lineChart(s));

  it('has the requested size and is not blank', () => {
    expectRealPicture(p, 640, 440);
    const q = decoded(lineChart(spec({ width: 500, height: 300, textScale: 1 })));
    expectRealPicture(q, 500, 300);
  });

  it('draws the axes along the left and bottom edges of the plot area, with ticks', () => {
    const { plot } = L;
    for (let y = plot.y; y < plot.y + plot.height; y++) expect(rgbAt(p, plot.x, y), `y axis row ${y}`).toEqual([...CHART_COLORS.axis]);
    const axisY = plot.y + plot.height - 1;
    for (let x = plot.x; x < plot.x + plot.width; x++) expect(rgbAt(p, x, axisY), `x axis column ${x}`).toEqual([...CHART_COLORS.axis]);
    // No axis to the right of or above the plot area: the background shows there.
    expect(rgbAt(p, plot.x + plot.width + 2, plot.y + 5)).toEqual([...CHART_COLORS.background]);
    // Tick marks just outside the axes, at each tick.
    expect(L.xTicks.map((t) => t.value)).toEqual([1, 2, 3, 4, 5]);
    expect(L.yTicks.map((t) => t.value)).toEqual([0, 0.5, 1, 1.5, 2]);
    for (const t of L.xTicks) expect(rgbAt(p, t.at, axisY + 2)).toEqual([...CHART_COLORS.axis]);
    for (const t of L.yTicks) expect(rgbAt(p, plot.x - 2, t.at)).toEqual([...CHART_COLORS.axis]);
    // Ticks go up the picture as values grow.
    for (let i = 1; i < L.yTicks.length; i++) expect(L.yTicks[i].at).toBeLessThan(L.yTicks[i - 1].at);
  });

  it('labels the ticks and the axes and prints the title', () => {
    const sc = L.textScale;
    for (const t of L.xTicks) expect(countColor(p, CHART_COLORS.text, { x: t.at - 20, y: L.plot.y + L.plot.height, width: 40, height: 30 })).toBeGreaterThan(0);
    expectTextAt(p, 'Loss', L.title.x, L.title.y, sc + 1);
    expectTextAt(p, 'epoch', L.xLabel.x, L.xLabel.y, sc);
    // The title box holds text-coloured pixels, and the title is centred over the plot area.
    expect(countColor(p, CHART_COLORS.text, L.title)).toBeGreaterThan(20);
    expect(Math.abs(L.title.x + L.title.width / 2 - (L.plot.x + L.plot.width / 2))).toBeLessThanOrEqual(1);
    // The y label reads upwards, left of the tick labels.
    expect(L.yLabel.height).toBeGreaterThan(L.yLabel.width);
    expect(countColor(p, CHART_COLORS.text, L.yLabel)).toBeGreaterThan(10);
    expect(L.yLabel.x + L.yLabel.width).toBeLessThan(L.plot.x);
  });

  it('draws each series in its colour through its data points', () => {
    for (const se of s.series) {
      expect(countColor(p, se.color, L.plot), se.name).toBeGreaterThan(200);
      for (const [x, y] of se.points) {
        const [px, py] = L.toPixel(x, y).map(Math.round);
        expect(contains(L.plot, px, py)).toBe(true);
        expect(same(rgbAt(p, px, py), se.color), `${se.name} at (${x}, ${y})`).toBe(true);
      }
    }
    // Data maps linearly: x = 3 is halfway between x = 1 and x = 5.
    const [a] = L.toPixel(1, 0);
    const [b] = L.toPixel(3, 0);
    const [c] = L.toPixel(5, 0);
    expect(b - a).toBeCloseTo(c - b, 9);
  });

  it('lists each series in the legend: a swatch in its colour and its name', () => {
    expect(L.legend.entries.map((e) => e.name)).toEqual(['train', 'test']);
    for (const [i, e] of L.legend.entries.entries()) {
      expect(countColor(p, s.series[i].color, e.swatch), `${e.name} swatch`).toBeGreaterThan(10);
      expectTextAt(p, e.name, e.label.x, e.label.y, L.textScale);
      expect(contains(L.legend.box, e.label.x + e.label.width - 1, e.label.y + e.label.height - 1)).toBe(true);
    }
    // Entries are listed top to bottom, and the box is framed.
    expect(L.legend.entries[1].label.y).toBeGreaterThan(L.legend.entries[0].label.y);
    expect(rgbAt(p, L.legend.box.x, L.legend.box.y)).toEqual([...CHART_COLORS.legendBorder]);
  });

  it('puts the legend in a corner free of data, or above the plot when every corner has data', () => {
    // Falling curves leave the top right free.
    expect(contains(L.plot, L.legend.box.x, L.legend.box.y)).toBe(true);
    expect(L.legend.box.x + L.legend.box.width).toBeGreaterThan(L.plot.x + L.plot.width / 2);
    expect(L.legend.box.y).toBeLessThan(L.plot.y + L.plot.height / 2);
    for (const se of s.series) for (const [x, y] of se.points) expect(contains(L.legend.box, ...(L.toPixel(x, y).map(Math.round) as [number, number]))).toBe(false);
    // Lines through all four corners: the legend moves above the plot, as one row.
    const crowded = spec({
      yIncludeZero: false,
      series: [
        { name: 'a', points: [[0, 0], [10, 10]], color: BLUE },
        { name: 'b', points: [[0, 10], [10, 0]], color: ORANGE },
      ],
    });
    const C = lineChartLayout(crowded);
    expect(C.legend.box.y + C.legend.box.height).toBeLessThanOrEqual(C.plot.y);
    expect(C.legend.box.y).toBeGreaterThanOrEqual(C.title.y + C.title.height);
    expect(C.legend.entries[1].label.y).toBe(C.legend.entries[0].label.y);
    const q = decoded(lineChart(crowded));
    for (const [i, e] of C.legend.entries.entries()) {
      expectTextAt(q, e.name, e.label.x, e.label.y, C.textScale);
      expect(countColor(q, crowded.series[i].color, e.swatch)).toBeGreaterThan(10);
    }
  });

  it('leaves a gap at non-finite points and keeps fixed ranges', () => {
    const gap = spec({ series: [{ name: 'x', points: [[1, 1], [2, NaN], [3, 1]], color: BLUE, marker: 'none' }], yRange: [0, 2] });
    const G = lineChartLayout(gap);
    expect(G.yRange).toEqual([0, 2]);
    const q = decoded(lineChart(gap));
    const [mx, my] = G.toPixel(2, 1).map(Math.round);
    expect(countColor(q, BLUE, { x: mx - 3, y: my - 3, width: 7, height: 7 })).toBe(0);
  });

  it('draws a chart with one point, and one with no data at all', () => {
    const one = spec({ series: [{ name: 'a', points: [[1, 0.5]], color: BLUE }] });
    const O = lineChartLayout(one);
    expect(O.xRange).toEqual([0, 2]);
    const q = decoded(lineChart(one));
    expect(same(rgbAt(q, ...(O.toPixel(1, 0.5).map(Math.round) as [number, number])), BLUE)).toBe(true);
    expectRealPicture(decoded(lineChart(spec({ series: [] }))), 640, 440);
  });

  it('refuses a size too small for its labels', () => {
    expect(() => lineChart(spec({ width: 60, height: 40 }))).toThrow(/too small/);
  });
});

describe('trainingCurves', () => {
  const records: EpochRecord[] = [0, 1, 2, 3, 4, 5].map((i) => ({
    epoch: i + 1,
    step: (i + 1) * 100,
    lr: 0.01,
    trainLoss: 1.5 / (i + 1),
    trainAccuracy: 0.5 + 0.07 * i,
    testLoss: 1.2 / (i + 1) + 0.1,
    testAccuracy: 0.55 + 0.06 * i,
    imagesPerSecond: 100,
    seconds: 10,
  }));

  it('draws loss and accuracy side by side, train and test in each', () => {
    const c = trainingCurves(records);
    const p = decoded(c);
    expectRealPicture(p, 1280, 440);
    const [loss, acc] = trainingCurveSpecs(records);
    const left = lineChartLayout(loss);
    const right = lineChartLayout(acc);
    const shift = (r: { x: number; y: number; width: number; height: number }) => ({ ...r, x: r.x + 640 });
    expect(countColor(p, CURVE_COLORS.train, left.plot)).toBeGreaterThan(100);
    expect(countColor(p, CURVE_COLORS.test, left.plot)).toBeGreaterThan(100);
    expect(countColor(p, CURVE_COLORS.train, shift(right.plot))).toBeGreaterThan(100);
    expect(countColor(p, CURVE_COLORS.test, shift(right.plot))).toBeGreaterThan(100);
    expectTextAt(p, 'Loss', left.title.x, left.title.y, left.textScale + 1);
    expectTextAt(p, 'Accuracy', right.title.x + 640, right.title.y, right.textScale + 1);
    // Each panel's axis is where its layout puts it.
    expect(rgbAt(p, left.plot.x, left.plot.y + 10)).toEqual([...CHART_COLORS.axis]);
    expect(rgbAt(p, right.plot.x + 640, right.plot.y + 10)).toEqual([...CHART_COLORS.axis]);
  });

  it('plots accuracy in percent, losses from zero, epochs on whole numbers', () => {
    const [loss, acc] = trainingCurveSpecs(records);
    expect(acc.series[1].points[2]).toEqual([3, 100 * records[2].testAccuracy]);
    expect(loss.series[0].points[0]).toEqual([1, 1.5]);
    const A = lineChartLayout(acc);
    const Lo = lineChartLayout(loss);
    expect(Lo.yRange[0]).toBe(0);
    expect(A.yRange[1]).toBeLessThanOrEqual(100);
    expect(A.xTicks.every((t) => Number.isInteger(t.value))).toBe(true);
    expect(A.legend.entries.map((e) => e.name)).toEqual(['train', 'test']);
  });

  it('adds test top-5 accuracy when the records have it, and never goes past 100%', () => {
    const top5 = records.map((r) => ({ ...r, testTop5: 0.999 }));
    const [, acc] = trainingCurveSpecs(top5);
    expect(acc.series.map((s) => s.name)).toEqual(['train', 'test', 'test top-5']);
    const A = lineChartLayout(acc);
    expect(A.yRange[1]).toBe(100);
    const p = decoded(trainingCurves(top5));
    expect(countColor(p, CURVE_COLORS.testTop5, { ...A.plot, x: A.plot.x + 640 })).toBeGreaterThan(100);
  });

  it('draws a run of one epoch, and one with a diverged (NaN) loss', () => {
    expectRealPicture(decoded(trainingCurves(records.slice(0, 1))), 1280, 440);
    const diverged = records.map((r, i) => (i === 3 ? { ...r, trainLoss: NaN, testLoss: Infinity } : r));
    expectRealPicture(decoded(trainingCurves(diverged)), 1280, 440);
  });
});
