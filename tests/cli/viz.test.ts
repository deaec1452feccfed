/**
 * `alexnet viz` end to end: every picture is read back from the PNG file the command wrote (with
 * pngjs's decoder, as a viewer would) and checked for its size, its tiling (only border colour
 * between tiles), that it is not blank or constant, and, where the expected pixels follow from
 * the weights or activations by the documented normalisation, pixel by pixel.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { afterAll, describe, expect, it } from 'vitest';
import { referenceBackend } from '../../src/backend/reference.js';
import { modelFromBytes } from '../../src/classify.js';
import { readBytes } from '../../src/formats/node-fs.js';
import { weightsFromSafetensors, weightsToSafetensors } from '../../src/formats/weights.js';
import { centerCrop, preprocess, resizeForPreset } from '../../src/image/preprocess.js';
import { loadImage } from '../../src/image/node-image.js';
import { architecture } from '../../src/model/architectures.js';
import { initWeights } from '../../src/model/init.js';
import { forward, type Weights } from '../../src/model/network.js';
import { syntheticWeights } from '../../src/model/synthetic.js';
import type { Tensor } from '../../src/tensor.js';
import type { EpochRecord } from '../../src/train/checkpoint.js';
import type { Rect } from '../../src/viz/canvas.js';
import { BAR_COLOR, featureMapGridLayout, topClassesLayout } from '../../src/viz/activations.js';
import { trainingCurves } from '../../src/viz/chart.js';
import { GRID_BORDER, toByte } from '../../src/viz/grid.js';
import { filterPicture } from '../../src/cli/commands/viz.js';
import { runCli } from '../helpers/cli.js';
import { type Picture, contains, decoded, expectRealPicture, rgbAt } from '../viz/picture.js';

const dir = mkdtempSync(join(tmpdir(), 'alexnet-viz-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const CAFFE = 'fixtures/weights/caffe.caffemodel';
const TV = 'fixtures/weights/tv.pth';
const PHOTO = 'fixtures/images/png/rgb_500x375.png';
const BOOT = 'fixtures/images/fashion-mnist/0-ankle-boot.png';

function readPng(path: string): Picture {
  const png = PNG.sync.read(readFileSync(path));
  return { width: png.width, height: png.height, data: new Uint8Array(png.data) };
}

/** Every pixel outside the tiles (and outside `skip`, e.g. the caption) is the border colour. */
function expectOnlyBorderBetween(p: Picture, tiles: readonly Rect[], skip?: Rect): void {
  let border = 0;
  for (let y = 0; y < p.height; y++) {
    for (let x = 0; x < p.width; x++) {
      if (tiles.some((t) => contains(t, x, y)) || (skip && contains(skip, x, y))) continue;
      const c = rgbAt(p, x, y);
      if (c[0] !== GRID_BORDER[0] || c[1] !== GRID_BORDER[1] || c[2] !== GRID_BORDER[2]) {
        throw new Error(`(${x}, ${y}) lies between tiles but is ${c.join(', ')}, not the border colour`);
      }
      border++;
    }
  }
  expect(border).toBeGreaterThan(0);
}

/** Tiles do not overlap and lie inside the picture. */
function expectTiled(p: Picture, tiles: readonly Rect[]): void {
  for (const [i, t] of tiles.entries()) {
    expect(t.x >= 0 && t.y >= 0 && t.x + t.width <= p.width && t.y + t.height <= p.height, `tile ${i} inside`).toBe(true);
    for (const u of tiles.slice(i + 1)) {
      const apart = t.x + t.width <= u.x || u.x + u.width <= t.x || t.y + t.height <= u.y || u.y + u.height <= t.y;
      expect(apart, `tiles ${i} and another overlap`).toBe(true);
    }
  }
}

/**
 * The kernels drawn with the per-filter normalisation (src/viz/filters.ts): kernel o's weights
 * mapped by its own min and max over all channels, tensor channel `order[0]` shown as red.
 */
