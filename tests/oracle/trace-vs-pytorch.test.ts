/**
 * Traces against PyTorch 1.13 on the five architectures at 1/8 width (10 classes, batch 2):
 *
 *   - float64 traces (eval forward; forward, loss and every gradient of a training evaluation with
 *     PyTorch's dropout masks) against float64 PyTorch: fixtures/reference/trace-<arch>.safetensors,
 *     written by fixtures/make_trace_fixtures.py (samples and statistics of every tensor). Both
 *     sides sum in float64 in different orders: they agree to ~1e-15 of each tensor's scale.
 *   - float32 traces against float32 PyTorch (fixtures/reference/net-<arch>.safetensors, whole
 *     tensors) through compareTraces with the default tolerances; and PyTorch's float32 values,
 *     laid out as another backend's trace, against our float64 golden trace: the calibration of
 *     the default tolerances (tolerance.ts), printed after the run.
 */

import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { referenceBackend } from '../../src/backend/reference.js';
import { parseSafetensors, type SafetensorsFile, type StoredTensor } from '../../src/formats/safetensors.js';
import { ARCH_NAMES, type ArchName, architecture } from '../../src/model/architectures.js';
import { syntheticInput, syntheticLabels, syntheticWeights } from '../../src/model/synthetic.js';
import { compareTraces } from '../../src/oracle/compare.js';
import { SAFETY, UNIT_ROUNDOFF, roundingCounts } from '../../src/oracle/tolerance.js';
import { type LoadedTensor, type LoadedTrace, traceFromSafetensors, traceSafetensors } from '../../src/oracle/trace-files.js';
import { type Trace, makeTrace } from '../../src/oracle/trace.js';

const WEIGHT_SEED = 1000;
const INPUT_SEED = 7;
const LABEL_SEED = 11;
const OPTIONS = { widthDivisor: 8, numClasses: 10 };

/** float64 against float64 PyTorch, as |ours - torch| / max |torch tensor|: worst seen 3.1e-15. */
const TOL_F64 = 1e-12;

function fixture(path: string): SafetensorsFile {
  return parseSafetensors(new Uint8Array(readFileSync(new URL(`../../fixtures/reference/${path}`, import.meta.url))));
}

const worst = new Map<string, { err: number; where: string }>();
function record(group: string, err: number, where: string): void {
  const prev = worst.get(group);
  if (!prev || !(err <= prev.err)) worst.set(group, { err, where });
}

/** Ours against the fixture's samples/<prefix><name> and stats/<prefix><name>. */
function checkSamples(fx: SafetensorsFile, prefix: string, trace: Trace, arch: ArchName): number {
  let checked = 0;
  for (const t of trace.tensors) {
    if (t.kind === 'labels' || t.kind === 'mask' || t.kind === 'input') continue;
    const samples = fx.tensors.get(`samples/${prefix}${t.name}`);
    const stats = fx.tensors.get(`stats/${prefix}${t.name}`);
    if (!samples || !stats) throw new Error(`trace-${arch}.safetensors has no samples/stats for ${prefix}${t.name}`);
    const s = samples.data as Float64Array;
    const [min, max, mean, l2] = stats.data as Float64Array;
    const scale = Math.max(Math.abs(min), Math.abs(max), 1e-300);
    const n = t.data.length;
    const m = s.length;
    let err = 0;
    let at = 0;
    for (let j = 0; j < m; j++) {
      const i = m === 1 ? 0 : Math.floor((j * (n - 1)) / (m - 1));
      const d = Math.abs(Number(t.data[i]) - s[j]) / scale;
      if (!(d <= err)) {
        err = d;
        at = i;
      }
    }
    let omin = Infinity;
    let omax = -Infinity;
    let sum = 0;
    let sq = 0;
    for (const v of t.data as Float64Array) {
      omin = Math.min(omin, v);
      omax = Math.max(omax, v);
      sum += v;
      sq += v * v;
    }
    const statErr = Math.max(Math.abs(omin - min), Math.abs(omax - max), Math.abs(sum / n - mean)) / scale;
    const l2Err = Math.abs(Math.sqrt(sq) - l2) / Math.max(l2, 1e-300);
    record(`float64 ${prefix.slice(0, -1)}`, Math.max(err, statErr, l2Err), `${arch} ${t.name}`);
    if (!(err <= TOL_F64) || !(statErr <= TOL_F64) || !(l2Err <= TOL_F64)) {
      throw new Error(`${arch} ${prefix}${t.name}: float64 error ${err.toExponential(2)} at ${at} (stats ${statErr.toExponential(2)}, L2 ${l2Err.toExponential(2)}) > ${TOL_F64}`);
    }
    checked++;
  }
  return checked;
}

