import { describe, expect, it } from 'vitest';
import { referenceBackend } from '../../src/backend/reference.js';
import { architecture } from '../../src/model/architectures.js';
import { forward } from '../../src/model/network.js';
import { syntheticInput, syntheticWeights } from '../../src/model/synthetic.js';
import { createCanvas, drawText } from '../../src/viz/canvas.js';
import { CHART_COLORS } from '../../src/viz/chart.js';
import {
  BAR_COLOR, MAX_LABEL_CHARS, featureMapGrid, featureMapGridLayout, featureMapLayers, topClassesChart, topClassesLayout, topK,
} from '../../src/viz/activations.js';
import { GRID_BORDER } from '../../src/viz/grid.js';
import { contains, countColor, decoded, expectRealPicture, rgbAt, same, type Picture } from './picture.js';

/**
 * Four 3x3 maps:
 *   0 ramp 0..8 in reading order      -> 0 at (0,0), 128 at the centre, 255 at (2,2)
 *   1 constant 5 (a dead unit)        -> black
 *   2 a single 1 at the centre        -> white centre, black around
 *   3 ramp -9..-1 (all negative)      -> the same picture as map 0: each map has its own range
 */
function knownMaps(): Float32Array {
  const a = new Float32Array(4 * 9);
  for (let i = 0; i < 9; i++) {
    a[i] = i;
    a[9 + i] = 5;
    a[27 + i] = i - 9;
  }
  a[18 + 4] = 1;
  return a;
}

function centre(p: Picture, t: { x: number; y: number }, scale: number, i: number, j: number): number[] {
  return rgbAt(p, t.x + i * scale + Math.floor(scale / 2), t.y + j * scale + Math.floor(scale / 2));
}

/** Pixels where `text` drawn alone at (x, y) has ink are all of the text colour in `p`. */
function expectText(p: Picture, text: string, x: number, y: number, scale: number): void {
  const ref = createCanvas(p.width, p.height);
  const box = drawText(ref, text, x, y, CHART_COLORS.text, { scale });
  let ink = 0;
  for (let v = box.y; v < box.y + box.height; v++) {
    for (let u = box.x; u < box.x + box.width; u++) {
      const i = 4 * (v * ref.width + u);
      if (ref.data[i] === CHART_COLORS.text[0] && ref.data[i + 1] === CHART_COLORS.text[1]) {
        ink++;
        expect(rgbAt(p, u, v), `"${text}" at (${u}, ${v})`).toEqual([...CHART_COLORS.text]);
      }
    }
  }
  expect(ink).toBeGreaterThan(0);
}

