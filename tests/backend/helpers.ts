/**
 * Shared by tests/backend: comparing float32 results of the wasm backend with the float64 reference.
 *
 * Two measures:
 *   - per element, the float32 error bound of a sum (tests/kernels/harness.ts dotErrorBound): for a
 *     result that is a sum of `terms` products, |got - exact| <= gamma_(terms+1) * sum |products|,
 *     where the sum of |products| is the same reference computation run on absolute values. The
 *     bound grows with K (and with N*P for weight gradients), as the error does, whatever the order
 *     of the sums (threads, K blocks, partial sums per chunk of images);
 *   - for whole networks, max |got - want| / max(1e-3, max |want|) (as the PyTorch fixtures use).
 */

import { dotErrorBound } from '../kernels/harness.js';

export { dotErrorBound };

/** Throws at the first element outside gamma_(terms+1) * absSum[i] (plus a float32 rounding of the result). */
export function expectWithinSumBound(what: string, got: ArrayLike<number>, want: ArrayLike<number>, absSum: ArrayLike<number>, terms: number): void {
  if (got.length !== want.length) throw new Error(`${what}: ${got.length} values, expected ${want.length}`);
  for (let i = 0; i < want.length; i++) {
    const tol = dotErrorBound(terms, absSum[i]) + 2 ** -24 * Math.abs(want[i]);
    if (!(Math.abs(got[i] - want[i]) <= tol)) {
      throw new Error(`${what}[${i}] = ${got[i]}, expected ${want[i]} within ${tol.toExponential(2)} (${terms} terms, sum |terms| ${absSum[i]})`);
    }
  }
}

/** max |got - want| / max(1e-3, max |want|), and where. */
export function relativeError(got: ArrayLike<number>, want: ArrayLike<number>): { err: number; at: number } {
  let scale = 1e-3;
  for (let i = 0; i < want.length; i++) scale = Math.max(scale, Math.abs(want[i]));
  let worst = 0;
  let at = 0;
  for (let i = 0; i < want.length; i++) {
    const d = Math.abs(got[i] - want[i]);
    if (!(d <= worst)) {
      worst = d;
      at = i;
      if (Number.isNaN(d)) break;
    }
  }
  return { err: worst / scale, at };
}

export function expectRelativeError(what: string, got: ArrayLike<number>, want: ArrayLike<number>, tol: number): number {
  if (got.length !== want.length) throw new Error(`${what}: ${got.length} values, expected ${want.length}`);
  const { err, at } = relativeError(got, want);
  if (!(err <= tol)) throw new Error(`${what}: max |got - want| / max(1e-3, max |want|) = ${err.toExponential(3)} > ${tol} at ${at}: got ${got[at]}, want ${want[at]}`);
  return err;
}

/** Describes the first element that differs bit for bit (NaN = NaN, -0 != 0), or null. */
export function firstDifference(got: ArrayLike<number>, want: ArrayLike<number>): string | null {
  if (got.length !== want.length) return `length ${got.length}, expected ${want.length}`;
  for (let i = 0; i < want.length; i++) if (!Object.is(got[i], want[i])) return `index ${i}: ${got[i]} vs ${want[i]}`;
  return null;
}
