import { copyFileSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { classifyImages, modelFromBytes, topK } from '../../src/classify.js';
import { readBytes } from '../../src/formats/node-fs.js';
import { loadImage } from '../../src/image/node-image.js';
import { preprocess } from '../../src/image/preprocess.js';
import { forward } from '../../src/model/network.js';
import { referenceBackend } from '../../src/backend/reference.js';
import { runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';

const W = 'fixtures/weights';
const PHOTO = 'fixtures/images/png/rgb_500x375.png';
const JPEG = 'fixtures/images/jpeg/baseline_420.jpg';

describe('classify (library)', () => {
  it('gives the same predictions from .pth (zip and legacy), ONNX and safetensors of the same weights', () => {
    const image = loadImage(PHOTO);
    const results = ['tv.safetensors', 'tv.pth', 'tv-legacy.pth', 'tv-opset11.onnx', 'tv-opset13.onnx'].map((f) => {
      const model = modelFromBytes(readBytes(join(W, f)), f);
      expect(model.arch.name, f).toBe('torchvision');
      return classifyImages(model, [image], { top: 10 })[0];
    });
    for (const r of results.slice(1)) expect(r).toEqual(results[0]);
  });

  it('probabilities are the softmax of the network on the preset tensor, sorted', () => {
    const model = modelFromBytes(readBytes(join(W, 'tv.pth')), 'tv.pth');
    const image = loadImage(PHOTO);
    const [preds] = classifyImages(model, [image], { top: 3 });
    const probs = forward(model.arch, model.weights, preprocess(image, model.preset), referenceBackend).probs.data;
    expect(preds.map((p) => p.index)).toEqual(topK(probs, 3));
    for (const p of preds) expect(p.prob).toBe(probs[p.index]);
    expect(preds[0].prob).toBeGreaterThanOrEqual(preds[1].prob);
  });

  it('a batch gives the same as one image at a time', () => {
    const model = modelFromBytes(readBytes(join(W, 'tv.pth')), 'tv.pth');
    const a = loadImage(PHOTO);
    const b = loadImage(JPEG);
    const both = classifyImages(model, [a, b], { top: 5 });
    expect(both[0]).toEqual(classifyImages(model, [a], { top: 5 })[0]);
    expect(both[1]).toEqual(classifyImages(model, [b], { top: 5 })[0]);
  });

  it('ten-crop averages ten softmax outputs (sums to 1, differs from the centre crop)', () => {
    const model = modelFromBytes(readBytes(join(W, 'tv.pth')), 'tv.pth');
    const image = loadImage(PHOTO);
    const ten = classifyImages(model, [image], { top: 10, tenCrop: true })[0];
    const one = classifyImages(model, [image], { top: 10 })[0];
    expect(ten.reduce((s, p) => s + p.prob, 0)).toBeCloseTo(1, 5);
    expect(ten.map((p) => p.prob)).not.toEqual(one.map((p) => p.prob));
  });
});

describe('alexnet classify', () => {
  it('prints the top K with labels from --labels', async () => {
    const dir = tempDir('alexnet-classify-');
    const labels = join(dir, 'labels.txt');
    writeFileSync(labels, Array.from({ length: 10 }, (_, i) => `thing ${i}`).join('\n') + '\n');
    const r = await runCli('classify', PHOTO, '--weights', join(W, 'tv.pth'), '--top', '3', '--labels', labels);
    expect(r.status).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toBe(PHOTO);
    expect(lines).toHaveLength(4);
    expect(lines[1]).toMatch(/^ {3}1\. +\d+\.\d\d% {2}thing \d \(\d\)$/);
  });

  it('--json prints one object per image, walking folders recursively', async () => {
    const dir = tempDir('alexnet-classify-');
    mkdirSync(join(dir, 'sub'));
    copyFileSync(PHOTO, join(dir, 'a.png'));
    copyFileSync(JPEG, join(dir, 'sub', 'b.jpg'));
    writeFileSync(join(dir, 'notes.txt'), 'not an image');
    const r = await runCli('classify', dir, '--weights', join(W, 'tv.pth'), '--json', '--top', '2');
    expect(r.status).toBe(0);
    const rows = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(rows.map((x) => x.file)).toEqual([join(dir, 'a.png'), join(dir, 'sub', 'b.jpg')]);
    expect(rows[0].top).toHaveLength(2);
    expect(Object.keys(rows[0].top[0]).sort()).toEqual(['index', 'label', 'prob']);
  });

  it('reports unreadable images, one line each, goes on with the rest, and exits 2', async () => {
    const r = await runCli('classify', PHOTO, 'fixtures/images/bad', '--weights', join(W, 'tv.pth'), '--json');
    expect(r.status).toBe(2);
    const rows = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(rows.map((x) => x.file)).toEqual([PHOTO]);
    expect(r.stderr).toMatch(/bad_crc\.png: corrupt PNG: CRC mismatch/);
    expect(r.stderr).toMatch(/huge\.png: image is 100000x100000 pixels, more than the 100-megapixel limit/);
    expect(r.stderr).toMatch(/truncated\.jpg: truncated or corrupt JPEG/);
    expect(r.stderr).toMatch(/5 of 6 images could not be read/);
  });

  it.each([
    [['classify', PHOTO, '--weights', join(W, 'malicious.pth')], /malicious\.pth: .*not allowed: refusing to load/],
    [['classify', PHOTO, '--weights', 'fixtures/images/png/rgb.png'], /rgb\.png: .*PNG image, not a weight file/],
    [['classify', PHOTO, '--weights', join(W, 'nope.pth')], /nope\.pth: no such file/],
    [['classify', 'nope.jpg', '--weights', join(W, 'tv.pth')], /nope\.jpg: no such file/],
    [['classify', PHOTO, '--weights', join(W, 'tv.pth'), '--arch', 'caffe'], /tv\.pth: no tensor "conv1\.weight"/],
    [['classify', '--weights', join(W, 'tv.pth')], /name at least one image/],
  ])('bad input %# gets one line and status 2', async (argv, message) => {
    const r = await runCli(...(argv as string[]));
    expect(r.status).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(message as RegExp);
  });
});

describe('alexnet convert', () => {
  it('writes safetensors equal to the source tensors, with the architecture in the metadata', async () => {
    const dir = tempDir('alexnet-convert-');
    for (const f of ['tv.pth', 'tv-legacy.pth', 'tv-opset13.onnx']) {
      const out = join(dir, `${f}.safetensors`);
      const r = await runCli('convert', join(W, f), out);
      expect(r.status, r.stderr).toBe(0);
      const a = modelFromBytes(readBytes(out), out);
      const b = modelFromBytes(readBytes(join(W, 'tv.safetensors')), 'tv.safetensors');
      expect(a.arch.name).toBe('torchvision');
      expect([...a.weights.keys()].sort()).toEqual([...b.weights.keys()].sort());
      for (const [k, t] of b.weights) expect(Array.from(a.weights.get(k)!.data), k).toEqual(Array.from(t.data));
    }
  });

  it('refuses a malicious pickle and writes nothing', async () => {
    const dir = tempDir('alexnet-convert-');
    const out = join(dir, 'm.safetensors');
    const r = await runCli('convert', join(W, 'malicious.pth'), out);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/pickle asks for global "posix\.system", which is not allowed/);
    expect(readdirSync(dir)).toEqual([]);
  });
});
