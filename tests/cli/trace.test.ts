import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { referenceBackend } from '../../src/backend/reference.js';
import { parseNpy, writeNpy } from '../../src/formats/npy.js';
import { weightsFromSafetensors, weightsToSafetensors } from '../../src/formats/weights.js';
import { architecture } from '../../src/model/architectures.js';
import { forward } from '../../src/model/network.js';
import { syntheticInput, syntheticWeights } from '../../src/model/synthetic.js';
import { runCli } from '../helpers/cli.js';

let dir: string;
const arch = architecture('mini');
const weights = syntheticWeights(arch, 3);
const x = syntheticInput(4, [2, 1, 28, 28]);

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'alexnet-trace-'));
  writeFileSync(join(dir, 'w.safetensors'), weightsToSafetensors(weights));
  writeFileSync(join(dir, 'x.npy'), writeNpy({ dtype: 'float32', shape: [...x.shape], data: x.data }));
  writeFileSync(join(dir, 'x64.npy'), writeNpy({ dtype: 'float64', shape: [...x.shape], data: Float64Array.from(x.data) }));
  writeFileSync(join(dir, 'labels.npy'), writeNpy({ dtype: 'int64', shape: [2], data: BigInt64Array.from([1n, 2n]) }));
  writeFileSync(join(dir, 'x3.npy'), writeNpy({ dtype: 'float32', shape: [1, 28, 28], data: new Float32Array(784) }));
});

describe('alexnet trace', () => {
  it('writes the input, every layer and a manifest; values equal the forward pass', async () => {
    const out = join(dir, 'trace');
    const r = await runCli('trace', '--arch', 'mini', '--weights', join(dir, 'w.safetensors'), '--input', join(dir, 'x.npy'), '--out', out);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const manifest = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8'));
    expect(manifest.arch).toBe('mini');
    expect(manifest.dtype).toBe('float32');
    const names = manifest.layers.map((l: { name: string }) => l.name);
    expect(names).toEqual(['input', ...arch.layers.map((l) => l.name)]);
    expect(manifest.layers.find((l: { name: string }) => l.name === 'pool5')).toEqual({ name: 'pool5', op: 'maxpool', shape: [2, 128, 2, 2], file: 'pool5.npy' });
    const pass = forward(arch, weights, x, referenceBackend);
    for (const layer of manifest.layers) {
      const a = parseNpy(readFileSync(join(out, layer.file)));
      expect(a.shape).toEqual(layer.shape);
      const expected = layer.name === 'input' ? x.data : pass.outputs.get(layer.name)!.data;
      expect(Buffer.from(a.data.buffer, a.data.byteOffset, a.data.byteLength).equals(Buffer.from(expected.buffer, expected.byteOffset, expected.byteLength)), layer.name).toBe(true);
    }
    // nothing but the trace in the folder (no temporary files left)
    expect(readdirSync(out).sort()).toEqual(manifest.layers.map((l: { file: string }) => l.file).concat('manifest.json').sort());
  });

  it('runs in float64 when the input is float64', async () => {
    const out = join(dir, 'trace64');
    const r = await runCli('trace', '--arch', 'mini', '--weights', join(dir, 'w.safetensors'), '--input', join(dir, 'x64.npy'), '--out', out);
    expect(r.status).toBe(0);
    const fc8 = parseNpy(readFileSync(join(out, 'fc8.npy')));
    expect(fc8.dtype).toBe('float64');
    const f32 = forward(arch, weights, x, referenceBackend).logits.data;
    for (let i = 0; i < f32.length; i++) expect(Math.abs((fc8.data as Float64Array)[i] - f32[i])).toBeLessThan(1e-4);
  });

  it('reads back the weights it was given, bit for bit', () => {
    const w = weightsFromSafetensors(readFileSync(join(dir, 'w.safetensors')));
    expect([...w.keys()]).toEqual([...weights.keys()]);
    for (const [k, t] of weights) expect(Buffer.from(w.get(k)!.data.buffer, w.get(k)!.data.byteOffset, w.get(k)!.data.byteLength).equals(Buffer.from(t.data.buffer)), k).toBe(true);
  });

  describe('bad input: one line on stderr, status 2, nothing written', () => {
    const cases: [string, () => string[], RegExp][] = [
      ['missing weights file', () => ['--arch', 'mini', '--weights', join(dir, 'nope.safetensors'), '--input', join(dir, 'x.npy')], /nope\.safetensors: no such file/],
      ['missing input file', () => ['--arch', 'mini', '--weights', join(dir, 'w.safetensors'), '--input', join(dir, 'nope.npy')], /nope\.npy: no such file/],
      ['unknown arch', () => ['--arch', 'lenet', '--weights', join(dir, 'w.safetensors'), '--input', join(dir, 'x.npy')], /unknown architecture "lenet"/],
      ['weights of another architecture', () => ['--arch', 'caffe', '--weights', join(dir, 'w.safetensors'), '--input', join(dir, 'x.npy')], /w\.safetensors: .*(no tensor|shape|channel)/],
      ['non-float input', () => ['--arch', 'mini', '--weights', join(dir, 'w.safetensors'), '--input', join(dir, 'labels.npy')], /labels\.npy: input must be float32 or float64, got int64/],
      ['input of the wrong rank', () => ['--arch', 'mini', '--weights', join(dir, 'w.safetensors'), '--input', join(dir, 'x3.npy')], /x3\.npy: input must be a batch \[N, C, H, W\]/],
      ['weights file that is not safetensors', () => ['--arch', 'mini', '--weights', join(dir, 'x.npy'), '--input', join(dir, 'x.npy')], /x\.npy: /],
    ];
    for (const [what, argv, message] of cases) {
      it(what, async () => {
        const out = join(dir, `bad-${what.replace(/\W+/g, '-')}`);
        const r = await runCli('trace', ...argv(), '--out', out);
        expect(r.status).toBe(2);
        expect(r.stdout).toBe('');
        expect(r.stderr.trim().split('\n')).toHaveLength(1);
        expect(r.stderr).toMatch(message);
        expect(existsSync(out)).toBe(false);
      });
    }

    it('a mis-shaped tensor is named with both shapes', async () => {
      const bad = new Map(weights);
      bad.set('conv3.weight', { data: new Float32Array(192 * 64 * 9), shape: [192, 64, 3, 3] });
      writeFileSync(join(dir, 'bad.safetensors'), weightsToSafetensors(bad));
      const r = await runCli('trace', '--arch', 'mini', '--weights', join(dir, 'bad.safetensors'), '--input', join(dir, 'x.npy'), '--out', join(dir, 'bad-shape'));
      expect(r.status).toBe(2);
      expect(r.stderr).toMatch(/bad\.safetensors: tensor "conv3\.weight" has shape \[192, 64, 3, 3\], mini needs \[192, 128, 3, 3\]/);
    });

    it('a missing tensor is named', async () => {
      const bad = new Map(weights);
      bad.delete('fc7.bias');
      writeFileSync(join(dir, 'missing.safetensors'), weightsToSafetensors(bad));
      const r = await runCli('trace', '--arch', 'mini', '--weights', join(dir, 'missing.safetensors'), '--input', join(dir, 'x.npy'), '--out', join(dir, 'bad-missing'));
      expect(r.status).toBe(2);
      expect(r.stderr).toMatch(/missing\.safetensors: no tensor "fc7\.bias"/);
    });
  });
});

