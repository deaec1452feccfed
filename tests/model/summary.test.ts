import { describe, expect, it } from 'vitest';
import { ARCH_NAMES, architecture } from '../../src/model/architectures.js';
import { summarize } from '../../src/model/summary.js';
import { runCli } from '../helpers/cli.js';

describe('summary', () => {
  // Published totals (torchvision docs, Caffe's bvlc_alexnet; see shared alexnet.md, section 1).
  it('torchvision at 224: 61,100,840 parameters and 714,188,480 MACs', () => {
    const s = summarize(architecture('torchvision'), 224);
    expect(s.totalParams).toBe(61_100_840);
    expect(s.totalMacs).toBe(714_188_480);
    const conv = s.layers.filter((l) => l.op === 'conv').reduce((a, l) => a + l.macs, 0);
    expect(conv).toBe(655_566_528);
  });

  it('caffe at 227: 60,965,224 parameters and 724,406,816 MACs', () => {
    const s = summarize(architecture('caffe'), 227);
    expect(s.totalParams).toBe(60_965_224);
    expect(s.totalMacs).toBe(724_406_816);
    expect(s.layers.filter((l) => l.op === 'conv').reduce((a, l) => a + l.macs, 0)).toBe(665_784_864);
  });

  it('the classic feature-map sizes: 55, 27, 13, 6', () => {
    for (const name of ['caffe', 'caffenet', 'paper'] as const) {
      const shape = (layer: string) => summarize(architecture(name)).layers.find((l) => l.name === layer)!.outShape;
      expect(shape('conv1')).toEqual([96, 55, 55]);
      expect(shape('pool1')).toEqual([96, 27, 27]);
      expect(shape('pool2')).toEqual([256, 13, 13]);
      expect(shape('pool5')).toEqual([256, 6, 6]);
      expect(shape('fc6')).toEqual([4096]);
    }
    const tv = summarize(architecture('torchvision')).layers;
    expect(tv.find((l) => l.name === 'conv1')!.outShape).toEqual([64, 55, 55]);
    expect(tv.find((l) => l.name === 'avgpool')!.outShape).toEqual([256, 6, 6]);
  });

  it('mini ends its features at 128x2x2 and has 10 outputs', () => {
    const s = summarize(architecture('mini'));
    expect(s.layers.find((l) => l.name === 'pool5')!.outShape).toEqual([128, 2, 2]);
    expect(s.layers.find((l) => l.name === 'fc8')!.outShape).toEqual([10]);
    expect(s.inputShape).toEqual([1, 28, 28]);
  });

  it('torchvision at 256 keeps 9216 fc6 inputs through the adaptive pool; caffe does not', () => {
    const tv = summarize(architecture('torchvision'), 256);
    expect(tv.totalParams).toBe(61_100_840);
    const caffe = summarize(architecture('caffe'), 259);
    expect(caffe.totalParams).not.toBe(60_965_224);
  });

  it('every architecture has Caffe layer names ending in fc8, prob', () => {
    for (const name of ARCH_NAMES) {
      const names = architecture(name).layers.map((l) => l.name);
      expect(names.slice(-2)).toEqual(['fc8', 'prob']);
      expect(new Set(names).size).toBe(names.length);
    }
  });
});

describe('alexnet summary', () => {
  it('prints a table with the totals', async () => {
    const r = await runCli('summary', '--arch', 'torchvision');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('61,100,840');
    expect(r.stdout).toContain('714,188,480');
    expect(r.stdout).toMatch(/conv1\s+conv\s+64x55x55/);
  });

  it('prints JSON with --json', async () => {
    const r = await runCli('summary', '--arch', 'caffe', '--json');
    const s = JSON.parse(r.stdout);
    expect(s.totalParams).toBe(60_965_224);
    expect(s.totalMacs).toBe(724_406_816);
    expect(s.layers[0]).toMatchObject({ name: 'conv1', op: 'conv', outShape: [96, 55, 55] });
  });

  it('rejects an unknown architecture, a missing --arch and a too small input in one line, status 2', async () => {
    for (const argv of [
      ['summary', '--arch', 'vgg'],
      ['summary'],
      ['summary', '--arch', 'caffe', '--input-size', '30'],
      ['summary', '--arch', 'caffe', '--input-size', 'big'],
      ['summary', '--arch', 'caffe', '--bogus'],
    ]) {
      const r = await runCli(...argv);
      expect(r.status, argv.join(' ')).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(/^alexnet: /);
    }
  });
});
