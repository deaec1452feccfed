/**
 * Comparing two traces tensor by tensor: ours against another backend's, float32 against the
 * float64 golden values, or two runs of one backend.
 *
 * The reference R is the more precise side (the float64 one when exactly one is float64), else A;
 * the other side is the test T. For every tensor both hold, in the reference's trace order
 * (forward in layer order, then the gradients in the order backward computes them, so the first
 * failure is where the numbers start to diverge):
 *
 *   maxAbs   max |T - R|
 *   maxRel   max |T - R| / |R| over the elements where R != 0 (the usual element-wise measure; it
 *            is large wherever a sum nearly cancels, in any float32 implementation)
 *   ulps     maxAbs in float32 ulps of max |R| (the spacing of float32 numbers at the tensor's
 *            largest magnitude): "the worst error is 12 roundings of the largest value"
 *   cosine   <T, R> / (|T| |R|), in float64
 *
 * A tensor passes when, by default, maxAbs <= tol * max |R| with tol = C u sqrt(K) from
 * tolerance.ts (K: roundings on the way to the tensor; u of the less precise side); with --rtol
 * and/or --atol instead, when |T - R| <= atol + rtol |R| for every element (numpy's allclose).
 * Integer tensors (labels, masks) must be equal.
 *
 * When R is one of our float64 traces, its manifest holds the error of our own float32 pass per
 * tensor (`reference32`): each row then also shows that expected float32 error and T's error as a
 * multiple of it.
 */

import { UserError } from '../errors.js';
import { ARCH_NAMES, type ArchName, type Architecture, architecture, fitWidthsTo, isArchName } from '../model/architectures.js';
import type { DType } from '../tensor.js';
import { inferShapes } from '../model/shapes.js';
import * as ops from '../ops/index.js';
import { defaultTolerance, roundingCounts, softmaxAmplification } from './tolerance.js';
import type { LoadedTensor, LoadedTrace, ManifestTensor } from './trace-files.js';

export interface CompareOptions {
  /** Element-wise relative tolerance (with atol): |T - R| <= atol + rtol |R|. */
  rtol?: number;
  /** Element-wise absolute tolerance (with rtol). */
  atol?: number;
  /** The architecture, when neither trace has a manifest that names it. */
  arch?: ArchName;
}

export interface TensorComparison {
  name: string;
  shape: number[];
  /** 'float' or 'int' (exact comparison). */
  kind: 'float' | 'int';
  dtypes: [reference: string, test: string];
  /** max |R|. */
  scale: number;
  maxAbs: number;
  maxRel: number;
  ulps: number;
  cosine: number;
  /** Where |T - R| is largest: flat index, its coordinates, and both values. */
  worst: { index: number; at: number[]; reference: number; test: number };
  /** The tolerance applied: the default's relative value, or the given rtol/atol. */
  tolerance: { rtol: number; atol: number; rule: 'default' | 'allclose' | 'exact'; roundings?: number; softmaxFactor?: number };
  pass: boolean;
  /** Our own float32 error on this tensor (float64 references of ours), and T's as a multiple of it. */
  float32?: { maxAbs: number; ratio: number };
}

export interface CompareReport {
  reference: { side: 'A' | 'B'; label: string; dtype: string; backend?: string };
  test: { side: 'A' | 'B'; label: string; dtype: string; backend?: string };
  arch?: string;
  tensors: TensorComparison[];
  onlyInReference: string[];
  onlyInTest: string[];
  /** The first tensor outside tolerance, in trace order. */
  firstFailure?: string;
  /**
   * When the first failure is a gradient that a ReLU or max-pool routed differently on the two
   * sides because of a near-tie or a value near 0 in the forward pass: what happened, in words.
   */
  kink?: { layer: string; kind: 'maxpool-tie' | 'relu-sign'; count: number; message: string };
  failures: number;
  pass: boolean;
}

/** dtype of a trace: its manifest's, else that of its float tensors (float64 if any is). */
function traceDtype(t: LoadedTrace): DType {
  if (t.manifest?.dtype === 'float64' || t.manifest?.dtype === 'float32') return t.manifest.dtype;
  for (const v of t.tensors.values()) if (v.dtype === 'float64') return 'float64';
  return 'float32';
}

