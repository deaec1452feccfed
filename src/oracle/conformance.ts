/**
 * The op-level conformance suite: runs any JavaScript backend implementing the Backend interface
 * (backend/backend.ts) through the cases the reference and our WebAssembly backend pass, and
 * compares every output and gradient with src/ops computed in float64.
 *
 *   const report = runConformance(myWebGpuBackend);
 *   console.log(formatConformance(report));       // one line per op and direction
 *
 * Cases are the edge cases of AlexNet's ops on deliberately odd shapes: groups 2 and 3, strides
 * 1-4 (including stride > kernel), padding, 1x1 and 11x11 kernels, the four LRN conventions and an
 * even window, floor and ceil pooling, asymmetric pads, ties in max-pooling (gradient to the first
 * maximum), adaptive pooling up and down, dropout at p = 0.1, 0.3, 0.5 with given masks, softmax
 * of large logits, cross-entropy over 1000 classes. Inputs come from a seeded generator (rng.ts).
 *
 * Each case runs in the backend's type (float32 unless asked): inputs are float32, the expected
 * values are src/ops on the same values widened to float64. An output passes when
 *
 *   max |T - R| <= C u sqrt(K) max |R|
 *
 * with K the length of the sums behind one element (see tolerance.ts; C = SAFETY). Data movement
 * (ReLU, max-pool forward) has K = 0: it must be exact. A failure names the op, the case, the
 * tensor and the worst index, and the seed that regenerates the inputs.
 */

import type { Backend } from '../backend/backend.js';
import type { Pads, Rounding } from '../geometry.js';
import * as ops from '../ops/index.js';
import { Rng } from '../rng.js';
import { type DType, type Tensor, cast, formatShape } from '../tensor.js';
import { SAFETY, UNIT_ROUNDOFF, maxOverlap, maxWindowArea } from './tolerance.js';

export type ConformanceOp = 'conv2d' | 'relu' | 'lrn' | 'maxpool' | 'adaptiveavgpool' | 'linear' | 'dropout' | 'softmax' | 'crossentropy';
export type Direction = 'forward' | 'backward';

export interface ConformanceResult {
  op: ConformanceOp;
  direction: Direction;
  cases: number;
  passed: number;
  /** The worst output over every case, as error / tolerance (above 1: a failure). */
  worst: { error: number; tolerance: number; where: string };
  /** One line per failing output: op, case, tensor, index, values, seed. */
  failures: string[];
}

export interface ConformanceReport {
  backend: string;
  dtypes: DType[];
  results: ConformanceResult[];
  pass: boolean;
}

export interface ConformanceOptions {
  /** Element types to run. Default ['float32']. */
  dtypes?: DType[];
  /** Only these ops. Default all. */
  ops?: ConformanceOp[];
}

const SEED = 6;

/** An output of a case: the backend's value, the float64 expectation and its rounding count K. */
interface Output {
  tensor: string;
  direction: Direction;
  test: Tensor;
  expected: Tensor<Float64Array>;
  K: number;
}

interface Case {
  op: ConformanceOp;
  name: string;
  run(backend: Backend, dtype: DType, rng: Rng): Output[];
}

// ---------------------------------------------------------------------------------------------
// Inputs

function normal(rng: Rng, shape: readonly number[], scale = 1): Tensor<Float64Array> {
  const n = shape.reduce((a, b) => a * b, 1);
  // Rounded to float32 so the same values feed the float32 backend and the float64 expectation.
  return { data: Float64Array.from({ length: n }, () => Math.fround(rng.normal() * scale)), shape: [...shape] };
}

/** Non-negative values with many exact zeros and repeats: max-pool ties, as after a ReLU. */
function quantised(rng: Rng, shape: readonly number[]): Tensor<Float64Array> {
  const t = normal(rng, shape);
  for (let i = 0; i < t.data.length; i++) t.data[i] = Math.max(0, Math.round(t.data[i] * 1.2));
  return t;
}

const as = (t: Tensor, dtype: DType): Tensor => cast(t, dtype);