describe('featureMapGrid', () => {
  it('draws each channel as a gray tile normalised by its own range', () => {
    const t = { data: knownMaps(), shape: [1, 4, 3, 3] };
    const opts = { scale: 5 };
    const L = featureMapGridLayout(t.shape, opts);
    const p = decoded(featureMapGrid(t, opts));
    expectRealPicture(p, L.width, L.height);
    // 4 maps -> 2 x 2 tiles of 15 px with 1-px borders.
    expect([L.width, L.height]).toEqual([2 * 16 + 1, 2 * 16 + 1]);
    expect([centre(p, L.tiles[0], 5, 0, 0), centre(p, L.tiles[0], 5, 1, 1), centre(p, L.tiles[0], 5, 2, 2)]).toEqual([[0, 0, 0], [128, 128, 128], [255, 255, 255]]);
    expect(countColor(p, [0, 0, 0], L.tiles[1])).toBe(15 * 15);
    expect([centre(p, L.tiles[2], 5, 1, 1), centre(p, L.tiles[2], 5, 0, 1)]).toEqual([[255, 255, 255], [0, 0, 0]]);
    for (let j = 0; j < 3; j++) for (let i = 0; i < 3; i++) expect(centre(p, L.tiles[3], 5, i, j)).toEqual(centre(p, L.tiles[0], 5, i, j));
    // Everything outside the tiles is border.
    for (let y = 0; y < p.height; y++) {
      for (let x = 0; x < p.width; x++) {
        if (!L.tiles.some((r) => contains(r, x, y))) expect(same(rgbAt(p, x, y), GRID_BORDER), `(${x}, ${y})`).toBe(true);
      }
    }
  });

  it('takes [C, H, W] like [1, C, H, W], and refuses a batch', () => {
    const a = featureMapGrid({ data: knownMaps(), shape: [1, 4, 3, 3] });
    const b = featureMapGrid({ data: knownMaps(), shape: [4, 3, 3] });
    expect(b.data).toEqual(a.data);
    expect(() => featureMapGrid({ data: new Float32Array(72), shape: [2, 4, 3, 3] })).toThrow(/one image's maps/);
  });

  it('arranges channels in a near-square grid and enlarges small maps', () => {
    const L = featureMapGridLayout([1, 96, 55, 55]);
    expect([L.scale, L.tiles[11].y, L.tiles[12].y > L.tiles[11].y]).toEqual([1, L.tiles[0].y, true]); // 12 columns
    const S = featureMapGridLayout([1, 256, 13, 13]);
    expect(S.scale).toBe(4);
    expect(S.tiles[15].y).toBe(S.tiles[0].y);
    expect(S.tiles[16].x).toBe(S.tiles[0].x); // 16 columns
  });

  it('captions the grid with the layer name and the maps\' shape', () => {
    const t = { data: knownMaps(), shape: [1, 4, 3, 3] };
    const L = featureMapGridLayout(t.shape, { caption: 'relu1', scale: 8 });
    expect(L.captionText).toBe('relu1  4 x 3 x 3');
    const p = decoded(featureMapGrid(t, { caption: 'relu1', scale: 8 }));
    expectRealPicture(p, L.width, L.height);
    expectText(p, L.captionText!, L.caption!.x, L.caption!.y, 2);
    expect(L.tiles[0].y).toBeGreaterThan(L.caption!.y + L.caption!.height);
  });

  it('draws every spatial layer of a forward pass (mini, synthetic weights)', () => {
    const arch = architecture('mini');
    const pass = forward(arch, syntheticWeights(arch, 2), syntheticInput(3, [1, 1, 28, 28]), referenceBackend);
    const names = featureMapLayers(arch);
    expect(names).toEqual(['conv1', 'relu1', 'norm1', 'pool1', 'conv2', 'relu2', 'norm2', 'pool2', 'conv3', 'relu3', 'conv4', 'relu4', 'conv5', 'relu5', 'pool5']);
    for (const name of names) {
      const t = pass.outputs.get(name)!;
      const L = featureMapGridLayout(t.shape, { caption: name });
      expectRealPicture(decoded(featureMapGrid(t, { caption: name })), L.width, L.height);
    }
    expect(featureMapLayers(architecture('torchvision')).at(-1)).toBe('avgpool');
  });
});

describe('topClassesChart', () => {
  const labels = ['cat', 'dog', 'tabby, tabby cat', 'car', 'tiger cat', 'boat', 'x'.repeat(60)];
  const probs = [0.05, 0.1, 0.62, 0.01, 0.2, 0.0, 0.02];

  it('picks the k most probable classes, ties to the lower index', () => {
    expect(topK(probs, 3)).toEqual([2, 4, 1]);
    expect(topK([0.5, 0.25, 0.25], 3)).toEqual([0, 1, 2]);
    expect(topK([0.2, 0.8], 5)).toEqual([1, 0]);
  });

  it('draws one bar per class, as long as its probability, with its label and percentage', () => {
    const L = topClassesLayout(probs, labels, 5);
    const p = decoded(topClassesChart(probs, labels, 5));
    expectRealPicture(p, L.width, L.height);
    expect(L.rows.map((r) => r.label)).toEqual(['tabby, tabby cat', 'tiger cat', 'dog', 'cat', 'x'.repeat(MAX_LABEL_CHARS - 3) + '...']);
    expect(L.rows.map((r) => r.percentText)).toEqual(['62.0%', '20.0%', '10.0%', '5.0%', '2.0%']);
    expectText(p, 'top-5 classes', L.title.x, L.title.y, 3);
    for (const r of L.rows) {
      expect(r.bar.width).toBe(Math.round(r.probability * L.barArea.width));
      // Along the bar's middle row: bar colour for its length, then the pale 100% track.
      const y = r.bar.y + Math.floor(r.bar.height / 2);
      expect(countColor(p, BAR_COLOR, { x: L.barArea.x, y, width: L.barArea.width, height: 1 })).toBe(r.bar.width);
      expectText(p, r.label, r.labelBox.x, r.labelBox.y, 2);
      expectText(p, r.percentText, r.percentBox.x, r.percentBox.y, 2);
      // Labels end where the bars start, right-aligned.
      expect(r.labelBox.x + r.labelBox.width).toBe(L.rows[0].labelBox.x + L.rows[0].labelBox.width);
    }
    for (let i = 1; i < L.rows.length; i++) expect(L.rows[i].bar.y).toBeGreaterThan(L.rows[i - 1].bar.y);
  });

  it('checks that there is a label per probability', () => {
    expect(() => topClassesChart([0.5, 0.5], ['a'])).toThrow(/2 probabilities but 1 labels/);
  });
});