function expectKernelPixels(p: Picture, tiles: readonly Rect[], w: Tensor, order: readonly number[], scale: number): void {
  const [OC, C, KH, KW] = w.shape;
  for (let o = 0; o < OC; o++) {
    const per = C * KH * KW;
    let lo = Infinity;
    let hi = -Infinity;
    for (let i = o * per; i < (o + 1) * per; i++) {
      lo = Math.min(lo, w.data[i]);
      hi = Math.max(hi, w.data[i]);
    }
    for (let j = 0; j < KH; j++) {
      for (let i = 0; i < KW; i++) {
        const want = order.map((c) => toByte(w.data[((o * C + c) * KH + j) * KW + i], lo, hi, 128));
        const got = rgbAt(p, tiles[o].x + i * scale + (scale >> 1), tiles[o].y + j * scale + (scale >> 1));
        if (got.some((v, q) => v !== want[q])) throw new Error(`kernel ${o} pixel (${i}, ${j}): ${got.join(', ')}, expected ${want.join(', ')}`);
      }
    }
  }
}

/**
 * Eight 3-channel 11x11 kernels whose pictures are known without any arithmetic:
 *   0 channel 0 = 1   1 channel 1 = 1   2 channel 2 = 1     (the others 0)
 *   3 all channels = column index (gray ramp left to right)  4 all 0.7 (flat: mid-gray)
 *   5 channel 0 = -1 (the complement of kernel 0)             6 channel 0 = 0.001 at the centre only
 *   7 all channels = 100 x row index (gray ramp top to bottom)
 */
function knownKernels(OC = 8): Tensor<Float32Array> {
  const K = 11;
  const w = new Float32Array(OC * 3 * K * K);
  const set = (o: number, c: number, y: number, x: number, v: number): void => {
    if (o < OC) w[((o * 3 + c) * K + y) * K + x] = v;
  };
  for (let y = 0; y < K; y++) {
    for (let x = 0; x < K; x++) {
      for (let c = 0; c < 3; c++) {
        set(c, c, y, x, 1);
        set(3, c, y, x, x);
        set(4, c, y, x, 0.7);
        set(7, c, y, x, 100 * y);
      }
      set(5, 0, y, x, -1);
    }
  }
  set(6, 0, 5, 5, 0.001);
  return { data: w, shape: [OC, 3, K, K] };
}

function writeWeights(name: string, weights: Weights<Float32Array>, arch: string): string {
  const path = join(dir, name);
  writeFileSync(path, weightsToSafetensors(weights, { arch }));
  return path;
}

/** A torchvision AlexNet at 1/8 width with 10 classes, its conv1 replaced by the known kernels. */
function torchvisionWithKnownKernels(): string {
  const arch = architecture('torchvision', { widthDivisor: 8, numClasses: 10 });
  const weights = syntheticWeights(arch, 7);
  weights.set('features.0.weight', knownKernels(8));
  return writeWeights('tv-known.safetensors', weights, 'torchvision');
}

/** The Caffe-structured fixture (conv1 has 4 kernels), its conv1 replaced by kernels 0-3 above. */
function caffeWithKnownKernels(): string {
  const weights = weightsFromSafetensors(readBytes('fixtures/weights/caffe.safetensors'));
  weights.set('conv1.weight', knownKernels(4));
  return writeWeights('caffe-known.safetensors', weights, 'caffe');
}

