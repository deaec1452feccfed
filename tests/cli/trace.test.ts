/**
 * The oracle's commands end to end: `alexnet trace` (forward, --backward, --train/--masks,
 * --image, --dtype, --format, manifests and byte-identical reruns), against PyTorch for all five
 * architectures at 1/8 width; `alexnet compare` (exit 0/1/2, the named layer, --json);
 * `alexnet export` run in onnxruntime-node; and `alexnet init`.
 */

import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { referenceBackend } from '../../src/backend/reference.js';
import { parseNpy, writeNpy, type NpyArray } from '../../src/formats/npy.js';
import { parseSafetensors, type StoredTensor } from '../../src/formats/safetensors.js';
import { weightsFromSafetensors, weightsToSafetensors } from '../../src/formats/weights.js';
import { loadImage } from '../../src/image/node-image.js';
import { MINI_PRESET, preprocess } from '../../src/image/preprocess.js';
import { ARCH_NAMES, architecture } from '../../src/model/architectures.js';
import { forward } from '../../src/model/network.js';
import { syntheticInput, syntheticLabels, syntheticWeights } from '../../src/model/synthetic.js';
import { makeTrace } from '../../src/oracle/trace.js';
import { runCli } from '../helpers/cli.js';

let dir: string;
const arch = architecture('mini');
const weights = syntheticWeights(arch, 3);
const x = syntheticInput(4, [2, 1, 28, 28]);
// The slower tests (backward, train, reruns, compare) use mini at 1/8 width: the same code paths.
const arch8 = architecture('mini', { widthDivisor: 8 });
const weights8 = syntheticWeights(arch8, 3);
const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const bytesOf = (a: { buffer: ArrayBufferLike; byteOffset: number; byteLength: number }): Buffer => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
const npy = (path: string): NpyArray => parseNpy(readFileSync(path));
const save = (path: string, a: NpyArray): void => writeFileSync(path, writeNpy(a));

afterAll(() => rmSync(dir, { recursive: true, force: true })); // traces of full-size nets: hundreds of MB

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'alexnet-trace-'));
  writeFileSync(join(dir, 'w.safetensors'), weightsToSafetensors(weights));
  writeFileSync(join(dir, 'w8.safetensors'), weightsToSafetensors(weights8));
  save(join(dir, 'x.npy'), { dtype: 'float32', shape: [...x.shape], data: x.data });
  save(join(dir, 'x64.npy'), { dtype: 'float64', shape: [...x.shape], data: Float64Array.from(x.data) });
  save(join(dir, 'labels.npy'), { dtype: 'int64', shape: [2], data: BigInt64Array.from([1n, 2n]) });
  save(join(dir, 'labels32.npy'), { dtype: 'int32', shape: [2], data: Int32Array.from([1, 2]) });
  save(join(dir, 'labels-float.npy'), { dtype: 'float32', shape: [2], data: Float32Array.from([1, 2]) });
  save(join(dir, 'labels-short.npy'), { dtype: 'int64', shape: [1], data: BigInt64Array.from([1n]) });
  save(join(dir, 'labels-range.npy'), { dtype: 'int64', shape: [2], data: BigInt64Array.from([1n, 10n]) });
  save(join(dir, 'x3.npy'), { dtype: 'float32', shape: [1, 28, 28], data: new Float32Array(784) });
});

const base = (): string[] => ['--arch', 'mini', '--weights', join(dir, 'w.safetensors')];
const base8 = (): string[] => ['--arch', 'mini', '--weights', join(dir, 'w8.safetensors')];

