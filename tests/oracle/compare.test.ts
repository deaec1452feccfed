/**
 * compareTraces: errors, the default tolerance, the first failure in trace order, and the bad
 * inputs it refuses. Traces are made in memory (mini at full width, batch 2) and read back
 * through the same readers the CLI uses.
 */

import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { referenceBackend } from '../../src/backend/reference.js';
import { UserError } from '../../src/errors.js';
import { architecture } from '../../src/model/architectures.js';
import { syntheticInput, syntheticLabels, syntheticWeights } from '../../src/model/synthetic.js';
import { compareTraces, formatReport, ulp32 } from '../../src/oracle/compare.js';
import { defaultTolerance, roundingCounts } from '../../src/oracle/tolerance.js';
import { type LoadedTrace, traceFiles, traceFromFiles, traceFromSafetensors, traceSafetensors } from '../../src/oracle/trace-files.js';
import { makeTrace } from '../../src/oracle/trace.js';

const arch = architecture('mini');
const weights = syntheticWeights(arch, 3);
const x = syntheticInput(4, [2, 1, 28, 28]);
const labels = syntheticLabels(5, 2, 10);
const trace32 = makeTrace(arch, weights, x, referenceBackend, { labels });
const trace64 = makeTrace(arch, weights, x, referenceBackend, { labels, dtype: 'float64' });

/** A deep copy read back from the folder layout, so tests can perturb it. */
const hash = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

function folder(t: typeof trace32, label: string): LoadedTrace {
  const files = traceFiles(t, { hash });
  return traceFromFiles(label, new Map([...files].map(([k, v]) => [k, v.slice()])));
}

function expectUserError(fn: () => unknown, message: RegExp): void {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(UserError);
  expect((caught as Error).message).toMatch(message);
  expect((caught as Error).message).not.toContain('\n');
}

describe('ulp32', () => {
  it('is the float32 spacing at |x|', () => {
    expect(ulp32(1)).toBe(2 ** -23);
    expect(ulp32(1.5)).toBe(2 ** -23);
    expect(ulp32(2)).toBe(2 ** -22);
    expect(ulp32(Math.fround(2 - 2 ** -23))).toBe(2 ** -23);
    expect(ulp32(-3)).toBe(2 ** -22);
    expect(ulp32(0.1)).toBe(2 ** -27);
    expect(ulp32(2 ** -126)).toBe(2 ** -149);
    expect(ulp32(1e-40)).toBe(2 ** -149);
    expect(ulp32(0)).toBe(2 ** -149);
    for (let e = -120; e < 120; e += 7) expect(ulp32(2 ** e * 1.7), `2^${e}`).toBe(2 ** (e - 23));
  });
});