describe('alexnet viz filters', () => {
  it('draws known RGB kernels with the expected colours, one grid for torchvision', async () => {
    const weights = torchvisionWithKnownKernels();
    const out = join(dir, 'tv-known.png');
    const r = await runCli('viz', 'filters', '--weights', weights, '--out', out, '--scale', '3');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('8 first-layer kernels 11x11x3');
    const model = modelFromBytes(readBytes(weights), weights);
    const plan = filterPicture(model.arch, model.weights, model.preset, { scale: 3 });
    expect(plan.groupCount).toBe(1);
    const p = readPng(out);
    expectRealPicture(p, plan.canvas.width, plan.canvas.height);
    expectTiled(p, plan.tiles);
    const at = (o: number, i = 5, j = 5): number[] => rgbAt(p, plan.tiles[o].x + 3 * i + 1, plan.tiles[o].y + 3 * j + 1);
    expect(at(0)).toEqual([255, 0, 0]);
    expect(at(1)).toEqual([0, 255, 0]);
    expect(at(2)).toEqual([0, 0, 255]);
    expect([at(3, 0), at(3, 5), at(3, 10)]).toEqual([[0, 0, 0], [128, 128, 128], [255, 255, 255]]);
    expect(at(4)).toEqual([128, 128, 128]);
    expect(at(5)).toEqual([0, 255, 255]);
    expect([at(6, 5, 5), at(6, 0, 0)]).toEqual([[255, 0, 0], [0, 0, 0]]);
    expect([at(7, 5, 0), at(7, 5, 10)]).toEqual([[0, 0, 0], [255, 255, 255]]);
    // Every pixel of every tile, and the border between them.
    expectKernelPixels(p, plan.tiles, knownKernels(8), [0, 1, 2], 3);
    const firstTileTop = Math.min(...plan.tiles.map((t) => t.y));
    expectOnlyBorderBetween(p, plan.tiles, { x: 0, y: 0, width: p.width, height: firstTileTop - 1 });
  });

  it('shows BGR (Caffe) kernels in true colour, the two groups stacked as in Figure 3', async () => {
    const weights = caffeWithKnownKernels();
    const out = join(dir, 'caffe-known.png');
    const r = await runCli('viz', 'filters', '--weights', weights, '--out', out);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('2 groups stacked');
    const model = modelFromBytes(readBytes(weights), weights);
    const plan = filterPicture(model.arch, model.weights, model.preset);
    expect([plan.groupCount, plan.channelOrder]).toEqual([2, 'bgr']);
    const p = readPng(out);
    expectRealPicture(p, plan.canvas.width, plan.canvas.height);
    expectTiled(p, plan.tiles);
    const centre = (o: number): number[] => rgbAt(p, plan.tiles[o].x + 22, plan.tiles[o].y + 22);
    // Tensor channel 0 is blue in a BGR network, channel 2 red.
    expect([centre(0), centre(1), centre(2)]).toEqual([[0, 0, 255], [0, 255, 0], [255, 0, 0]]);
    expectKernelPixels(p, plan.tiles, knownKernels(4), [2, 1, 0], 4);
    // Kernels 0-1 in the upper block, 2-3 in the lower one.
    expect(plan.groups).toHaveLength(2);
    expect(plan.groups[1].y).toBeGreaterThan(plan.groups[0].y + plan.groups[0].height);
    for (const o of [0, 1]) expect(contains(plan.groups[0], plan.tiles[o].x, plan.tiles[o].y)).toBe(true);
    for (const o of [2, 3]) expect(contains(plan.groups[1], plan.tiles[o].x, plan.tiles[o].y)).toBe(true);
    expectOnlyBorderBetween(p, plan.tiles, { x: 0, y: 0, width: p.width, height: plan.groups[0].y });
  });

  it('--layout side-by-side puts the second group to the right, the same tiles; grid ignores groups', async () => {
    const weights = caffeWithKnownKernels();
    const stacked = readPng(join(dir, 'caffe-known.png'));
    const model = modelFromBytes(readBytes(weights), weights);
    const planStacked = filterPicture(model.arch, model.weights, model.preset);

    const out = join(dir, 'caffe-side.png');
    const r = await runCli('viz', 'filters', '--weights', weights, '--out', out, '--layout', 'side-by-side');
    expect(r.status, r.stderr).toBe(0);
    const plan = filterPicture(model.arch, model.weights, model.preset, { layout: 'side-by-side' });
    const p = readPng(out);
    expectRealPicture(p, plan.canvas.width, plan.canvas.height);
    expectTiled(p, plan.tiles);
    expect(plan.groups[1].x).toBeGreaterThan(plan.groups[0].x + plan.groups[0].width);
    expect(plan.groups[1].y).toBe(plan.groups[0].y);
    expect(p.height).toBeLessThan(stacked.height);
    // Tile o has the same pixels in both layouts.
    for (let o = 0; o < 4; o++) {
      const a = plan.tiles[o];
      const b = planStacked.tiles[o];
      for (let y = 0; y < a.height; y++) {
        for (let x = 0; x < a.width; x++) expect(rgbAt(p, a.x + x, a.y + y)).toEqual(rgbAt(stacked, b.x + x, b.y + y));
      }
    }
    expectOnlyBorderBetween(p, plan.tiles, { x: 0, y: 0, width: p.width, height: plan.groups[0].y });

    const gridOut = join(dir, 'caffe-grid.png');
    expect((await runCli('viz', 'filters', '--weights', weights, '--out', gridOut, '--layout', 'grid')).status).toBe(0);
    const grid = filterPicture(model.arch, model.weights, model.preset, { layout: 'grid' });
    expect(grid.groupCount).toBe(1);
    expectRealPicture(readPng(gridOut), grid.canvas.width, grid.canvas.height);
  });

  it('reproduces the kernels of the weight fixtures pixel by pixel (.caffemodel BGR, .pth RGB)', async () => {
    for (const [file, order] of [[CAFFE, [2, 1, 0]], [TV, [0, 1, 2]]] as const) {
      const out = join(dir, `fixture-${order[0]}.png`);
      const r = await runCli('viz', 'filters', '--weights', file, '--out', out);
      expect(r.status, r.stderr).toBe(0);
      const model = modelFromBytes(readBytes(file), file);
      const plan = filterPicture(model.arch, model.weights, model.preset);
      const p = readPng(out);
      expectRealPicture(p, plan.canvas.width, plan.canvas.height);
      const w = model.weights.get(model.arch.name === 'torchvision' ? 'features.0.weight' : 'conv1.weight')!;
      expectKernelPixels(p, plan.tiles, w, order, 4);
    }
  });

  it('symmetric normalisation maps zero to mid-gray and the largest |w| to the ends', async () => {
    const weights = caffeWithKnownKernels();
    const out = join(dir, 'caffe-symmetric.png');
    expect((await runCli('viz', 'filters', '--weights', weights, '--out', out, '--normalisation', 'symmetric')).status).toBe(0);
    const model = modelFromBytes(readBytes(weights), weights);
    const plan = filterPicture(model.arch, model.weights, model.preset, { normalisation: 'symmetric' });
    const p = readPng(out);
    expectRealPicture(p, plan.canvas.width, plan.canvas.height);
    // Kernel 3 is the ramp 0..10 in every channel: m = 10, so column i is 127.5 (1 + i/10).
    const px = (i: number): number[] => rgbAt(p, plan.tiles[3].x + 4 * i + 2, plan.tiles[3].y + 2);
    expect([px(0), px(10)]).toEqual([[128, 128, 128], [255, 255, 255]]);
  });

  it('the mini network: 48 gray 5x5 kernels in two groups', async () => {
    const weights = writeWeights('mini.safetensors', initWeights(architecture('mini'), 'he', 1), 'mini');
    const out = join(dir, 'mini.png');
    const r = await runCli('viz', 'filters', '--weights', weights, '--out', out);
    expect(r.status, r.stderr).toBe(0);
    const model = modelFromBytes(readBytes(weights), weights);
    const plan = filterPicture(model.arch, model.weights, model.preset);
    expect(plan.tiles).toHaveLength(48);
    expect(plan.groupCount).toBe(2);
    const p = readPng(out);
    expectRealPicture(p, plan.canvas.width, plan.canvas.height);
    expectTiled(p, plan.tiles);
    for (const t of plan.tiles) {
      const [r0, g0, b0] = rgbAt(p, t.x + 1, t.y + 1);
      expect(r0 === g0 && g0 === b0).toBe(true);
    }
    expectKernelPixels(p, plan.tiles, model.weights.get('conv1.weight')!, [0, 0, 0], 8); // 5x5 kernels: scale ceil(40 / 5)
  });
});