/** PyTorch's float32 tensors of net-<arch>.safetensors, laid out as a trace (names as ours). */
function pytorchTrace(net: SafetensorsFile, arch: ReturnType<typeof architecture>, which: 'eval' | 'train'): LoadedTrace {
  const tensors = new Map<string, LoadedTensor>();
  const put = (name: string, t: StoredTensor | undefined): void => {
    if (t) tensors.set(name, { dtype: t.dtype === 'F32' ? 'float32' : t.dtype === 'U8' ? 'uint8' : 'int64', shape: t.shape, data: t.data as LoadedTensor['data'] });
  };
  if (which === 'eval') {
    for (const l of arch.layers) put(l.name, net.tensors.get(`act/${l.name}`));
  } else {
    put('labels', net.tensors.get('labels'));
    for (const l of arch.layers) if (l.kind === 'dropout') put(`${l.name}.mask`, net.tensors.get(`mask/${l.name}`));
    put(arch.layers[arch.layers.length - 2].name, net.tensors.get(`train/${arch.layers[arch.layers.length - 2].name}`));
    put('loss', net.tensors.get('loss'));
    for (const l of arch.layers) put(`${l.name}.grad`, net.tensors.get(`layergrad/${l.name}`));
    for (const [k, t] of net.tensors) if (k.startsWith('grad/') && k !== 'grad/input') put(`${k.slice(5)}.grad`, t);
    put('input.grad', net.tensors.get('grad/input'));
  }
  return { label: `pytorch-${which}`, tensors };
}

const calibration: { ratio: number; where: string }[] = [];