function isInt(t: LoadedTensor): boolean {
  return t.dtype !== 'float32' && t.dtype !== 'float64';
}

export function compareTraces(a: LoadedTrace, b: LoadedTrace, options: CompareOptions = {}): CompareReport {
  const archA = a.manifest?.arch;
  const archB = b.manifest?.arch;
  if (archA && archB && archA !== archB) {
    throw new UserError(`${a.label} is a trace of ${archA}, ${b.label} of ${archB}: compare traces of the same architecture`);
  }
  if (options.arch && (archA ?? archB) && options.arch !== (archA ?? archB)) {
    throw new UserError(`--arch ${options.arch}, but ${archA ? a.label : b.label} is a trace of ${archA ?? archB}`);
  }
  const dA = traceDtype(a);
  const dB = traceDtype(b);
  const swap = dA === 'float32' && dB === 'float64';
  const [R, T] = swap ? [b, a] : [a, b];
  const [dR, dT] = swap ? [dB, dA] : [dA, dB];
  const low: DType = dR === 'float64' && dT === 'float64' ? 'float64' : 'float32';

  const common = [...R.tensors.keys()].filter((n) => T.tensors.has(n));
  const onlyInReference = [...R.tensors.keys()].filter((n) => !T.tensors.has(n));
  const onlyInTest = [...T.tensors.keys()].filter((n) => !R.tensors.has(n));
  if (common.length === 0) {
    throw new UserError(`${a.label} and ${b.label} have no tensor in common (${a.label}: ${names(a)}; ${b.label}: ${names(b)})`);
  }
  for (const name of common) {
    const r = R.tensors.get(name)!;
    const t = T.tensors.get(name)!;
    if (!sameShape(r.shape, t.shape)) {
      throw new UserError(`${name} has shape [${shapeOf(a, name)}] in ${a.label} but [${shapeOf(b, name)}] in ${b.label}`);
    }
    if (isInt(r) !== isInt(t)) throw new UserError(`${name} is ${dtypeOf(a, name)} in ${a.label} but ${dtypeOf(b, name)} in ${b.label}`);
  }

  const allclose = options.rtol !== undefined || options.atol !== undefined;
  const roundings = allclose ? undefined : roundingsFor(R, T, options.arch, common);
  const maxK = roundings ? Math.max(...roundings.counts.values()) : 0;
  const amplify = roundings ? amplificationFor(roundings.arch, R, T) : undefined;
  const manifestEntries = new Map<string, ManifestTensor>((R.manifest?.tensors ?? []).map((e) => [e.name, e]));

  const tensors: TensorComparison[] = [];
  for (const name of common) {
    const r = R.tensors.get(name)!;
    const t = T.tensors.get(name)!;
    const c = measure(name, r, t);
    if (isInt(r)) {
      c.tolerance = { rtol: 0, atol: 0, rule: 'exact' };
      c.pass = c.maxAbs === 0;
    } else if (allclose) {
      const rtol = options.rtol ?? 0;
      const atol = options.atol ?? 0;
      c.tolerance = { rtol, atol, rule: 'allclose' };
      c.pass = withinAllclose(r.data, t.data, rtol, atol);
    } else {
      const K = roundings!.counts.get(name) ?? maxK; // names the model does not know: the most rounded tensor's
      const factor = !amplify ? 1 : name === amplify.probName ? amplify.prob : name === 'loss' ? amplify.loss : name.endsWith('.grad') ? amplify.grad : 1;
      const rtol = defaultTolerance(K, low) * factor;
      c.tolerance = { rtol, atol: 0, rule: 'default', roundings: K, ...(factor > 1 && { softmaxFactor: factor }) };
      c.pass = c.maxAbs <= rtol * Math.max(c.scale, 2 ** -126);
    }
    const r32 = manifestEntries.get(name)?.reference32;
    if (dR === 'float64' && dT === 'float32' && r32 && typeof r32.maxAbs === 'number') {
      c.float32 = { maxAbs: r32.maxAbs, ratio: r32.maxAbs > 0 ? c.maxAbs / r32.maxAbs : c.maxAbs === 0 ? 1 : Infinity };
    }
    tensors.push(c);
  }
  const failed = tensors.filter((c) => !c.pass);
  const side = (s: LoadedTrace): 'A' | 'B' => (s === a ? 'A' : 'B');
  const kink = failed[0] && roundings ? diagnoseKink(roundings.arch, R, T, failed[0], tensors, side(R), side(T)) : undefined;
  return {
    reference: { side: side(R), label: R.label, dtype: dR, backend: R.manifest?.backend },
    test: { side: side(T), label: T.label, dtype: dT, backend: T.manifest?.backend },
    arch: roundings?.arch.name ?? archA ?? archB ?? options.arch,
    tensors,
    onlyInReference,
    onlyInTest,
    firstFailure: failed[0]?.name,
    ...(kink && { kink }),
    failures: failed.length,
    pass: failed.length === 0,
  };
}