describe('compareTraces', () => {
  it('a trace against itself: every tensor exact, cosine 1, pass', () => {
    const r = compareTraces(folder(trace32, 'A'), folder(trace32, 'B'));
    expect(r.pass).toBe(true);
    expect(r.tensors.map((c) => c.name)).toEqual(trace32.tensors.map((t) => t.name));
    for (const c of r.tensors) {
      expect(c.maxAbs, c.name).toBe(0);
      expect(c.ulps).toBe(0);
      if (c.kind === 'float') expect(c.cosine).toBeCloseTo(1, 12);
    }
    expect(formatReport(r)).toMatch(/ok: all \d+ tensors within tolerance/);
  });

  it('a single perturbed element in one layer fails that layer and names it first', () => {
    for (const layer of ['conv3', 'pool2', 'fc7', 'conv4.grad', 'conv2.weight.grad']) {
      const b = folder(trace32, 'B');
      const t = b.tensors.get(layer)!;
      const data = t.data as Float32Array;
      let scale = 0;
      for (const v of data) scale = Math.max(scale, Math.abs(v));
      const i = Math.floor(data.length / 3);
      data[i] += 1e-3 * scale; // ~8000 ulps of the largest value
      const r = compareTraces(folder(trace32, 'A'), b);
      expect(r.pass, layer).toBe(false);
      expect(r.firstFailure).toBe(layer);
      expect(r.failures).toBe(1);
      const c = r.tensors.find((e) => e.name === layer)!;
      expect(c.worst.index).toBe(i);
      expect(c.maxAbs).toBeCloseTo(1e-3 * scale, 6);
      expect(formatReport(r)).toContain(`the first is ${layer}`);
    }
  });

  it('a backend with one wrong op: everything after it fails too, and the first failure names that op', () => {
    const wrongLrn = { ...referenceBackend, name: 'wrong-lrn', lrnForward: ((xx, p) => referenceBackend.lrnForward(xx, { ...p, k: 1 })) as typeof referenceBackend.lrnForward };
    const theirs = makeTrace(arch, weights, x, wrongLrn, { labels });
    const r = compareTraces(folder(trace64, 'golden'), folder(theirs, 'theirs'));
    expect(r.firstFailure).toBe('norm1');
    expect(r.failures).toBeGreaterThan(10);
    expect(r.tensors.find((c) => c.name === 'relu1')!.pass).toBe(true);
    expect(r.test.backend).toBe('wrong-lrn');
  });

  it('a gradient routed to the other side of a max-pool near-tie is diagnosed as a kink, not a bug', () => {
    const A = folder(trace32, 'A');
    const B = folder(trace32, 'B');
    // In pool5's first window, make the runner-up 1 ulp below the maximum in A and 1 ulp above in B,
    // and route B's gradient of that window to it, as a backend that rounds the other way would.
    const spec = arch.layers.find((l) => l.name === 'pool5')!;
    expect(spec.kind).toBe('maxpool');
    const W = A.tensors.get('relu5')!.shape[3];
    const ra = A.tensors.get('relu5')!.data as Float32Array;
    const rb = B.tensors.get('relu5')!.data as Float32Array;
    const window = [0, 1, 2, W, W + 1, W + 2, 2 * W, 2 * W + 1, 2 * W + 2];
    const sorted = [...window].sort((i, j) => ra[j] - ra[i] || i - j);
    const [top, second] = sorted;
    expect(ra[top]).toBeGreaterThan(0);
    ra[second] = ra[top] - ulp32(ra[top]);
    rb[second] = ra[top] + ulp32(ra[top]);
    const ga = A.tensors.get('relu5.grad')!.data as Float32Array;
    const gb = B.tensors.get('relu5.grad')!.data as Float32Array;
    expect(ga[top]).not.toBe(0);
    gb[second] = ga[second] + ga[top]; // the window's dy moves to the new maximum
    gb[top] = 0;
    const r = compareTraces(A, B);
    expect(r.tensors.find((c) => c.name === 'relu5')!.pass).toBe(true);
    expect(r.firstFailure).toBe('relu5.grad');
    expect(r.kink?.kind).toBe('maxpool-tie');
    expect(r.kink?.message).toMatch(/1 window of pool5 picks a different maximum, .* not a bug, this input sits on a kink/);
    expect(formatReport(r)).toMatch(/note: 1 window of pool5/);
  });

  it('the default tolerance is 16 u sqrt(K) of max |R|: a perturbation just inside passes, just outside fails', () => {
    const K = roundingCounts(arch, x.shape).get('fc6')!;
    const tol = defaultTolerance(K, 'float32');
    for (const [factor, pass] of [[0.9, true], [1.1, false]] as const) {
      const b = folder(trace32, 'B');
      const data = b.tensors.get('fc6')!.data as Float32Array;
      let scale = 0;
      for (const v of data) scale = Math.max(scale, Math.abs(v));
      data[5] = Math.fround(data[5] + factor * tol * scale);
      const c = compareTraces(folder(trace32, 'A'), b).tensors.find((e) => e.name === 'fc6')!;
      expect(c.tolerance.rule).toBe('default');
      expect(c.tolerance.roundings).toBe(K);
      expect(c.pass, `x${factor}`).toBe(pass);
    }
  });

  it('--rtol/--atol: element-wise |T - R| <= atol + rtol |R|', () => {
    const b = folder(trace32, 'B');
    const data = b.tensors.get('conv1')!.data as Float32Array;
    const i = data.findIndex((v) => Math.abs(v) > 0.5);
    const ref = data[i];
    data[i] = ref * (1 + 1e-3);
    expect(compareTraces(folder(trace32, 'A'), b, { rtol: 2e-3 }).pass).toBe(true);
    const r = compareTraces(folder(trace32, 'A'), b, { rtol: 5e-4 });
    expect(r.firstFailure).toBe('conv1');
    expect(compareTraces(folder(trace32, 'A'), b, { atol: Math.abs(ref) * 2e-3 }).pass).toBe(true);
    expect(r.tensors.find((c) => c.name === 'conv1')!.maxRel).toBeCloseTo(1e-3, 6);
  });

  it('float64 against float32: the float64 side is the reference, and our own float32 error is shown', () => {
    const golden = traceFromSafetensors('golden', traceSafetensors(trace64, { hash }));
    const r = compareTraces(folder(trace32, 'mine'), golden); // float32 given first
    expect(r.reference.label).toBe('golden');
    expect(r.reference.side).toBe('B');
    expect(r.pass).toBe(true);
    const fc8 = r.tensors.find((c) => c.name === 'fc8')!;
    // our float32 trace is the float32 pass the golden trace recorded: its error is 1x that
    expect(fc8.float32!.ratio).toBeCloseTo(1, 10);
    expect(formatReport(r)).toMatch(/float32 rounding: our own float32 pass/);
  });

  it('integer tensors (labels, masks) must be equal', () => {
    const t = makeTrace(arch, weights, x, referenceBackend, { labels, train: true, seed: 1 });
    const b = folder(t, 'B');
    const mask = b.tensors.get('drop6.mask')!.data as Uint8Array;
    mask[3] ^= 1;
    const r = compareTraces(folder(t, 'A'), b);
    expect(r.firstFailure).toBe('drop6.mask');
    expect(r.tensors.find((c) => c.name === 'drop6.mask')!.tolerance.rule).toBe('exact');
  });

  it('another backend\'s folder without a manifest: the architecture is read off the shapes', () => {
    const files = traceFiles(trace32, { hash });
    files.delete('manifest.json');
    files.delete('fc8.npy'); // a missing tensor is listed, not an error
    const theirs = traceFromFiles('theirs', files);
    expect(theirs.manifest).toBeUndefined();
    const r = compareTraces(theirs, folder(trace32, 'ours'));
    expect(r.pass).toBe(true);
    expect(r.onlyInTest).toEqual(['fc8']);
    // neither side with a manifest: still found from input, conv1 and fc8's shapes
    const plain = traceFiles(trace32, { hash });
    plain.delete('manifest.json');
    expect(compareTraces(traceFromFiles('a', plain), traceFromFiles('b', plain)).arch).toBe('mini');
  });

  describe('bad input: a UserError of one line', () => {
    it('mismatched shapes', () => {
      const other = makeTrace(arch, weights, syntheticInput(4, [1, 1, 28, 28]), referenceBackend);
      expectUserError(() => compareTraces(folder(trace32, 'A'), folder(other, 'B')), /input has shape \[2, 1, 28, 28\] in A but \[1, 1, 28, 28\] in B/);
    });

    it('a trace of another architecture', () => {
      const caffe = architecture('caffe', { widthDivisor: 8, numClasses: 10 });
      const t = makeTrace(caffe, syntheticWeights(caffe, 1, 67), syntheticInput(1, [1, 3, 67, 67]), referenceBackend);
      expectUserError(() => compareTraces(folder(trace32, 'A'), folder(t, 'B')), /A is a trace of mini, B of caffe/);
    });

    it('a manifest that lists a missing file', () => {
      const files = traceFiles(trace32, { hash });
      files.delete('conv3.npy');
      expectUserError(() => traceFromFiles('T', files), /T: manifest\.json lists conv3 in conv3\.npy, which is missing/);
    });

    it('nothing in common', () => {
      const a: LoadedTrace = { label: 'A', tensors: new Map([['foo', { dtype: 'float32', shape: [1], data: new Float32Array(1) }]]) };
      expectUserError(() => compareTraces(a, folder(trace32, 'B')), /A and B have no tensor in common/);
    });

    it('no manifest and no way to tell the architecture (without --rtol)', () => {
      const a: LoadedTrace = { label: 'A', tensors: new Map([['foo', { dtype: 'float32', shape: [1], data: new Float32Array(1) }]]) };
      expectUserError(() => compareTraces(a, a), /pass --arch, or --rtol\/--atol/);
      expect(compareTraces(a, a, { atol: 0 }).pass).toBe(true);
    });

    it('a float tensor against an integer one', () => {
      const b = folder(trace32, 'B');
      b.tensors.set('labels', { dtype: 'float32', shape: [2], data: new Float32Array(2) });
      expectUserError(() => compareTraces(folder(trace32, 'A'), b), /labels is int64 in A but float32 in B/);
    });
  });
});