// ---------------------------------------------------------------------------------------------
// The cases

function convCase(name: string, x: number[], OC: number, kernel: number, stride: number, pad: number, groups: number): Case {
  return {
    op: 'conv2d',
    name: `${name}: x ${formatShape(x)}, ${OC} filters ${kernel}x${kernel}, stride ${stride}, pad ${pad}, groups ${groups}`,
    run(backend, dtype, rng) {
      const Cg = x[1] / groups;
      const X = normal(rng, x);
      const W = normal(rng, [OC, Cg, kernel, kernel], 1 / Math.sqrt(Cg * kernel * kernel));
      const B = normal(rng, [OC], 0.1);
      const params = { stride, pad, groups };
      const ref = ops.conv2dForward(X, W, B, params);
      const dY = normal(rng, ref.y.shape);
      const g = ops.conv2dBackward(ref.cache, dY);
      const f = backend.conv2dForward(as(X, dtype), as(W, dtype), as(B, dtype), params);
      const b = backend.conv2dBackward(f.cache, as(dY, dtype));
      const [N, , OH, OW] = ref.y.shape;
      const positions = N * OH * OW;
      return [
        { tensor: 'y', direction: 'forward', test: f.y, expected: ref.y, K: Cg * kernel * kernel + 1 },
        { tensor: 'dx', direction: 'backward', test: b.dx, expected: g.dx, K: (OC / groups) * Math.ceil(kernel / stride) ** 2 },
        { tensor: 'dw', direction: 'backward', test: b.dw, expected: g.dw, K: positions },
        { tensor: 'db', direction: 'backward', test: b.db, expected: g.db, K: positions },
      ];
    },
  };
}

function reluCase(name: string, shape: number[]): Case {
  return {
    op: 'relu',
    name: `${name}: x ${formatShape(shape)}`,
    run(backend, dtype, rng) {
      const X = normal(rng, shape);
      for (let i = 0; i < X.data.length; i += 5) X.data[i] = 0; // ReLU'(0) = 0
      for (let i = 1; i < X.data.length; i += 7) X.data[i] = -0;
      const ref = ops.reluForward(X);
      const dY = normal(rng, shape);
      const f = backend.reluForward(as(X, dtype));
      return [
        { tensor: 'y', direction: 'forward', test: f.y, expected: ref.y, K: 0 },
        { tensor: 'dx', direction: 'backward', test: backend.reluBackward(f.cache, as(dY, dtype)).dx, expected: ops.reluBackward(ref.cache, dY).dx, K: 0 },
      ];
    },
  };
}

function lrnCase(name: string, shape: number[], params: ops.LrnParams, scale: number): Case {
  return {
    op: 'lrn',
    name: `${name}: x ${formatShape(shape)} (x${scale}), size ${params.size}, alpha ${params.alpha}${params.divideAlphaByN ? '/n' : ''}, beta ${params.beta}, k ${params.k}`,
    run(backend, dtype, rng) {
      const X = normal(rng, shape, scale);
      const ref = ops.lrnForward(X, params);
      const dY = normal(rng, shape);
      const f = backend.lrnForward(as(X, dtype), params);
      return [
        { tensor: 'y', direction: 'forward', test: f.y, expected: ref.y, K: params.size + 3 },
        { tensor: 'dx', direction: 'backward', test: backend.lrnBackward(f.cache, as(dY, dtype)).dx, expected: ops.lrnBackward(ref.cache, dY).dx, K: 2 * params.size + 9 },
      ];
    },
  };
}