describe('alexnet viz activations', () => {
  it('writes the input crop, a feature-map grid per conv and pool layer, and the top-5 chart', async () => {
    const out = join(dir, 'acts-caffe');
    const r = await runCli('viz', 'activations', PHOTO, '--weights', CAFFE, '--out', out, '--top-classes', '--backend', 'reference');
    expect(r.status, r.stderr).toBe(0);
    const model = modelFromBytes(readBytes(CAFFE), CAFFE);
    const image = loadImage(PHOTO);
    const x = preprocess(image, model.preset);
    const pass = forward(model.arch, model.weights, x, referenceBackend);
    const layers = ['conv1', 'pool1', 'conv2', 'pool2', 'conv3', 'conv4', 'conv5', 'pool5'];
    const listed = r.stdout.trim().split('\n').map((l) => l.split(/\s+/)[0]);
    expect(listed).toEqual([join(out, 'input.png'), ...layers.map((l) => join(out, `${l}.png`)), join(out, 'top-classes.png')]);

    // The input crop: Caffe's warp to 256x256 and centre 227, in true colour (the tensor is BGR).
    const input = readPng(join(out, 'input.png'));
    expectRealPicture(input, 227, 227);
    const crop = centerCrop(resizeForPreset(image, model.preset), 227, 'floor');
    for (let i = 0; i < 227 * 227; i += 97) {
      const want = [crop.data[3 * i], crop.data[3 * i + 1], crop.data[3 * i + 2]];
      expect(rgbAt(input, i % 227, Math.floor(i / 227))).toEqual(want);
    }

    for (const name of layers) {
      const t = pass.outputs.get(name)!;
      const L = featureMapGridLayout(t.shape, { caption: name });
      const p = readPng(join(out, `${name}.png`));
      expectRealPicture(p, L.width, L.height);
      expect(L.tiles).toHaveLength(t.shape[1]);
      expectTiled(p, L.tiles);
      expectOnlyBorderBetween(p, L.tiles, { x: 0, y: 0, width: p.width, height: L.grid.y });
      // Each map stretched to its own range: check every pixel of the first and last map.
      const [, C, H, W] = t.shape;
      for (const c of [0, C - 1]) {
        const plane = t.data.subarray(c * H * W, (c + 1) * H * W);
        const lo = Math.min(...plane);
        const hi = Math.max(...plane);
        for (let y = 0; y < H; y++) {
          for (let xx = 0; xx < W; xx++) {
            const v = toByte(plane[y * W + xx], lo, hi, 0);
            const got = rgbAt(p, L.tiles[c].x + xx * L.scale, L.tiles[c].y + y * L.scale);
            if (got.some((g) => g !== v)) throw new Error(`${name} map ${c} at (${xx}, ${y}): ${got.join(', ')}, expected ${v}`);
          }
        }
      }
    }

    const probs = pass.probs.data;
    const L = topClassesLayout(probs, model.labels, 5, { title: 'top-5 classes: rgb_500x375.png' });
    const chart = readPng(join(out, 'top-classes.png'));
    expectRealPicture(chart, L.width, L.height);
    expect(L.rows.map((row) => row.index)).toEqual([...probs].map((_, i) => i).sort((a, b) => probs[b] - probs[a] || a - b).slice(0, 5));
    for (const row of L.rows) {
      if (row.bar.width > 0) expect(rgbAt(chart, row.bar.x, row.bar.y + 2)).toEqual([...BAR_COLOR]);
      expect(row.bar.width).toBe(Math.round(row.probability * L.barArea.width));
    }
  });

  it('the wasm backend (the default) draws the same pictures, each pixel within one step', async () => {
    const out = join(dir, 'acts-caffe-wasm');
    const r = await runCli('viz', 'activations', PHOTO, '--weights', CAFFE, '--out', out, '--top-classes', '--threads', '2');
    expect(r.status, r.stderr).toBe(0);
    for (const name of ['input', 'conv1', 'pool1', 'conv2', 'pool2', 'conv3', 'conv4', 'conv5', 'pool5', 'top-classes']) {
      const wasm = readPng(join(out, `${name}.png`));
      const reference = readPng(join(dir, 'acts-caffe', `${name}.png`));
      expect([wasm.width, wasm.height], name).toEqual([reference.width, reference.height]);
      if (name === 'top-classes') continue; // the same layout; its text and bars are rounded anyway
      // float32 sums in another order can move a pixel by one step of the 0..255 scale, no more
      let worst = 0;
      for (let i = 0; i < wasm.data.length; i++) worst = Math.max(worst, Math.abs(wasm.data[i] - reference.data[i]));
      expect(worst, name).toBeLessThanOrEqual(1);
    }
  });

  it('the mini network on a Fashion-MNIST image: gray input enlarged, --layers all and a chosen list', async () => {
    const weights = writeWeights('mini-acts.safetensors', initWeights(architecture('mini'), 'he', 2), 'mini');
    const out = join(dir, 'acts-mini');
    const r = await runCli('viz', 'activations', BOOT, '--weights', weights, '--out', out, '--layers', 'all');
    expect(r.status, r.stderr).toBe(0);
    const files = r.stdout.trim().split('\n').map((l) => l.split(/\s+/)[0]);
    expect(files).toEqual(
      ['input', 'conv1', 'relu1', 'norm1', 'pool1', 'conv2', 'relu2', 'norm2', 'pool2', 'conv3', 'relu3', 'conv4', 'relu4', 'conv5', 'relu5', 'pool5'].map((n) => join(out, `${n}.png`)),
    );
    const input = readPng(join(out, 'input.png'));
    expectRealPicture(input, 112, 112);
    const boot = loadImage(BOOT); // 28x28 gray, stored as RGB: the crop is the image itself
    for (const [x, y] of [[14, 14], [3, 20], [27, 27]]) {
      const v = boot.data[3 * (y * 28 + x)];
      expect(rgbAt(input, 4 * x + 2, 4 * y + 2)).toEqual([v, v, v]);
    }
    const model = modelFromBytes(readBytes(weights), weights);
    const pass = forward(model.arch, model.weights, preprocess(boot, model.preset), referenceBackend);
    for (const name of ['relu1', 'norm2', 'pool5']) {
      const L = featureMapGridLayout(pass.outputs.get(name)!.shape, { caption: name });
      expectRealPicture(readPng(join(out, `${name}.png`)), L.width, L.height);
    }

    const some = await runCli('viz', 'activations', BOOT, '--weights', weights, '--out', join(out, 'some'), '--layers', 'norm1, conv5');
    expect(some.status, some.stderr).toBe(0);
    expect(some.stdout.trim().split('\n').map((l) => l.split(/\s+/)[0])).toEqual(['input', 'norm1', 'conv5'].map((n) => join(out, 'some', `${n}.png`)));
  });

  it('refuses a layer without feature maps, naming the ones there are', async () => {
    const r = await runCli('viz', 'activations', BOOT, '--weights', CAFFE, '--out', join(dir, 'x'), '--layers', 'conv1,fc6');
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('"fc6" has no feature maps in caffe; choose from conv1, relu1, norm1, pool1');
  });
});

