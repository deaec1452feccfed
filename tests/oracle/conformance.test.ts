/**
 * runConformance: the reference backend passes every op in float32 and float64; backends with
 * the classic mistakes fail the op they got wrong, and only that op.
 */

import { describe, expect, it } from 'vitest';
import type { Backend } from '../../src/backend/backend.js';
import { referenceBackend } from '../../src/backend/reference.js';
import * as ops from '../../src/ops/index.js';
import { CONFORMANCE_CASES, formatConformance, runConformance } from '../../src/oracle/conformance.js';
import type { Tensor } from '../../src/tensor.js';

function failing(backend: Backend): string[] {
  const report = runConformance(backend);
  return report.results.filter((r) => r.failures.length > 0).map((r) => `${r.op} ${r.direction}`);
}

describe('runConformance', () => {
  it('the reference backend passes every op, forward and backward, float32 and float64', () => {
    const report = runConformance(referenceBackend, { dtypes: ['float32', 'float64'] });
    expect(formatConformance(report)).toContain('all ops pass');
    expect(report.pass).toBe(true);
    const ops = new Set(report.results.map((r) => r.op));
    expect([...ops].sort()).toEqual(['adaptiveavgpool', 'conv2d', 'crossentropy', 'dropout', 'linear', 'lrn', 'maxpool', 'relu', 'softmax']);
    for (const r of report.results) expect(r.passed, `${r.op} ${r.direction}`).toBe(r.cases);
    expect(CONFORMANCE_CASES.length).toBeGreaterThan(40);
  });

  it('dropout scaled by 1/p instead of 1/(1 - p) (p and 1 - p swapped: invisible at p = 0.5)', () => {
    const bad: Backend = { ...referenceBackend, name: 'dropout-swapped-p', dropoutForward: (x, p, mask) => ops.dropoutForward(x, 1 - p, mask) };
    const report = runConformance(bad, { ops: ['dropout'] });
    expect(report.results.map((r) => [r.direction, r.passed, r.cases])).toEqual([['forward', 1, 3], ['backward', 1, 3]]);
    expect(failing(bad)).toEqual(['dropout forward', 'dropout backward']);
  });

  it('LRN with alpha not divided by n where it should be', () => {
    const bad: Backend = { ...referenceBackend, name: 'lrn-alpha', lrnForward: (x, p) => ops.lrnForward(x, { ...p, divideAlphaByN: false }) };
    expect(failing(bad)).toEqual(['lrn forward', 'lrn backward']);
  });

  it('max-pool gradient to the last maximum of a tie', () => {
    const bad: Backend = {
      ...referenceBackend,
      name: 'ties-to-last',
      maxPoolForward: (x, p) => {
        // Mirror the planes, pool, mirror back: ties now go to the last maximum in row-major order.
        const flip = <T extends Tensor>(t: T): T => {
          const [N, C, H, W] = t.shape;
          const out = t.data.slice() as T['data'];
          for (let pl = 0; pl < N * C; pl++) for (let i = 0; i < H * W; i++) out[pl * H * W + i] = t.data[pl * H * W + H * W - 1 - i];
          return { data: out, shape: t.shape } as T;
        };
        const [top, left, bottom, right] = p.pads;
        const r = ops.maxPoolForward(flip(x), { ...p, pads: [bottom, right, top, left] });
        return { y: flip(r.y), cache: { flipped: r.cache } };
      },
      maxPoolBackward: (cache, dy) => {
        const flip = (t: Tensor): Tensor => {
          const [N, C, H, W] = t.shape;
          const out = t.data.slice();
          for (let pl = 0; pl < N * C; pl++) for (let i = 0; i < H * W; i++) out[pl * H * W + i] = t.data[pl * H * W + H * W - 1 - i];
          return { data: out, shape: t.shape };
        };
        return { dx: flip(ops.maxPoolBackward((cache as { flipped: ops.MaxPoolCache }).flipped, flip(dy)).dx) } as never;
      },
    };
    const f = failing(bad);
    expect(f).toContain('maxpool backward');
    expect(f.every((x) => x.startsWith('maxpool'))).toBe(true);
  });

  it('a convolution that ignores groups, and one that throws: reported, not thrown', () => {
    const noGroups: Backend = {
      ...referenceBackend,
      name: 'throws-on-groups',
      conv2dForward: (x, w, b, p) => {
        if (p.groups !== 1) throw new Error('groups are not supported');
        return ops.conv2dForward(x, w, b, p);
      },
    };
    const report = runConformance(noGroups, { ops: ['conv2d'] });
    expect(report.pass).toBe(false);
    const fwd = report.results.find((r) => r.direction === 'forward')!;
    expect(fwd.failures.some((f) => /the backend threw: groups are not supported/.test(f))).toBe(true);
    expect(fwd.failures[0]).toMatch(/seed \d+/);
  });

  it('a float32 backend that accumulates in float32 (sequential sums) still passes', () => {
    const f = Math.fround;
    const naive: Backend = {
      ...referenceBackend,
      name: 'float32-sums',
      linearForward: ((x: Tensor, w: Tensor, b: Tensor | null) => {
        if (!(x.data instanceof Float32Array)) return ops.linearForward(x, w, b);
        const [N, IN] = x.shape;
        const OUT = w.shape[0];
        const y = new Float32Array(N * OUT);
        for (let n = 0; n < N; n++) {
          for (let o = 0; o < OUT; o++) {
            let acc = 0;
            for (let k = 0; k < IN; k++) acc = f(acc + f(x.data[n * IN + k] * w.data[o * IN + k]));
            y[n * OUT + o] = f(acc + b!.data[o]);
          }
        }
        return { y: { data: y, shape: [N, OUT] }, cache: ops.linearForward(x, w, b).cache };
      }) as Backend['linearForward'],
    };
    expect(failing(naive)).toEqual([]);
  });
});