function poolCase(name: string, shape: number[], kernel: number, stride: number, pads: Pads, rounding: Rounding, ties = false): Case {
  return {
    op: 'maxpool',
    name: `${name}: x ${formatShape(shape)}, ${kernel}x${kernel} stride ${stride}, pads [${pads.join(', ')}], ${rounding}`,
    run(backend, dtype, rng) {
      const X = ties ? quantised(rng, shape) : normal(rng, shape);
      if (ties) X.data.fill(0, 0, shape[2] * shape[3]); // one all-zero plane
      const params = { kernel, stride, pads, rounding };
      const ref = ops.maxPoolForward(X, params);
      const dY = normal(rng, ref.y.shape);
      const f = backend.maxPoolForward(as(X, dtype), params);
      return [
        { tensor: 'y', direction: 'forward', test: f.y, expected: ref.y, K: 0 },
        { tensor: 'dx', direction: 'backward', test: backend.maxPoolBackward(f.cache, as(dY, dtype)).dx, expected: ops.maxPoolBackward(ref.cache, dY).dx, K: Math.ceil(kernel / stride) ** 2 },
      ];
    },
  };
}

function adaptiveCase(H: number, W: number): Case {
  return {
    op: 'adaptiveavgpool',
    name: `${H}x${W} -> 6x6: x [2, 3, ${H}, ${W}]`,
    run(backend, dtype, rng) {
      const X = normal(rng, [2, 3, H, W]);
      const params = { outH: 6, outW: 6 };
      const ref = ops.adaptiveAvgPoolForward(X, params);
      const dY = normal(rng, ref.y.shape);
      const f = backend.adaptiveAvgPoolForward(as(X, dtype), params);
      return [
        { tensor: 'y', direction: 'forward', test: f.y, expected: ref.y, K: maxWindowArea(H, W, 6, 6) + 1 },
        { tensor: 'dx', direction: 'backward', test: backend.adaptiveAvgPoolBackward(f.cache, as(dY, dtype)).dx, expected: ops.adaptiveAvgPoolBackward(ref.cache, dY).dx, K: maxOverlap(H, 6) * maxOverlap(W, 6) + 1 },
      ];
    },
  };
}

function linearCase(name: string, N: number, IN: number, OUT: number): Case {
  return {
    op: 'linear',
    name: `${name}: x [${N}, ${IN}], ${OUT} outputs`,
    run(backend, dtype, rng) {
      const X = normal(rng, [N, IN]);
      const W = normal(rng, [OUT, IN], 1 / Math.sqrt(IN));
      const B = normal(rng, [OUT], 0.1);
      const ref = ops.linearForward(X, W, B);
      const dY = normal(rng, [N, OUT]);
      const g = ops.linearBackward(ref.cache, dY);
      const f = backend.linearForward(as(X, dtype), as(W, dtype), as(B, dtype));
      const b = backend.linearBackward(f.cache, as(dY, dtype));
      return [
        { tensor: 'y', direction: 'forward', test: f.y, expected: ref.y, K: IN + 1 },
        { tensor: 'dx', direction: 'backward', test: b.dx, expected: g.dx, K: OUT },
        { tensor: 'dw', direction: 'backward', test: b.dw, expected: g.dw, K: N },
        { tensor: 'db', direction: 'backward', test: b.db, expected: g.db, K: N },
      ];
    },
  };
}

function dropoutCase(p: number, shape: number[]): Case {
  return {
    op: 'dropout',
    name: `p = ${p}: x ${formatShape(shape)}, mask given (1 = kept, scale 1/(1 - p))`,
    run(backend, dtype, rng) {
      const X = normal(rng, shape);
      const mask = ops.dropoutMask(rng, X.data.length, p);
      const ref = ops.dropoutForward(X, p, mask);
      const dY = normal(rng, shape);
      const f = backend.dropoutForward(as(X, dtype), p, mask);
      return [
        { tensor: 'y', direction: 'forward', test: f.y, expected: ref.y, K: 1 },
        { tensor: 'dx', direction: 'backward', test: backend.dropoutBackward(f.cache, as(dY, dtype)).dx, expected: ops.dropoutBackward(ref.cache, dY).dx, K: 1 },
      ];
    },
  };
}