describe('alexnet trace', () => {
  it('writes the input, every layer and a manifest with hashes and statistics; values equal the forward pass', async () => {
    const out = join(dir, 'trace');
    const r = await runCli('trace', ...base(), '--input', join(dir, 'x.npy'), '--out', out);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/trace: 25 tensors and manifest\.json \(mini, float32, eval, reference\)/);
    const manifest = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8'));
    expect(manifest).toMatchObject({
      format: 'alexnet-trace', version: 2, tool: 'alexnet-ts 0.1.0', arch: 'mini', archOptions: { widthDivisor: 1, numClasses: 10 },
      dtype: 'float32', backend: 'reference', mode: 'eval', inputShape: [2, 1, 28, 28],
    });
    expect(manifest.sources.weights).toEqual({ file: 'w.safetensors', format: 'safetensors', sha256: sha256(readFileSync(join(dir, 'w.safetensors'))) });
    expect(manifest.sources.input).toEqual({ file: 'x.npy', sha256: sha256(readFileSync(join(dir, 'x.npy'))) });
    const names = manifest.tensors.map((l: { name: string }) => l.name);
    expect(names).toEqual(['input', ...arch.layers.map((l) => l.name)]);
    const pool5 = manifest.tensors.find((l: { name: string }) => l.name === 'pool5');
    expect(pool5).toMatchObject({ name: 'pool5', kind: 'activation', layer: 'pool5', op: 'maxpool', dtype: 'float32', shape: [2, 128, 2, 2], file: 'pool5.npy' });
    const pass = forward(arch, weights, x, referenceBackend);
    for (const entry of manifest.tensors) {
      const a = npy(join(out, entry.file));
      expect(a.shape).toEqual(entry.shape);
      const expected = entry.name === 'input' ? x.data : pass.outputs.get(entry.name)!.data;
      expect(bytesOf(a.data).equals(bytesOf(expected)), entry.name).toBe(true);
      expect(entry.sha256, entry.name).toBe(sha256(bytesOf(a.data)));
      const v = Array.from(a.data as Float32Array);
      expect(entry.stats.min).toBe(Math.min(...v));
      expect(entry.stats.max).toBe(Math.max(...v));
      expect(entry.stats.mean).toBeCloseTo(v.reduce((s, e) => s + e, 0) / v.length, 12);
      expect(entry.stats.l2).toBeCloseTo(Math.sqrt(v.reduce((s, e) => s + e * e, 0)), 9);
    }
    // nothing but the trace in the folder (no temporary files left)
    expect(readdirSync(out).sort()).toEqual(manifest.tensors.map((l: { file: string }) => l.file).concat('manifest.json').sort());
  });

  it('runs in float64 for a float64 input or --dtype float64, and records our own float32 error per tensor', async () => {
    for (const [input, extra] of [['x64.npy', []], ['x.npy', ['--dtype', 'float64']]] as const) {
      const out = join(dir, `trace64-${input}`);
      const r = await runCli('trace', ...base(), '--input', join(dir, input), ...extra, '--out', out);
      expect(r.status).toBe(0);
      const fc8 = npy(join(out, 'fc8.npy'));
      expect(fc8.dtype).toBe('float64');
      const f32 = forward(arch, weights, x, referenceBackend).logits.data;
      let maxAbs = 0;
      for (let i = 0; i < f32.length; i++) maxAbs = Math.max(maxAbs, Math.abs((fc8.data as Float64Array)[i] - f32[i]));
      expect(maxAbs).toBeLessThan(1e-4);
      const manifest = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8'));
      expect(manifest.dtype).toBe('float64');
      const entry = manifest.tensors.find((t: { name: string }) => t.name === 'fc8');
      expect(entry.reference32.maxAbs).toBe(maxAbs);
      expect(manifest.tensors.find((t: { name: string }) => t.name === 'relu1').reference32.maxAbs).toBeLessThan(1e-5);
    }
  });

  it('two traces of the same inputs are byte-identical (folders and safetensors files)', async () => {
    const args = [...base8(), '--input', join(dir, 'x.npy'), '--backward', '--labels', join(dir, 'labels.npy'), '--train', '--seed', '9'];
    for (const run of ['a', 'b']) {
      expect((await runCli('trace', ...args, '--out', join(dir, `same-${run}`))).status).toBe(0);
      expect((await runCli('trace', ...args, '--format', 'safetensors', '--out', join(dir, `same-${run}.safetensors`))).status).toBe(0);
    }
    const files = readdirSync(join(dir, 'same-a')).sort();
    expect(readdirSync(join(dir, 'same-b')).sort()).toEqual(files);
    for (const f of files) expect(readFileSync(join(dir, 'same-a', f)).equals(readFileSync(join(dir, 'same-b', f))), f).toBe(true);
    expect(readFileSync(join(dir, 'same-a.safetensors')).equals(readFileSync(join(dir, 'same-b.safetensors')))).toBe(true);
    // the safetensors file holds the folder's tensors, and its manifest
    const st = parseSafetensors(readFileSync(join(dir, 'same-a.safetensors')));
    expect([...st.tensors.keys()].sort()).toEqual(files.filter((f) => f.endsWith('.npy')).map((f) => f.slice(0, -4)).sort());
    for (const [name, t] of st.tensors) expect(bytesOf(t.data).equals(bytesOf(npy(join(dir, 'same-a', `${name}.npy`)).data)), name).toBe(true);
    expect(JSON.parse(st.metadata.alexnet_trace).tensors.length).toBe(st.tensors.size);
  });

  it('--image: the picture preprocessed by the architecture\'s preset', async () => {
    const image = new URL('../../fixtures/images/png/rgb.png', import.meta.url).pathname;
    const out = join(dir, 'image-trace');
    const r = await runCli('trace', ...base(), '--image', image, '--out', out);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const input = npy(join(out, 'input.npy'));
    expect(input.shape).toEqual([1, 1, 28, 28]);
    expect(bytesOf(input.data).equals(bytesOf(preprocess(loadImage(image), MINI_PRESET).data))).toBe(true);
    const manifest = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8'));
    expect(manifest.sources.input).toEqual({ file: 'rgb.png', sha256: sha256(readFileSync(image)), preset: 'mini' });
  });

  it('--backward: labels, loss, every layer-output and parameter gradient, input gradient (int64 or int32 labels)', async () => {
    const out = join(dir, 'backward');
    const r = await runCli('trace', ...base8(), '--input', join(dir, 'x.npy'), '--backward', '--labels', join(dir, 'labels32.npy'), '--out', out);
    expect(r.status).toBe(0);
    const expected = makeTrace(arch8, weights8, x, referenceBackend, { labels: Int32Array.from([1, 2]) });
    expect(r.stdout).toContain(`loss ${expected.loss}`);
    const manifest = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8'));
    expect(manifest.tensors.map((t: { name: string }) => t.name)).toEqual(expected.tensors.map((t) => t.name));
    expect(manifest.loss).toBe(expected.loss);
    const names = new Set(manifest.tensors.map((t: { name: string }) => t.name));
    for (const n of ['labels', 'loss', 'fc8.grad', 'relu1.grad', 'conv1.grad', 'input.grad', 'conv1.weight.grad', 'fc8.bias.grad']) expect(names.has(n), n).toBe(true);
    expect(names.has('prob.grad')).toBe(false);
    for (const t of expected.tensors) expect(bytesOf(npy(join(out, `${t.name}.npy`)).data).equals(bytesOf(t.data)), t.name).toBe(true);
    expect(npy(join(out, 'labels.npy')).dtype).toBe('int64');
    expect(npy(join(out, 'loss.npy')).shape).toEqual([]);
  });

  it('--train --seed writes the masks; --masks replays them exactly', async () => {
    const first = join(dir, 'train');
    const args = [...base8(), '--input', join(dir, 'x.npy'), '--backward', '--labels', join(dir, 'labels.npy')];
    expect((await runCli('trace', ...args, '--train', '--seed', '4', '--out', first)).status).toBe(0);
    const mask = npy(join(first, 'drop6.mask.npy'));
    expect(mask.dtype).toBe('uint8');
    expect(mask.shape).toEqual([2, 64]);
    const kept = Array.from(mask.data as Uint8Array).filter((v) => v === 1).length;
    expect(kept).toBeGreaterThan(40);
    expect(kept).toBeLessThan(88);
    const manifest = JSON.parse(readFileSync(join(first, 'manifest.json'), 'utf8'));
    expect(manifest).toMatchObject({ mode: 'train', seed: 4 });
    const replay = join(dir, 'replay');
    const r = await runCli('trace', ...args, '--masks', first, '--out', replay);
    expect(r.stdout).toContain('train');
    for (const f of readdirSync(first).filter((f) => f.endsWith('.npy'))) {
      expect(readFileSync(join(replay, f)).equals(readFileSync(join(first, f))), f).toBe(true);
    }
    // a different seed draws different masks
    const other = join(dir, 'train-other');
    await runCli('trace', ...args, '--train', '--seed', '5', '--out', other);
    expect(readFileSync(join(other, 'drop6.mask.npy')).equals(readFileSync(join(first, 'drop6.mask.npy')))).toBe(false);
  });

  describe('bad input: one line on stderr, status 2, nothing written', () => {
    const cases: [string, () => string[], RegExp][] = [
      ['missing weights file', () => ['--arch', 'mini', '--weights', join(dir, 'nope.safetensors'), '--input', join(dir, 'x.npy')], /nope\.safetensors: no such file/],
      ['missing input file', () => [...base(), '--input', join(dir, 'nope.npy')], /nope\.npy: no such file/],
      ['unknown arch', () => ['--arch', 'lenet', '--weights', join(dir, 'w.safetensors'), '--input', join(dir, 'x.npy')], /unknown architecture "lenet"/],
      ['weights of another architecture', () => ['--arch', 'caffe', '--weights', join(dir, 'w.safetensors'), '--input', join(dir, 'x.npy')], /w\.safetensors: .*(no tensor|shape|channel)/],
      ['non-float input', () => [...base(), '--input', join(dir, 'labels.npy')], /labels\.npy: input must be float32 or float64, got int64/],
      ['input of the wrong rank', () => [...base(), '--input', join(dir, 'x3.npy')], /x3\.npy: input must be a batch \[N, C, H, W\]/],
      ['weights file that is not safetensors', () => ['--arch', 'mini', '--weights', join(dir, 'x.npy'), '--input', join(dir, 'x.npy')], /x\.npy: /],
      ['neither --input nor --image', () => base(), /give either --input X\.npy or --image FILE/],
      ['both --input and --image', () => [...base(), '--input', join(dir, 'x.npy'), '--image', join(dir, 'x.npy')], /give either --input X\.npy or --image FILE/],
      ['an image that is not one', () => [...base(), '--image', join(dir, 'x.npy')], /x\.npy: /],
      ['--backward without labels', () => [...base(), '--input', join(dir, 'x.npy'), '--backward'], /--backward needs --labels/],
      ['labels of the wrong dtype', () => [...base(), '--input', join(dir, 'x.npy'), '--backward', '--labels', join(dir, 'labels-float.npy')], /labels-float\.npy: labels must be int64 or int32 class indices, got float32/],
      ['labels of the wrong length', () => [...base(), '--input', join(dir, 'x.npy'), '--backward', '--labels', join(dir, 'labels-short.npy')], /labels-short\.npy: 1 labels for a batch of 2/],
      ['labels out of range', () => [...base(), '--input', join(dir, 'x.npy'), '--backward', '--labels', join(dir, 'labels-range.npy')], /labels-range\.npy: label 10 of sample 1 is outside \[0, 10\)/],
      ['labels of the wrong rank', () => [...base(), '--input', join(dir, 'x.npy'), '--backward', '--labels', join(dir, 'x.npy')], /x\.npy: labels must be int64 or int32/],
      ['--seed without --train', () => [...base(), '--input', join(dir, 'x.npy'), '--seed', '3'], /--seed is used with --train/],
      ['--masks from a folder without masks', () => [...base(), '--input', join(dir, 'x.npy'), '--masks', join(dir, 'trace')], /trace: no mask for drop6 \(drop6\.mask\.npy\)/],
      ['--masks of the wrong size', () => [...base(), '--input', join(dir, 'x.npy'), '--masks', join(dir, 'badmasks')], /badmasks: mask drop6 has 10 entries, drop6's input \[2, 512\] has 1024/],
      ['--masks that are not 0 or 1', () => [...base(), '--input', join(dir, 'x.npy'), '--masks', join(dir, 'twomasks')], /twomasks: drop6\.mask holds 2 at index 0/],
    ];
    beforeAll(() => {
      mkdirSync(join(dir, 'badmasks'), { recursive: true });
      save(join(dir, 'badmasks', 'drop6.mask.npy'), { dtype: 'uint8', shape: [10], data: new Uint8Array(10) });
      save(join(dir, 'badmasks', 'drop7.mask.npy'), { dtype: 'uint8', shape: [10], data: new Uint8Array(10) });
      mkdirSync(join(dir, 'twomasks'), { recursive: true });
      save(join(dir, 'twomasks', 'drop6.mask.npy'), { dtype: 'uint8', shape: [2, 512], data: new Uint8Array(1024).fill(2) });
      save(join(dir, 'twomasks', 'drop7.mask.npy'), { dtype: 'uint8', shape: [2, 512], data: new Uint8Array(1024) });
    });
    for (const [what, argv, message] of cases) {
      it(what, async () => {
        const out = join(dir, `bad-${what.replace(/\W+/g, '-')}`);
        const r = await runCli('trace', ...argv(), '--out', out);
        expect(r.stderr).toMatch(message);
        expect(r.status).toBe(2);
        expect(r.stdout).toBe('');
        expect(r.stderr.trim().split('\n')).toHaveLength(1);
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

  it('reads back the weights it was given, bit for bit', () => {
    const w = weightsFromSafetensors(readFileSync(join(dir, 'w.safetensors')));
    expect([...w.keys()]).toEqual([...weights.keys()]);
    for (const [k, t] of weights) expect(bytesOf(w.get(k)!.data).equals(bytesOf(t.data)), k).toBe(true);
  });
});

describe('trace --backward against PyTorch autograd, every architecture at 1/8 width (CLI end to end)', () => {
  /** PyTorch's float32 values of net-<arch>.safetensors as a trace folder with our names (no manifest). */
  function writeTorchTrace(folder: string, net: Map<string, StoredTensor>, names: [string, string][]): void {
    mkdirSync(folder, { recursive: true });
    const dtype = { F32: 'float32', F64: 'float64', U8: 'uint8', I64: 'int64', I32: 'int32' } as const;
    for (const [ours, theirs] of names) {
      const t = net.get(theirs);
      if (t) save(join(folder, `${ours}.npy`), { dtype: dtype[t.dtype], shape: t.shape, data: t.data });
    }
  }

  for (const name of ARCH_NAMES) {
    it(name, async () => {
      const net = parseSafetensors(readFileSync(new URL(`../../fixtures/reference/net-${name}.safetensors`, import.meta.url))).tensors;
      const fx = parseSafetensors(readFileSync(new URL(`../../fixtures/reference/trace-${name}.safetensors`, import.meta.url)));
      const a = architecture(name, { widthDivisor: 8, numClasses: 10 });
      const shape = JSON.parse(fx.metadata.input_shape) as number[];
      const d = join(dir, `torch-${name}`);
      mkdirSync(d, { recursive: true });
      writeFileSync(join(d, 'w.safetensors'), weightsToSafetensors(syntheticWeights(a, 1000, shape[2])));
      const input = syntheticInput(7, shape);
      save(join(d, 'x.npy'), { dtype: 'float32', shape, data: input.data });
      save(join(d, 'y.npy'), { dtype: 'int64', shape: [shape[0]], data: BigInt64Array.from(syntheticLabels(11, shape[0], 10), (v) => BigInt(v)) });
      const drops = a.layers.filter((l) => l.kind === 'dropout').map((l) => l.name);
      writeTorchTrace(join(d, 'masks'), net, drops.map((l) => [`${l}.mask`, `mask/${l}`]));
      const args = ['--arch', name, '--weights', join(d, 'w.safetensors'), '--input', join(d, 'x.npy'), '--backward', '--labels', join(d, 'y.npy'), '--masks', join(d, 'masks')];
      expect((await runCli('trace', ...args, '--out', join(d, 'ours32'))).status).toBe(0);
      const r64 = await runCli('trace', ...args, '--dtype', 'float64', '--out', join(d, 'ours64'));
      expect(r64.status).toBe(0);

      // float64: every tensor's samples against float64 PyTorch, to 1e-12 of the tensor's scale
      const manifest = JSON.parse(readFileSync(join(d, 'ours64', 'manifest.json'), 'utf8'));
      let checked = 0;
      for (const e of manifest.tensors) {
        const samples = fx.tensors.get(`samples/train/${e.name}`);
        if (!samples) continue;
        const [min, max] = fx.tensors.get(`stats/train/${e.name}`)!.data as Float64Array;
        const scale = Math.max(Math.abs(min), Math.abs(max));
        const ours = npy(join(d, 'ours64', e.file)).data as Float64Array;
        const s = samples.data as Float64Array;
        for (let j = 0; j < s.length; j++) {
          const i = s.length === 1 ? 0 : Math.floor((j * (ours.length - 1)) / (s.length - 1));
          expect(Math.abs(ours[i] - s[j]) / scale, `${name} ${e.name}[${i}]`).toBeLessThanOrEqual(1e-12);
        }
        checked++;
      }
      expect(checked).toBe(manifest.tensors.length - 1 - drops.length - 1); // all but input, masks, labels

      // float32: PyTorch's float32 autograd as another backend's trace, through `alexnet compare`
      const logits = a.layers[a.layers.length - 2].name;
      writeTorchTrace(join(d, 'torch32'), net, [
        [logits, `train/${logits}`],
        ['loss', 'loss'],
        ['input.grad', 'grad/input'],
        ...a.layers.map((l) => [`${l.name}.grad`, `layergrad/${l.name}`] as [string, string]),
        ...[...net.keys()].filter((k) => k.startsWith('grad/') && k !== 'grad/input').map((k) => [`${k.slice(5)}.grad`, k] as [string, string]),
      ]);
      for (const reference of ['ours32', 'ours64']) {
        const c = await runCli('compare', join(d, reference), join(d, 'torch32'), '--json');
        const report = JSON.parse(c.stdout);
        expect(report.failures, `${name} ${reference}: ${report.firstFailure}`).toBe(0);
        expect(c.status).toBe(0);
        expect(report.tensors.length).toBeGreaterThan(30);
      }
    });
  }
});

describe('alexnet compare', () => {
  beforeAll(async () => {
    await runCli('trace', ...base8(), '--input', join(dir, 'x.npy'), '--backward', '--labels', join(dir, 'labels.npy'), '--out', join(dir, 'cmp-a'));
    await runCli('trace', ...base8(), '--input', join(dir, 'x.npy'), '--backward', '--labels', join(dir, 'labels.npy'), '--dtype', 'float64', '--out', join(dir, 'cmp-64'));
    await runCli('trace', ...base8(), '--input', join(dir, 'x.npy'), '--backward', '--labels', join(dir, 'labels.npy'), '--format', 'safetensors', '--out', join(dir, 'cmp-a.safetensors'));
    // B: A with one element of conv4's output changed, as a folder without a manifest
    mkdirSync(join(dir, 'cmp-b'), { recursive: true });
    for (const f of readdirSync(join(dir, 'cmp-a')).filter((f) => f.endsWith('.npy'))) {
      const a = npy(join(dir, 'cmp-a', f));
      if (f === 'conv4.npy') (a.data as Float32Array)[1234] += 0.05;
      save(join(dir, 'cmp-b', f), a);
    }
  });

  it('identical traces (folder against safetensors file): exit 0', async () => {
    const r = await runCli('compare', join(dir, 'cmp-a'), join(dir, 'cmp-a.safetensors'));
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/ok: all 67 tensors within tolerance/);
  });

  it('a single perturbed element of conv4: exit 1, conv4 named with the element', async () => {
    const r = await runCli('compare', join(dir, 'cmp-a'), join(dir, 'cmp-b'));
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/the first is conv4: max abs error 5\.\d+e-2 at \[1, 10, 1, 4\]/);
    const json = JSON.parse((await runCli('compare', join(dir, 'cmp-a'), join(dir, 'cmp-b'), '--json')).stdout);
    expect(json.firstFailure).toBe('conv4');
    expect(json.tensors.find((t: { name: string }) => t.name === 'conv4').worst.index).toBe(1234);
    expect(json.tensors.find((t: { name: string }) => t.name === 'conv3').pass).toBe(true);
  });

  it('float32 against the float64 golden trace: the float64 side is the reference; --rtol/--atol', async () => {
    const r = await runCli('compare', join(dir, 'cmp-a'), join(dir, 'cmp-64'));
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/reference B: .*cmp-64 \(float64, reference\)/);
    expect(r.stdout).toMatch(/float32 rounding: our own float32 pass/);
    expect((await runCli('compare', join(dir, 'cmp-a'), join(dir, 'cmp-64'), '--rtol', '0', '--atol', '0')).status).toBe(1);
    expect((await runCli('compare', join(dir, 'cmp-a', 'fc8.npy'), join(dir, 'cmp-b', 'fc8.npy'), '--atol', '1e-3')).status).toBe(0);
  });

  describe('bad input: one line, exit 2', () => {
    beforeAll(async () => {
      const other = syntheticInput(4, [1, 1, 28, 28]);
      save(join(dir, 'x1.npy'), { dtype: 'float32', shape: [1, 1, 28, 28], data: other.data });
      await runCli('trace', ...base8(), '--input', join(dir, 'x1.npy'), '--out', join(dir, 'cmp-n1'));
      const caffe = architecture('caffe', { widthDivisor: 8, numClasses: 10 });
      writeFileSync(join(dir, 'caffe.safetensors'), weightsToSafetensors(syntheticWeights(caffe, 1, 67)));
      save(join(dir, 'xc.npy'), { dtype: 'float32', shape: [1, 3, 67, 67], data: syntheticInput(1, [1, 3, 67, 67]).data });
      await runCli('trace', '--arch', 'caffe', '--weights', join(dir, 'caffe.safetensors'), '--input', join(dir, 'xc.npy'), '--out', join(dir, 'cmp-caffe'));
      mkdirSync(join(dir, 'cmp-missing'), { recursive: true });
      writeFileSync(join(dir, 'cmp-missing', 'manifest.json'), readFileSync(join(dir, 'cmp-a', 'manifest.json')));
    });
    const cases: [string, () => string[], RegExp][] = [
      ['mismatched shapes', () => [join(dir, 'cmp-a'), join(dir, 'cmp-n1')], /input has shape \[2, 1, 28, 28\] in .*cmp-a but \[1, 1, 28, 28\] in .*cmp-n1/],
      ['a trace of another architecture', () => [join(dir, 'cmp-a'), join(dir, 'cmp-caffe')], /cmp-a is a trace of mini, .*cmp-caffe of caffe/],
      ['a manifest whose files are missing', () => [join(dir, 'cmp-a'), join(dir, 'cmp-missing')], /cmp-missing: manifest\.json lists input in input\.npy, which is missing/],
      ['no such folder', () => [join(dir, 'cmp-a'), join(dir, 'nope')], /nope: no such file or folder/],
      ['one trace only', () => [join(dir, 'cmp-a')], /give two traces/],
      ['a negative tolerance', () => [join(dir, 'cmp-a'), join(dir, 'cmp-a'), '--rtol', '-1'], /--rtol must be a non-negative number/],
    ];
    for (const [what, argv, message] of cases) {
      it(what, async () => {
        const r = await runCli('compare', ...argv());
        expect(r.stderr).toMatch(message);
        expect(r.status).toBe(2);
        expect(r.stdout).toBe('');
        expect(r.stderr.trim().split('\n')).toHaveLength(1);
      });
    }
  });
});

describe('alexnet export', () => {
  it('writes an ONNX model that onnxruntime-node runs to our outputs', async () => {
    const out = join(dir, 'mini.onnx');
    const r = await runCli('export', '--weights', join(dir, 'w.safetensors'), '--format', 'onnx', '--out', out);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/mini\.onnx: ONNX opset 13, mini, input \[N, 1, 28, 28\]/);
    const session = await ort.InferenceSession.create(readFileSync(out));
    const result = await session.run({ input: new ort.Tensor('float32', x.data, [...x.shape]) });
    const logits = forward(arch, weights, x, referenceBackend).logits.data;
    const got = result.fc8.data as Float32Array;
    let err = 0;
    let scale = 0;
    for (let i = 0; i < logits.length; i++) {
      err = Math.max(err, Math.abs(got[i] - logits[i]));
      scale = Math.max(scale, Math.abs(logits[i]));
    }
    expect(err / scale).toBeLessThan(1e-5);
  });

  it('bad input: exit 2', async () => {
    const r = await runCli('export', '--weights', join(dir, 'x.npy'), '--out', join(dir, 'bad.onnx'));
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/x\.npy: this is a single NumPy array/);
    expect(existsSync(join(dir, 'bad.onnx'))).toBe(false);
    expect((await runCli('export', '--weights', join(dir, 'w.safetensors'), '--arch', 'caffe', '--out', join(dir, 'bad.onnx'))).status).toBe(2);
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