for (const name of ARCH_NAMES) {
  describe(`${name} at 1/8 width: traces against PyTorch`, () => {
    const fx = fixture(`trace-${name}.safetensors`);
    const net = fixture(`net-${name}.safetensors`);
    const arch = architecture(name, OPTIONS);
    const inputShape = JSON.parse(fx.metadata.input_shape) as number[];
    const x = syntheticInput(INPUT_SEED, inputShape);
    const weights = syntheticWeights(arch, WEIGHT_SEED, inputShape[2]);
    const labels = syntheticLabels(LABEL_SEED, inputShape[0], arch.numClasses);
    const masks = new Map<string, Uint8Array>();
    for (const l of arch.layers) if (l.kind === 'dropout') masks.set(l.name, fx.tensors.get(`mask/${l.name}`)!.data as Uint8Array);

    it('the fixture was made from this architecture, labels and masks', () => {
      expect(JSON.parse(fx.metadata.architecture)).toEqual(JSON.parse(JSON.stringify(arch)));
      expect(Array.from(fx.tensors.get('labels')!.data as BigInt64Array, Number)).toEqual(Array.from(labels));
      for (const [layer, m] of masks) expect(Buffer.from(m).equals(Buffer.from(net.tensors.get(`mask/${layer}`)!.data as Uint8Array))).toBe(true);
    });

    it('float64 eval trace equals float64 PyTorch to 1e-12', () => {
      const t = makeTrace(arch, weights, x, referenceBackend, { dtype: 'float64', float32Error: false });
      expect(checkSamples(fx, 'eval/', t, name)).toBe(arch.layers.length);
    });

    it('float64 backward trace (train mode, PyTorch masks): loss and every gradient to 1e-12', () => {
      const t = makeTrace(arch, weights, x, referenceBackend, { dtype: 'float64', labels, masks, float32Error: false });
      expect(t.loss).toBeCloseTo(Number(fx.metadata.loss), 12);
      const params = t.tensors.filter((e) => e.kind === 'param-grad').length;
      expect(params).toBe(16);
      // every layer's output, the loss, every layer-output gradient but prob's, input.grad, 16 parameters
      expect(checkSamples(fx, 'train/', t, name)).toBe(arch.layers.length + 1 + (arch.layers.length - 1) + 1 + params);
    });

    it('float32 backward trace against float32 PyTorch: within the default tolerances', () => {
      const ours = makeTrace(arch, weights, x, referenceBackend, { dtype: 'float32', labels, masks });
      const loaded = traceFromSafetensors('ours32', traceSafetensors(ours));
      const report = compareTraces(pytorchTrace(net, arch, 'train'), loaded);
      expect(report.tensors.length).toBeGreaterThan(40);
      const bad = report.tensors.filter((c) => !c.pass).map((c) => `${c.name} ${c.ulps.toFixed(1)} ulps`);
      expect(bad, bad.join(', ')).toEqual([]);
      for (const c of report.tensors) if (c.kind === 'float') record('float32 ours vs torch (x tol)', c.maxAbs / (c.tolerance.rtol * c.scale), `${name} ${c.name}`);
    });

    it('PyTorch float32 against our float64 golden trace: within the default tolerances (calibration)', () => {
      const golden = makeTrace(arch, weights, x, referenceBackend, { dtype: 'float64', labels, masks });
      const goldenLoaded = traceFromSafetensors('golden', traceSafetensors(golden));
      const evalGolden = traceFromSafetensors('golden-eval', traceSafetensors(makeTrace(arch, weights, x, referenceBackend, { dtype: 'float64' })));
      for (const [g, which] of [[goldenLoaded, 'train'], [evalGolden, 'eval']] as const) {
        const report = compareTraces(g, pytorchTrace(net, arch, which));
        expect(report.reference.label).toBe(g.label); // the float64 side is the reference
        const bad = report.tensors.filter((c) => !c.pass).map((c) => `${c.name} ${c.ulps.toFixed(1)} ulps`);
        expect(bad, bad.join(', ')).toEqual([]);
        const K = roundingCounts(arch, inputShape, which);
        for (const c of report.tensors) {
          if (c.kind !== 'float') continue;
          calibration.push({ ratio: c.maxAbs / (c.scale * UNIT_ROUNDOFF.float32 * Math.sqrt(K.get(c.name)!)), where: `${name} ${which} ${c.name}` });
          // our own float32 pass was recorded beside the golden values
          expect(c.float32, c.name).toBeDefined();
        }
      }
    });
  });
}

afterAll(() => {
  const lines = [...worst].map(([g, w]) => `  ${g.padEnd(30)} ${w.err.toExponential(2)}  ${w.where}`);
  console.log(`worst per group:\n${lines.join('\n')}`);
  if (calibration.length) {
    calibration.sort((a, b) => b.ratio - a.ratio);
    console.log(
      `PyTorch float32 error / (u sqrt(K) max|R|), worst of ${calibration.length} tensors (the default tolerance is ${SAFETY}):\n` +
        calibration.slice(0, 5).map((c) => `  ${c.ratio.toFixed(3)}  ${c.where}`).join('\n'),
    );
    // The documented margin: PyTorch's worst tensor uses well under a tenth of the tolerance.
    expect(calibration[0].ratio).toBeLessThan(SAFETY / 10);
  }
});