function softmaxCase(name: string, shape: number[], big: boolean): Case {
  return {
    op: 'softmax',
    name: `${name}: x ${formatShape(shape)}`,
    run(backend, dtype, rng) {
      const X = normal(rng, shape, 3);
      if (big) {
        X.data[1] = 100;
        X.data[shape[1] + 3] = -100;
        X.data[shape[1]] = 80;
      }
      return [{ tensor: 'y', direction: 'forward', test: backend.softmaxForward(as(X, dtype)).y, expected: ops.softmaxForward(X).y, K: shape[1] + 3 }];
    },
  };
}

function crossEntropyCase(name: string, N: number, K: number, scale: number): Case {
  return {
    op: 'crossentropy',
    name: `${name}: logits [${N}, ${K}] (x${scale}), mean over the batch`,
    run(backend, dtype, rng) {
      const X = normal(rng, [N, K], scale);
      const labels = Int32Array.from({ length: N }, () => rng.below(K));
      const ref = ops.crossEntropyForward(X, labels);
      const f = backend.crossEntropyForward(as(X, dtype), labels);
      return [
        { tensor: 'loss', direction: 'forward', test: { data: Float64Array.of(f.loss), shape: [] }, expected: { data: Float64Array.of(ref.loss), shape: [] }, K: K + 3 + N },
        { tensor: 'dlogits', direction: 'backward', test: backend.crossEntropyBackward(f.cache).dlogits, expected: ops.crossEntropyBackward(ref.cache).dlogits, K: K + 3 },
      ];
    },
  };
}

const LRN_CUDA_CONVNET: ops.LrnParams = { size: 5, alpha: 1e-4, beta: 0.75, k: 2, divideAlphaByN: true };