describe('alexnet viz curves', () => {
  const record = (epoch: number): EpochRecord => ({
    epoch, step: 469 * epoch, lr: 0.03, trainLoss: 1.2 / epoch, trainAccuracy: 1 - 0.3 / epoch, testLoss: 1.1 / epoch + 0.05,
    testAccuracy: 1 - 0.25 / epoch, imagesPerSecond: 300, seconds: 200,
  });

  it('redraws metrics.jsonl into the same picture training draws as curves.png', async () => {
    const records = [1, 2, 3, 4].map(record);
    const metrics = join(dir, 'metrics.jsonl');
    writeFileSync(metrics, records.map((x) => JSON.stringify(x)).join('\n') + '\n');
    const out = join(dir, 'curves.png');
    const r = await runCli('viz', 'curves', metrics, '--out', out);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toBe(`${out}: loss and accuracy over 4 epochs from ${metrics}\n`);
    const p = readPng(out);
    expectRealPicture(p, 1280, 440);
    // Byte for byte (Buffer.equals: toEqual on 2 MB of pixels is slow).
    expect(Buffer.from(p.data).equals(Buffer.from(decoded(trainingCurves(records)).data))).toBe(true);
  });

  it('names the file and line of a bad metrics file', async () => {
    const bad = join(dir, 'bad.jsonl');
    writeFileSync(bad, `${JSON.stringify(record(1))}\nnot json\n`);
    const r = await runCli('viz', 'curves', bad, '--out', join(dir, 'c.png'));
    expect([r.status, r.stderr]).toEqual([2, `alexnet: ${bad} line 2: not JSON\n`]);
    const missing = await runCli('viz', 'curves', join(dir, 'none.jsonl'), '--out', join(dir, 'c.png'));
    expect([missing.status, missing.stderr]).toEqual([2, `alexnet: ${join(dir, 'none.jsonl')}: no such file\n`]);
  });
});

