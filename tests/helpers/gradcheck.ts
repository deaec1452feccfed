/**
 * One gradient checker for every op, in the manner of Caffe's `GradientChecker`.
 *
 * Given a float64 forward `f(inputs) -> y`, its backward, and a random upstream gradient `dy`
 * (standard normal, drawn from `Rng(seed)`), the analytic gradient of the scalar
 *
 *     L(inputs) = <f(inputs), dy> = sum_j y[j] * dy[j]
 *
 * with respect to every checked input element x[i] is backward(inputs, dy)[i]. It is compared with
 * the float64 central difference
 *
 *     numeric = <f(x + h e_i) - f(x - h e_i), dy> / ((x_i + h) - (x_i - h)),     h = 1e-6 * max(1, |x_i|)
 *
 * (outputs are subtracted before the dot product so that outputs x_i does not touch cancel exactly,
 * and the denominator is the step actually taken after rounding x_i +- h).
 *
 * Error measure (Caffe's): |analytic - numeric| / max(1, |analytic|, |numeric|) <= tolerance = 1e-6.
 *   - Truncation error of the central difference is h^2 |f'''| / 6, about 1e-13 for the O(1)
 *     third derivatives of these ops at O(1) inputs.
 *   - Rounding error is about eps * sum_j |y_j dy_j| / h, with eps = 2.2e-16: about 1e-10 times the
 *     size of the affected part of L, which stays below ~100 for the shapes the tests draw.
 *   So a correct backward lands near 1e-9 or below (the tests/ops suites observe at most 4e-9, in
 *   LRN and conv2d; 1e-16 for the piecewise-linear ops), 250 times under the tolerance, while a wrong
 *   term, factor or missed accumulation shows up at 1e-4 or more (linear.test.ts checks that a dW
 *   off by one part in 1e5 fails). Flooring the scale at 1 keeps gradients that are 0
 *   (dropped units, padding, ReLU off) from turning rounding noise into a large relative error.
 *
 * Kinks: an op may say which smooth piece of its domain the inputs are on (`pieces`: ReLU's
 * x > 0 mask, max-pool's argmax). When perturbing x_i by +h or -h changes the piece (x_i within h
 * of ReLU's 0, two candidates of a pooling window within h of each other) the central difference
 * straddles the kink and measures neither one-sided derivative, so that element is skipped and
 * counted; tests assert that most elements were checked.
 *
 * Big inputs: when an input has more than `maxPerInput` elements (default 200), a random subset
 * of that many, drawn from `Rng(seed)`, is checked (the same subset for the same seed); smaller
 * inputs are checked element by element.
 *
 * A failure throws an Error naming the op, its params, every shape, each failing element (flat
 * index and coordinates), analytic vs numeric (and both one-sided differences, which differ when
 * the element sits on an undetected kink), and the gradcheck seed. Inside a fast-check property
 * (`checkProperty`), the report adds fast-check's `{ seed, path }` and the command replaying the case.
 */

import { Rng } from '../../src/rng.js';
import { type Tensor, formatShape, sizeOf } from '../../src/tensor.js';

export type Inputs = Record<string, Tensor<Float64Array>>;

export const GRADCHECK_STEP = 1e-6;
export const GRADCHECK_TOLERANCE = 1e-6;

export interface GradcheckSpec<I extends Inputs> {
  /** Name of the op, e.g. 'conv2d'. */
  op: string;
  /** Anything describing the case (params, sizes); printed as JSON on failure. */
  params?: unknown;
  /** Float64 inputs. Elements are perturbed in place and restored. */
  inputs: I;
  /** Inputs to check (default: every input). */
  wrt?: (keyof I & string)[];
  forward(inputs: I): Tensor<Float64Array>;
  /** Gradients of <forward(inputs), dy> for (at least) the checked inputs. */
  backward(inputs: I, dy: Tensor<Float64Array>): Partial<Record<keyof I, Tensor<Float64Array>>>;
  /** Identifies the smooth piece the inputs are on; an element whose +-h perturbation changes it is skipped. */
  pieces?(inputs: I): ArrayLike<number>;
  /** Seed of dy and of the subset of elements checked (default 1). */
  seed?: number;
  maxPerInput?: number;
  step?: number;
  tolerance?: number;
}

export interface InputReport {
  size: number;
  checked: number;
  skipped: number;
  /** Largest |analytic - numeric| / max(1, |analytic|, |numeric|) among checked elements. */
  maxError: number;
}

export interface GradcheckReport {
  checked: number;
  skipped: number;
  maxError: number;
  inputs: Record<string, InputReport>;
}

interface Failure {
  input: string;
  index: number;
  analytic: number;
  numeric: number;
  plus: number;
  minus: number;
  error: number;
}