/** Every case, in op order. */
export const CONFORMANCE_CASES: readonly Case[] = [
  convCase('3x3 same padding, non-square input', [2, 3, 7, 9], 4, 3, 1, 1, 1),
  convCase('groups 2, stride 2, pad 2', [1, 4, 11, 8], 6, 5, 2, 2, 2),
  convCase('groups 3, stride 3, no padding', [2, 6, 13, 13], 9, 3, 3, 0, 3),
  convCase('torchvision conv1 geometry', [1, 3, 27, 31], 5, 11, 4, 2, 1),
  convCase('Caffe conv1 geometry', [1, 3, 23, 23], 4, 11, 4, 0, 1),
  convCase('1x1 kernel', [3, 5, 6, 5], 7, 1, 1, 0, 1),
  convCase('stride 4 > kernel 3 (skips samples)', [1, 3, 15, 14], 2, 3, 4, 1, 1),
  convCase('kernel covers the input: 1x1 output', [2, 2, 5, 5], 3, 5, 1, 0, 1),
  convCase('long reduction (K = 288), groups 2', [1, 64, 9, 9], 32, 3, 1, 1, 2),
  convCase('groups 2, 5x5 stride 3 pad 2', [2, 8, 8, 8], 4, 5, 3, 2, 2),
  reluCase('NCHW with exact zeros and -0', [2, 3, 5, 7]),
  reluCase('[N, F]', [3, 11]),
  lrnCase('Caffe bvlc_alexnet', [2, 7, 4, 5], ops.LRN_CAFFE, 10),
  lrnCase('paper text', [2, 7, 4, 5], ops.LRN_PAPER, 10),
  lrnCase('cuda-convnet2', [1, 9, 3, 3], LRN_CUDA_CONVNET, 10),
  lrnCase('strong alpha, beta 0.5', [1, 8, 3, 4], { size: 5, alpha: 1, beta: 0.5, k: 1, divideAlphaByN: false }, 1),
  lrnCase('even size 4 (2 channels before, 1 after)', [2, 6, 3, 5], { size: 4, alpha: 0.3, beta: 0.75, k: 2, divideAlphaByN: true }, 1),
  lrnCase('3 channels, window of 5', [2, 3, 4, 4], { size: 5, alpha: 0.5, beta: 0.75, k: 1, divideAlphaByN: true }, 1),
  lrnCase('size 3, beta > 1, k < 1', [1, 5, 2, 3], { size: 3, alpha: 0.2, beta: 1.5, k: 0.5, divideAlphaByN: false }, 1),
  poolCase('3x3 stride 2, floor', [2, 3, 9, 11], 3, 2, [0, 0, 0, 0], 'floor'),
  poolCase('ceil: 16 -> 8 (floor gives 7)', [1, 2, 16, 16], 3, 2, [0, 0, 0, 0], 'ceil'),
  poolCase('pad 1, floor', [1, 2, 13, 10], 3, 2, [1, 1, 1, 1], 'floor'),
  poolCase('pad 1, ceil', [2, 2, 6, 7], 3, 2, [1, 1, 1, 1], 'ceil'),
  poolCase('ceil, last window dropped (it would start in the padding)', [1, 3, 5, 5], 2, 2, [1, 1, 1, 1], 'ceil'),
  poolCase('2x2 stride 1 (heavy overlap)', [2, 2, 8, 9], 2, 1, [0, 0, 0, 0], 'floor'),
  poolCase('5x5 stride 3 pad 2', [1, 2, 10, 11], 5, 3, [2, 2, 2, 2], 'floor'),
  poolCase('ties: gradient to the first maximum', [2, 4, 9, 9], 3, 2, [0, 0, 0, 0], 'floor', true),
  poolCase('ties with padding and ceil', [1, 2, 8, 7], 3, 1, [1, 1, 1, 1], 'ceil', true),
  poolCase('asymmetric pads (ONNX encoding of Caffe ceil)', [1, 3, 6, 6], 3, 2, [0, 0, 1, 1], 'floor'),
  poolCase('asymmetric pads with ties', [1, 2, 9, 7], 3, 2, [2, 1, 0, 1], 'floor', true),
  adaptiveCase(1, 1),
  adaptiveCase(4, 4),
  adaptiveCase(6, 6),
  adaptiveCase(13, 13),
  adaptiveCase(7, 9),
  linearCase('odd sizes', 3, 17, 5),
  linearCase('IN 301', 2, 301, 13),
  linearCase('1x1', 1, 1, 1),
  linearCase('IN 1152 (fc6 at 1/8 width)', 4, 1152, 3),
  dropoutCase(0.1, [4, 37]),
  dropoutCase(0.3, [2, 3, 5, 7]),
  dropoutCase(0.5, [2, 100]),
  softmaxCase('random logits', [3, 7], false),
  softmaxCase('logits of +-100 (needs the max subtracted)', [2, 5], true),
  crossEntropyCase('10 classes', 4, 10, 1),
  crossEntropyCase('large logits', 5, 3, 30),
  crossEntropyCase('1000 classes', 1, 1000, 3),
];

// ---------------------------------------------------------------------------------------------
// Running

function unravel(index: number, shape: readonly number[]): string {
  const at: number[] = [];
  for (let d = shape.length - 1; d >= 0; d--) {
    at.unshift(index % shape[d]);
    index = Math.floor(index / shape[d]);
  }
  return `[${at.join(', ')}]`;
}

/** max |T - R| / max |R| and where; a shape or type mismatch is reported as a message. */
function measure(o: Output, dtype: DType): { error: number; index: number } | string {
  const t = o.test;
  if (!t || !t.data || t.shape.length !== o.expected.shape.length || !t.shape.every((d, i) => d === o.expected.shape[i])) {
    return `has shape ${t?.shape ? formatShape(t.shape) : '(none)'}, expected ${formatShape(o.expected.shape)}`;
  }
  if (o.tensor !== 'loss' && !(t.data instanceof (dtype === 'float64' ? Float64Array : Float32Array))) {
    return `is a ${t.data.constructor.name}, expected the input's ${dtype}`;
  }
  let scale = 0;
  let max = 0;
  let index = 0;
  for (let i = 0; i < o.expected.data.length; i++) {
    const d = Math.abs(t.data[i] - o.expected.data[i]);
    if (!(d <= max)) {
      max = d;
      index = i;
      if (Number.isNaN(d)) break;
    }
    scale = Math.max(scale, Math.abs(o.expected.data[i]));
  }
  return { error: max === 0 ? 0 : max / Math.max(scale, 2 ** -126), index };
}