describe('alexnet viz: mistakes', () => {
  it.each([
    [['viz', '--out', 'x.png'], 'viz: name what to draw: filters, activations or curves'],
    [['viz', 'kernels', '--out', 'x.png'], 'viz: unknown picture "kernels"'],
    [['viz', 'filters', '--weights', CAFFE], "viz: --out is required"],
    [['viz', 'filters', CAFFE, '--out', 'x.png'], 'viz filters: unexpected argument "fixtures/weights/caffe.caffemodel"'],
    [['viz', 'filters', '--weights', CAFFE, '--out', 'x.png', '--top-classes'], "viz filters: --top-classes is an option of 'viz activations'"],
    [['viz', 'curves', 'm.jsonl', '--out', 'x.png', '--weights', CAFFE], "viz curves: --weights is an option of 'viz filters' and 'viz activations'"],
    [['viz', 'filters', '--weights', CAFFE, '--out', 'x.png', '--threads', '2'], "viz filters: --threads is an option of 'viz activations'"],
    [['viz', 'filters', '--weights', 'nope.pth', '--out', 'x.png'], 'nope.pth: no such file'],
    [['viz', 'filters', '--weights', CAFFE, '--out', 'x.png', '--scale', '0'], '--scale must be between 1 and 64'],
    [['viz', 'filters', '--weights', CAFFE, '--out', 'x.png', '--layout', 'diagonal'], '--layout must be one of stacked, side-by-side, grid'],
    [['viz', 'activations', '--weights', CAFFE, '--out', 'x'], 'viz activations: name one image'],
    [['viz', 'activations', 'nope.png', '--weights', CAFFE, '--out', 'x'], 'nope.png: no such file'],
  ])('%j', async (argv, message) => {
    const r = await runCli(...argv);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(message);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('lists viz among the commands, and viz --help names the three pictures', async () => {
    expect((await runCli('--help')).stdout).toMatch(/\n {2}viz +Draw first-layer filters/);
    const help = await runCli('viz', '--help');
    expect(help.status).toBe(0);
    for (const s of ['alexnet viz filters', 'alexnet viz activations', 'alexnet viz curves']) expect(help.stdout).toContain(s);
  });
});