/** Row-major coordinates of flat index `i` in `shape`. */
export function coordinates(i: number, shape: readonly number[]): number[] {
  const out: number[] = [];
  for (let d = shape.length - 1; d >= 0; d--) {
    out.unshift(i % shape[d]);
    i = Math.floor(i / shape[d]);
  }
  return out;
}

function sameArray(a: ArrayLike<number>, b: ArrayLike<number>): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return false;
  return true;
}

/** `count` distinct indices below `size`, ascending (all of them when size <= count). */
function subset(size: number, count: number, rng: Rng): number[] {
  const all = Array.from({ length: size }, (_, i) => i);
  if (size <= count) return all;
  for (let i = 0; i < count; i++) {
    const j = i + rng.below(size - i); // partial Fisher-Yates
    [all[i], all[j]] = [all[j], all[i]];
  }
  return all.slice(0, count).sort((a, b) => a - b);
}

function fmt(v: number): string {
  return v.toPrecision(10);
}

function describeCase<I extends Inputs>(spec: GradcheckSpec<I>, y: Tensor<Float64Array>): string {
  const shapes = Object.entries(spec.inputs).map(([k, t]) => `${k} ${formatShape(t.shape)}`);
  shapes.push(`y ${formatShape(y.shape)}`);
  const params = spec.params === undefined ? '' : `\n  params: ${JSON.stringify(spec.params)}`;
  return `${params}\n  shapes: ${shapes.join(', ')}`;
}

export function gradcheck<I extends Inputs>(spec: GradcheckSpec<I>): GradcheckReport {
  const step = spec.step ?? GRADCHECK_STEP;
  const tolerance = spec.tolerance ?? GRADCHECK_TOLERANCE;
  const seed = spec.seed ?? 1;
  const maxPerInput = spec.maxPerInput ?? 200;
  const wrt = spec.wrt ?? (Object.keys(spec.inputs) as (keyof I & string)[]);
  const rng = new Rng(seed);

  // Base point: output, upstream gradient, analytic gradients, piece.
  const y = spec.forward(spec.inputs);
  if (!(y.data instanceof Float64Array)) throw new Error(`gradcheck ${spec.op}: forward of float64 inputs returned ${(y.data as object).constructor.name}`);
  const y0 = Float64Array.from(y.data); // copied: some ops (flatten) return views of their input
  const dyData = new Float64Array(y0.length);
  for (let j = 0; j < dyData.length; j++) dyData[j] = rng.normal();
  const dy: Tensor<Float64Array> = { data: dyData, shape: [...y.shape] };
  const grads = spec.backward(spec.inputs, dy);
  const piece0 = spec.pieces ? Array.from(spec.pieces(spec.inputs)) : null;
  const where = describeCase(spec, y);

  const report: GradcheckReport = { checked: 0, skipped: 0, maxError: 0, inputs: {} };
  const failures: Failure[] = [];
  for (const name of wrt) {
    const x = spec.inputs[name];
    const g = grads[name];
    if (!g) throw new Error(`gradcheck ${spec.op}: backward returned no gradient for ${name}`);
    if (!(g.data instanceof Float64Array)) throw new Error(`gradcheck ${spec.op}: gradient of ${name} is ${(g.data as object).constructor.name}, not Float64Array`);
    if (formatShape(g.shape) !== formatShape(x.shape) || g.data.length !== sizeOf(x.shape)) {
      throw new Error(`gradcheck ${spec.op}: gradient of ${name} has shape ${formatShape(g.shape)}, input ${formatShape(x.shape)}${where}`);
    }
    const r: InputReport = { size: x.data.length, checked: 0, skipped: 0, maxError: 0 };
    report.inputs[name] = r;
    for (const i of subset(x.data.length, maxPerInput, rng)) {
      const xi = x.data[i];
      const h = step * Math.max(1, Math.abs(xi));
      x.data[i] = xi + h;
      const xp = x.data[i];
      const yp = Float64Array.from(spec.forward(spec.inputs).data);
      const pp = spec.pieces ? spec.pieces(spec.inputs) : null;
      const piecePlus = pp ? Array.from(pp) : null;
      x.data[i] = xi - h;
      const xm = x.data[i];
      const ym = Float64Array.from(spec.forward(spec.inputs).data);
      const pieceMinus = spec.pieces ? Array.from(spec.pieces(spec.inputs)) : null;
      x.data[i] = xi;
      if (piece0 && (!sameArray(piece0, piecePlus!) || !sameArray(piece0, pieceMinus!))) {
        r.skipped++;
        continue;
      }
      let central = 0;
      let plus = 0;
      let minus = 0;
      for (let j = 0; j < y0.length; j++) {
        central += (yp[j] - ym[j]) * dyData[j];
        plus += (yp[j] - y0[j]) * dyData[j];
        minus += (y0[j] - ym[j]) * dyData[j];
      }
      const numeric = central / (xp - xm);
      const analytic = g.data[i];
      const error = Math.abs(analytic - numeric) / Math.max(1, Math.abs(analytic), Math.abs(numeric));
      r.checked++;
      // NaN on either side must fail, so test "not within" rather than "above"
      if (!(error <= tolerance)) {
        failures.push({ input: name, index: i, analytic, numeric, plus: plus / (xp - xi), minus: minus / (xi - xm), error });
      }
      if (error > r.maxError || Number.isNaN(error)) r.maxError = error;
    }
    report.checked += r.checked;
    report.skipped += r.skipped;
    report.maxError = Math.max(report.maxError, r.maxError);
  }

  if (failures.length > 0) {
    const shown = failures.slice(0, 6).map((f) => {
      const at = coordinates(f.index, spec.inputs[f.input].shape).join(', ');
      return (
        `\n  ${f.input}[${f.index}] = ${f.input}[${at}]: analytic ${fmt(f.analytic)}, numeric ${fmt(f.numeric)} ` +
        `(one-sided +h ${fmt(f.plus)}, -h ${fmt(f.minus)}), error ${f.error.toExponential(2)}`
      );
    });
    const more = failures.length > shown.length ? `\n  ... and ${failures.length - shown.length} more` : '';
    throw new Error(
      `gradcheck ${spec.op}: ${failures.length} of ${report.checked} checked elements disagree with central differences ` +
        `(|a - n| / max(1, |a|, |n|) > ${tolerance}; step ${step} * max(1, |x|); gradcheck seed ${seed})` +
        `${where}${shown.join('')}${more}`,
    );
  }
  return report;
}