describe('alexnet init', () => {
  it('writes weights of the right shapes for every scheme, reproducibly', async () => {
    for (const scheme of ['paper', 'he', 'torch']) {
      const a = join(dir, `init-${scheme}-a.safetensors`);
      const b = join(dir, `init-${scheme}-b.safetensors`);
      expect((await runCli('init', '--arch', 'mini', '--seed', '5', '--init', scheme, '--out', a)).status).toBe(0);
      expect((await runCli('init', '--arch', 'mini', '--seed', '5', '--init', scheme, '--out', b)).status).toBe(0);
      expect(readFileSync(a).equals(readFileSync(b))).toBe(true);
      const w = weightsFromSafetensors(readFileSync(a));
      expect(w.get('conv2.weight')!.shape).toEqual([128, 24, 5, 5]);
      expect(w.get('fc6.weight')!.shape).toEqual([512, 512]);
    }
  });

  it('paper: std 0.01 weights, biases 1 on conv2/4/5 and fc6/7, 0 elsewhere', async () => {
    const f = join(dir, 'paper.safetensors');
    await runCli('init', '--arch', 'mini', '--seed', '1', '--out', f);
    const w = weightsFromSafetensors(readFileSync(f));
    const fc6 = w.get('fc6.weight')!.data;
    let ss = 0;
    for (const v of fc6) ss += v * v;
    expect(Math.sqrt(ss / fc6.length)).toBeCloseTo(0.01, 4);
    for (const k of ['conv2', 'conv4', 'conv5', 'fc6', 'fc7']) expect(w.get(`${k}.bias`)!.data.every((v) => v === 1)).toBe(true);
    for (const k of ['conv1', 'conv3', 'fc8']) expect(w.get(`${k}.bias`)!.data.every((v) => v === 0)).toBe(true);
  });

  it('he: std sqrt(2/fan_in); torch: uniform within 1/sqrt(fan_in)', async () => {
    const he = join(dir, 'he.safetensors');
    const torch = join(dir, 'torch.safetensors');
    await runCli('init', '--arch', 'mini', '--seed', '2', '--init', 'he', '--out', he);
    await runCli('init', '--arch', 'mini', '--seed', '2', '--init', 'torch', '--out', torch);
    const w = weightsFromSafetensors(readFileSync(he)).get('conv3.weight')!.data; // fan_in 128*9
    let ss = 0;
    for (const v of w) ss += v * v;
    expect(Math.sqrt(ss / w.length)).toBeCloseTo(Math.sqrt(2 / (128 * 9)), 3);
    const t = weightsFromSafetensors(readFileSync(torch)).get('fc6.weight')!.data; // fan_in 512
    const bound = 1 / Math.sqrt(512);
    const max = t.reduce((a, v) => Math.max(a, v), -Infinity);
    const min = t.reduce((a, v) => Math.min(a, v), Infinity);
    expect(max).toBeLessThanOrEqual(bound);
    expect(min).toBeGreaterThanOrEqual(-bound);
    expect(max).toBeGreaterThan(0.99 * bound);
    expect(min).toBeLessThan(-0.99 * bound);
  });
});