function names(t: LoadedTrace): string {
  const all = [...t.tensors.keys()];
  return all.slice(0, 5).join(', ') + (all.length > 5 ? ', ...' : '');
}

function shapeOf(t: LoadedTrace, name: string): string {
  return t.tensors.get(name)!.shape.join(', ');
}

function dtypeOf(t: LoadedTrace, name: string): string {
  return t.tensors.get(name)!.dtype;
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** The spacing of float32 numbers at |x| (2^-149 below the normal range). */
export function ulp32(x: number): number {
  const a = Math.abs(Math.fround(x));
  if (!Number.isFinite(a)) return NaN;
  if (a < 2 ** -126) return 2 ** -149;
  let e = Math.floor(Math.log2(a));
  // log2 can land one off near powers of two: fix the exponent so that 2^e <= a < 2^(e+1).
  if (2 ** e > a) e--;
  else if (2 ** (e + 1) <= a) e++;
  return 2 ** (e - 23);
}

function unravel(index: number, shape: readonly number[]): number[] {
  const at: number[] = [];
  for (let d = shape.length - 1; d >= 0; d--) {
    at.unshift(index % shape[d]);
    index = Math.floor(index / shape[d]);
  }
  return at;
}

function measure(name: string, r: LoadedTensor, t: LoadedTensor): TensorComparison {
  const R = r.data;
  const T = t.data;
  let scale = 0;
  let maxAbs = 0;
  let maxRel = 0;
  let worst = 0;
  let dot = 0;
  let rr = 0;
  let tt = 0;
  for (let i = 0; i < R.length; i++) {
    const x = Number(R[i]);
    const y = Number(T[i]);
    const d = Math.abs(y - x);
    if (!(d <= maxAbs)) {
      // NaN lands here too, and sticks.
      if (!Number.isNaN(maxAbs)) {
        maxAbs = d;
        worst = i;
      }
    }
    if (x !== 0) {
      const rel = d / Math.abs(x);
      if (!(rel <= maxRel)) maxRel = rel;
    }
    scale = Math.max(scale, Math.abs(x));
    dot += x * y;
    rr += x * x;
    tt += y * y;
  }
  const cosine = rr === 0 && tt === 0 ? 1 : dot / (Math.sqrt(rr) * Math.sqrt(tt));
  return {
    name,
    shape: [...r.shape],
    kind: isInt(r) ? 'int' : 'float',
    dtypes: [r.dtype, t.dtype],
    scale,
    maxAbs,
    maxRel,
    ulps: maxAbs === 0 ? 0 : maxAbs / ulp32(Math.max(scale, 2 ** -126)),
    cosine,
    worst: { index: worst, at: unravel(worst, r.shape), reference: Number(R[worst] ?? 0), test: Number(T[worst] ?? 0) },
    tolerance: { rtol: 0, atol: 0, rule: 'exact' },
    pass: false,
  };
}

function withinAllclose(R: ArrayLike<number | bigint>, T: ArrayLike<number | bigint>, rtol: number, atol: number): boolean {
  for (let i = 0; i < R.length; i++) {
    const x = Number(R[i]);
    if (!(Math.abs(Number(T[i]) - x) <= atol + rtol * Math.abs(x))) return false;
  }
  return true;
}

/**
 * A gradient that fails first may be a kink rather than a bug: dL/d(output of L) comes from the
 * backward of the layer after L, and if that is a ReLU (gradient only where L's output > 0) or a
 * max-pool (the whole gradient to each window's maximum), a forward value within rounding of 0 or
 * of a tie sends an entire dy elsewhere. Both sides' forward outputs of L tell.
 */
function diagnoseKink(arch: Architecture, R: LoadedTrace, T: LoadedTrace, failed: TensorComparison, all: TensorComparison[], rSide: string, tSide: string): CompareReport['kink'] {
  if (!failed.name.endsWith('.grad')) return undefined;
  const layer = failed.name.slice(0, -5);
  const index = arch.layers.findIndex((l) => l.name === layer);
  const next = arch.layers[index + 1];
  const r = R.tensors.get(layer);
  const t = T.tensors.get(layer);
  if (index < 0 || !next || !r || !t || isInt(r) || isInt(t)) return undefined;
  const forward = all.find((c) => c.name === layer);
  const slack = forward ? Math.max(forward.tolerance.rtol * forward.scale, forward.maxAbs) : 0;
  const x = Float64Array.from(r.data as ArrayLike<number>);
  const y = Float64Array.from(t.data as ArrayLike<number>);
  if (next.kind === 'relu') {
    let count = 0;
    let first = -1;
    for (let i = 0; i < x.length; i++) {
      if (x[i] > 0 !== y[i] > 0) {
        count++;
        if (first < 0) first = i;
      }
    }
    if (count === 0) return undefined;
    return {
      layer,
      kind: 'relu-sign',
      count,
      message: `${count} element${count > 1 ? 's' : ''} of ${layer} ${count > 1 ? 'fall' : 'falls'} on different sides of 0 (${next.name}'s kink), e.g. [${unravel(first, r.shape).join(', ')}]: ` +
        `${rSide} ${x[first]}, ${tSide} ${y[first]}; ${Math.abs(x[first]) <= slack ? `within ${layer}'s float32 rounding, so ${next.name} lets a different set of gradients through: not a bug, this input sits on a kink` : 'farther apart than rounding explains'}`,
    };
  }
  if (next.kind === 'maxpool') {
    const rr = ops.maxPoolForward({ data: x, shape: r.shape }, next).cache.argmax;
    const tt = ops.maxPoolForward({ data: y, shape: t.shape }, next).cache.argmax;
    const [, , H, W] = r.shape;
    const [N, C] = r.shape;
    const OHW = rr.length / (N * C);
    let count = 0;
    let first = -1;
    for (let o = 0; o < rr.length; o++) {
      if (rr[o] !== tt[o]) {
        count++;
        if (first < 0) first = o;
      }
    }
    if (count === 0) return undefined;
    const plane = Math.floor(first / OHW);
    const a = plane * H * W + rr[first];
    const b = plane * H * W + tt[first];
    const gap = Math.abs(x[a] - x[b]);
    const where = (i: number): string => `[${unravel(i, r.shape).join(', ')}]`;
    return {
      layer,
      kind: 'maxpool-tie',
      count,
      message: `${count} window${count > 1 ? 's' : ''} of ${next.name} ${count > 1 ? 'pick' : 'picks'} a different maximum, e.g. ${rSide} takes ${where(a)} = ${x[a]}, ${tSide} ${where(b)} = ${y[b]} ` +
        `(${rSide}'s values there differ by ${gap.toExponential(2)}); ${gap <= 2 * slack ? `a near-tie within ${layer}'s float32 rounding, so the gradient of that window goes elsewhere: not a bug, this input sits on a kink` : 'farther apart than rounding explains'}`,
    };
  }
  return undefined;
}

/** The softmax's magnification of logit errors (tolerance.ts), from R's values (else T's). */
function amplificationFor(arch: Architecture, R: LoadedTrace, T: LoadedTrace): { probName: string; prob: number; loss: number; grad: number } | undefined {
  const probIndex = arch.layers.findIndex((l) => l.kind === 'softmax');
  const logitsName = arch.layers[probIndex - 1].name;
  const get = (name: string): LoadedTensor | undefined => {
    const t = R.tensors.get(name) ?? T.tensors.get(name);
    return t && !isInt(t) ? t : undefined;
  };
  const logits = get(logitsName);
  if (!logits || logits.shape.length !== 2) return undefined;
  // The labels: given, or read off dL/dlogits = (p - onehot)/N, whose one negative entry per sample is the label's.
  const given = R.tensors.get('labels') ?? T.tensors.get('labels');
  const dlogits = get(`${logitsName}.grad`);
  const [N, K] = logits.shape;
  let labels: number[] | undefined;
  if (given && isInt(given) && given.data.length === N) labels = Array.from(given.data as ArrayLike<number | bigint>, Number);
  else if (dlogits && dlogits.data.length === N * K) {
    labels = Array.from({ length: N }, (_, n) => {
      let at = 0;
      for (let k = 1; k < K; k++) if (Number(dlogits.data[n * K + k]) < Number(dlogits.data[n * K + at])) at = k;
      return at;
    });
  }
  const f = softmaxAmplification(logits.data as ArrayLike<number>, K, labels);
  return { probName: arch.layers[probIndex].name, ...f };
}

/** `name` with the given conv and fc widths (by layer name), as fitWidthsTo does from weights. */
function withWidths(name: ArchName, widths: Record<string, number>): Architecture {
  const full = architecture(name);
  const shapes = new Map<string, { shape: number[] }>();
  for (const l of full.layers) {
    if ((l.kind === 'conv' || l.kind === 'linear') && widths[l.name] !== undefined) shapes.set(`${l.param}.weight`, { shape: [widths[l.name]] });
  }
  return fitWidthsTo(full, shapes);
}

/**
 * The architecture and input shape the default tolerances need: from either manifest, else the
 * first architecture (or `archName`) whose layer outputs have the shapes of the activations here.
 */
function roundingsFor(R: LoadedTrace, T: LoadedTrace, archName: ArchName | undefined, common: string[]): { arch: Architecture; counts: Map<string, number> } {
  for (const m of [R.manifest, T.manifest]) {
    if (m?.arch && isArchName(m.arch) && m.inputShape) {
      try {
        const arch = m.widths ? withWidths(m.arch, m.widths) : architecture(m.arch, m.archOptions ?? {});
        return { arch, counts: roundingCounts(arch, m.inputShape, m.mode ?? 'eval') };
      } catch {
        // a manifest that does not describe a network we can build: try the shapes
      }
    }
  }
  const input = R.tensors.get('input') ?? T.tensors.get('input');
  if (input && input.shape.length === 4) {
    for (const name of archName ? [archName] : ARCH_NAMES) {
      const widths: Record<string, number> = {};
      for (const l of architecture(name).layers) {
        const t = (l.kind === 'conv' || l.kind === 'linear') && (R.tensors.get(l.name) ?? T.tensors.get(l.name));
        if (t && t.shape.length >= 2) widths[l.name] = t.shape[1];
      }
      try {
        const arch = withWidths(name, widths);
        const shapes = new Map(inferShapes(arch, input.shape).map((l) => [l.spec.name, l.outShape]));
        const activations = common.filter((n) => /^[a-z]+\d*$/.test(n) && !['input', 'labels', 'loss'].includes(n));
        if (activations.length === 0 || !activations.every((n) => shapes.has(n) && sameShape(shapes.get(n)!, R.tensors.get(n)!.shape))) continue;
        const mode = common.some((n) => n.endsWith('.mask')) ? 'train' : 'eval';
        return { arch, counts: roundingCounts(arch, input.shape, mode) };
      } catch {
        continue; // an input this architecture does not take
      }
    }
  }
  throw new UserError(
    `neither ${R.label} nor ${T.label} has a manifest.json naming its architecture, and the shapes of its ` +
      `activations fit ${archName ? `no ${archName}` : 'no architecture'}: pass --arch, or --rtol/--atol`,
  );
}

// ---------------------------------------------------------------------------------------------
// Text report

function fmt(x: number, digits = 2): string {
  if (Number.isNaN(x)) return 'NaN';
  if (!Number.isFinite(x)) return x > 0 ? 'inf' : '-inf';
  if (x === 0) return '0';
  return x.toExponential(digits);
}

function fmtUlps(x: number): string {
  if (!Number.isFinite(x)) return fmt(x);
  return x < 1000 ? x.toFixed(x < 10 ? 2 : 1) : x.toExponential(1);
}

/** The report as a table, one tensor per line, then the verdict. */
export function formatReport(report: CompareReport): string {
  const lines: string[] = [];
  const r = report.reference;
  const t = report.test;
  lines.push(`reference ${r.side}: ${r.label} (${r.dtype}${r.backend ? `, ${r.backend}` : ''})`);
  lines.push(`test      ${t.side}: ${t.label} (${t.dtype}${t.backend ? `, ${t.backend}` : ''})`);
  const rule = report.tensors.find((c) => c.tolerance.rule !== 'exact')?.tolerance;
  if (rule?.rule === 'allclose') lines.push(`tolerance: |T - R| <= ${rule.atol} + ${rule.rtol} |R| for every element`);
  else lines.push('tolerance: max |T - R| <= C u sqrt(K) max |R| (K roundings to the tensor; see docs/oracle.md)');
  const withF32 = report.tensors.some((c) => c.float32);
  const head = ['tensor', 'shape', 'max abs', 'max rel', 'ulps', 'cosine', 'tol ulps'];
  if (withF32) head.push('f32 ref', 'x f32');
  head.push('');
  const rows: string[][] = [head];
  for (const c of report.tensors) {
    const tolUlps = c.tolerance.rule === 'default' ? (c.tolerance.rtol * Math.max(c.scale, 2 ** -126)) / ulp32(Math.max(c.scale, 2 ** -126)) : NaN;
    const row = [
      c.name,
      `[${c.shape.join(',')}]`,
      fmt(c.maxAbs),
      fmt(c.maxRel),
      c.kind === 'int' ? '-' : fmtUlps(c.ulps),
      c.kind === 'int' ? '-' : c.cosine.toFixed(9),
      c.tolerance.rule === 'default' ? fmtUlps(tolUlps) : c.tolerance.rule === 'exact' ? 'exact' : 'allclose',
    ];
    if (withF32) {
      row.push(c.float32 ? fmtUlps(c.float32.maxAbs / ulp32(Math.max(c.scale, 2 ** -126))) : '', c.float32 ? fmtUlps(c.float32.ratio) : '');
    }
    row.push(c.pass ? 'ok' : 'FAIL');
    rows.push(row);
  }
  const widths = head.map((_, j) => Math.max(...rows.map((row) => row[j].length)));
  for (const row of rows) lines.push(row.map((cell, j) => (j < 2 ? cell.padEnd(widths[j]) : cell.padStart(widths[j]))).join('  ').trimEnd());
  if (report.onlyInReference.length) lines.push(`only in ${r.side}: ${report.onlyInReference.join(', ')}`);
  if (report.onlyInTest.length) lines.push(`only in ${t.side}: ${report.onlyInTest.join(', ')}`);
  if (withF32) {
    const ratios = report.tensors.filter((c) => c.float32 && Number.isFinite(c.float32.ratio)).map((c) => c.float32!.ratio).sort((x, y) => x - y);
    if (ratios.length) {
      lines.push(
        `float32 rounding: our own float32 pass is off the float64 values by the "f32 ref" ulps; ${t.side}'s error is ` +
          `${fmtUlps(ratios[Math.floor(ratios.length / 2)])}x that in the median tensor, ${fmtUlps(ratios[ratios.length - 1])}x at most`,
      );
    }
  }
  if (report.firstFailure) {
    const c = report.tensors.find((x) => x.name === report.firstFailure)!;
    lines.push(
      `FAIL: ${report.failures} of ${report.tensors.length} tensors outside tolerance; the first is ${c.name}: ` +
        `max abs error ${fmt(c.maxAbs, 3)} at [${c.worst.at.join(', ')}] (${r.side} ${c.worst.reference}, ${t.side} ${c.worst.test})`,
    );
    if (report.kink) lines.push(`note: ${report.kink.message}. Everything computed after it inherits the difference; compare the forward pass, or trace another input, to check the rest.`);
  } else {
    lines.push(`ok: all ${report.tensors.length} tensors within tolerance`);
  }
  return lines.join('\n') + '\n';
}
