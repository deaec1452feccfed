/**
 * docs/numbers.md cannot go stale: every part between `<!-- generated: ID -->` markers must be
 * exactly what tests/docs/numbers.ts computes from summarize(). UPDATE_DOCS=1 rewrites the page.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { architecture } from '../../src/model/architectures.js';
import { summarize } from '../../src/model/summary.js';
import { runCli } from '../helpers/cli.js';
import { MARKER, generate, regenerate } from './numbers.js';

const PAGE = 'docs/numbers.md';

describe('docs/numbers.md', () => {
  let page = readFileSync(PAGE, 'utf8');
  if (process.env.UPDATE_DOCS) {
    const fresh = regenerate(page);
    if (fresh !== page) writeFileSync(PAGE, fresh);
    page = fresh;
  }

  const parts = [...page.matchAll(MARKER)].map((m) => ({ id: m[1], text: m[2] }));

  it('has the generated parts it should', () => {
    expect(parts.map((p) => p.id)).toEqual(['totals', 'worked:caffe:227', 'layers:caffe:227', 'layers:torchvision:224', 'worked:torchvision:224', 'layers:mini:28']);
    // Every opening marker is matched by a closing one.
    expect(page.match(/<!-- generated: /g)).toHaveLength(parts.length);
    expect(page.match(/<!-- end generated -->/g)).toHaveLength(parts.length);
  });

  it.each(['totals', 'worked:caffe:227', 'layers:caffe:227', 'layers:torchvision:224', 'worked:torchvision:224', 'layers:mini:28'])(
    '%s matches summarize() (UPDATE_DOCS=1 rewrites it)',
    (id) => {
      const part = parts.find((p) => p.id === id);
      expect(part, `no generated part ${id}`).toBeDefined();
      expect(part!.text).toBe(generate(id));
    },
  );

  it('the tables say what alexnet summary prints', async () => {
    for (const [arch, size] of [['torchvision', 224], ['caffe', 227], ['mini', 28]] as const) {
      const r = await runCli('summary', '--arch', arch);
      expect(r.status).toBe(0);
      const s = summarize(architecture(arch), size);
      const total = r.stdout.trim().split('\n').at(-1)!;
      expect(total).toContain(s.totalParams.toLocaleString('en-US'));
      expect(total).toContain(s.totalMacs.toLocaleString('en-US'));
      const table = generate(`layers:${arch}:${size}`);
      for (const l of s.layers) {
        const printed = r.stdout.split('\n').find((line) => line.startsWith(`${l.name} `))!;
        expect(printed, l.name).toContain(l.outShape.join('x'));
        expect(table).toContain(`| ${l.name} | ${l.op} | ${l.outShape.join('×')} | ${l.params.toLocaleString('en-US')} |`);
      }
    }
  });

  it('the claims of the prose hold: paper counts as caffe; the published totals', () => {
    const paper = summarize(architecture('paper'));
    const caffe = summarize(architecture('caffe'));
    expect([paper.totalParams, paper.totalMacs, paper.totalActivationBytes]).toEqual([caffe.totalParams, caffe.totalMacs, caffe.totalActivationBytes]);
    expect([caffe.totalParams, caffe.totalMacs]).toEqual([60_965_224, 724_406_816]);
    const tv = summarize(architecture('torchvision'));
    expect([tv.totalParams, tv.totalMacs]).toEqual([61_100_840, 714_188_480]);
    expect(tv.totalParams).toBeGreaterThan(caffe.totalParams);
    expect(tv.totalMacs).toBeLessThan(caffe.totalMacs);
    // "The paper's units per layer: all but the first agree"
    const units = caffe.layers.filter((l) => l.op === 'conv' || l.op === 'linear').map((l) => l.outShape.reduce((a, b) => a * b, 1));
    expect(units.slice(1)).toEqual([186_624, 64_896, 64_896, 43_264, 4096, 4096, 1000]);
    expect(Number.isInteger(Math.sqrt(253_440 / 96))).toBe(false);
    expect(page).toContain('253,440 – 186,624 – 64,896 – 64,896\n– 43,264 – 4096 – 4096 – 1000');
  });
});