/** Runs every case on `backend` and reports per op and direction. Never throws for a backend's fault. */
export function runConformance(backend: Backend, options: ConformanceOptions = {}): ConformanceReport {
  const dtypes = options.dtypes ?? ['float32'];
  const results = new Map<string, ConformanceResult>();
  const result = (op: ConformanceOp, direction: Direction): ConformanceResult => {
    const key = `${op} ${direction}`;
    let r = results.get(key);
    if (!r) {
      r = { op, direction, cases: 0, passed: 0, worst: { error: 0, tolerance: 0, where: '' }, failures: [] };
      results.set(key, r);
    }
    return r;
  };
  CONFORMANCE_CASES.forEach((c, i) => {
    if (options.ops && !options.ops.includes(c.op)) return;
    for (const dtype of dtypes) {
      const seed = SEED + i;
      const where = `${c.op} case ${i} (${c.name}, ${dtype}, seed ${seed})`;
      let outputs: Output[];
      try {
        outputs = c.run(backend, dtype, new Rng(seed));
      } catch (e) {
        for (const direction of ['forward', 'backward'] as const) {
          const r = result(c.op, direction);
          r.cases++;
          r.failures.push(`${where}: the backend threw: ${(e as Error).message}`);
        }
        continue;
      }
      for (const direction of ['forward', 'backward'] as const) {
        const mine = outputs.filter((o) => o.direction === direction);
        if (mine.length === 0) continue;
        const r = result(c.op, direction);
        r.cases++;
        let ok = true;
        for (const o of mine) {
          const tolerance = SAFETY * UNIT_ROUNDOFF[dtype] * Math.sqrt(o.K);
          const m = measure(o, dtype);
          if (typeof m === 'string') {
            ok = false;
            r.failures.push(`${where} ${o.tensor} ${m}`);
            continue;
          }
          const ratio = tolerance === 0 ? (m.error === 0 ? 0 : Infinity) : m.error / tolerance;
          const worstRatio = r.worst.tolerance === 0 ? (r.worst.error === 0 ? 0 : Infinity) : r.worst.error / r.worst.tolerance;
          if (!(ratio <= worstRatio) || r.worst.where === '') r.worst = { error: m.error, tolerance, where: `${where} ${o.tensor} ${unravel(m.index, o.expected.shape)}` };
          if (!(m.error <= tolerance)) {
            ok = false;
            r.failures.push(
              `${where} ${o.tensor}: max |T - R| / max |R| = ${m.error.toExponential(3)} > ${tolerance.toExponential(2)} ` +
                `at ${unravel(m.index, o.expected.shape)}: got ${o.test.data[m.index]}, expected ${o.expected.data[m.index]}`,
            );
          }
        }
        if (ok) r.passed++;
      }
    }
  });
  const list = [...results.values()];
  return { backend: backend.name, dtypes, results: list, pass: list.every((r) => r.failures.length === 0) };
}

/** One line per op and direction, then every failure. */
export function formatConformance(report: ConformanceReport): string {
  const lines = [`conformance of backend "${report.backend}" (${report.dtypes.join(', ')}) against src/ops in float64:`];
  for (const r of report.results) {
    const worst = r.worst.tolerance === 0 ? (r.worst.error === 0 ? 'exact' : `${r.worst.error.toExponential(2)} (must be exact)`) : `${r.worst.error.toExponential(2)} (tol ${r.worst.tolerance.toExponential(2)})`;
    lines.push(`  ${`${r.op} ${r.direction}`.padEnd(26)} ${r.failures.length ? 'FAIL' : 'pass'}  ${r.passed}/${r.cases} cases  worst ${worst}`);
  }
  for (const r of report.results) for (const f of r.failures) lines.push(`  FAIL ${f}`);
  lines.push(report.pass ? 'all ops pass' : `${report.results.filter((r) => r.failures.length).length} op/direction pairs fail`);
  return lines.join('\n') + '\n';
}