// ---------------------------------------------------------------------------------------------
// Other checks shared by the op tests.

/** Size of one float32 unit in the last place at magnitude |v| (normal range; 2^-149 below it). */
export function ulp32(v: number): number {
  const a = Math.abs(v);
  if (a < 2 ** -126) return 2 ** -149;
  return 2 ** (Math.floor(Math.log2(a)) - 23);
}

/**
 * Asserts that a float32 result is the float64 result up to float32 rounding: every element within
 * `ulps` float32 units in the last place of the float64 value (0.5 ulp = correctly rounded, i.e.
 * exactly Math.fround of the float64 value). `floor` is a magnitude below which ulps are measured
 * at `floor` instead (for results that cancel to near zero). Also checks the array types.
 */
export function expectFloat32Rounding(
  what: string,
  y32: ArrayLike<number>,
  y64: ArrayLike<number>,
  ulps: number,
  floor = 0,
): void {
  if (!(y32 instanceof Float32Array)) throw new Error(`${what}: float32 result is ${(y32 as object).constructor.name}, expected Float32Array`);
  if (!(y64 instanceof Float64Array)) throw new Error(`${what}: float64 result is ${(y64 as object).constructor.name}, expected Float64Array`);
  if (y32.length !== y64.length) throw new Error(`${what}: float32 result has ${y32.length} elements, float64 ${y64.length}`);
  for (let i = 0; i < y32.length; i++) {
    const a = y32[i];
    const b = y64[i];
    if (Number.isNaN(a) && Number.isNaN(b)) continue;
    const err = Math.abs(a - b) / ulp32(Math.max(Math.abs(b), floor));
    if (!(err <= ulps)) {
      throw new Error(`${what}: element ${i} is ${a} in float32 and ${b} in float64: ${err.toFixed(3)} float32 ulps apart, allowed ${ulps}`);
    }
  }
}

/** |actual - expected| <= rel * |expected| + abs for every element. */
export function expectAllClose(what: string, actual: ArrayLike<number>, expected: ArrayLike<number>, rel: number, abs = 0): void {
  if (actual.length !== expected.length) throw new Error(`${what}: got ${actual.length} elements, expected ${expected.length}`);
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i];
    const e = expected[i];
    if (!(Math.abs(a - e) <= rel * Math.abs(e) + abs)) {
      throw new Error(`${what}: element ${i} is ${a}, expected ${e} (relative tolerance ${rel}, absolute ${abs})`);
    }
  }
}

/** Exact element-by-element equality, with the first differing index in the message. */
export function expectExactlyEqual(what: string, actual: ArrayLike<number>, expected: ArrayLike<number>): void {
  if (actual.length !== expected.length) throw new Error(`${what}: got ${actual.length} elements, expected ${expected.length}`);
  for (let i = 0; i < actual.length; i++) {
    if (!Object.is(actual[i], expected[i]) && !(actual[i] === 0 && expected[i] === 0)) {
      throw new Error(`${what}: element ${i} is ${actual[i]}, expected exactly ${expected[i]}`);
    }
  }
}
