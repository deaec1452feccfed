/**
 * Tensors as plain data: a typed array in row-major (C) order and its shape.
 *
 * Activations are NCHW (batch, channels, height, width); convolution weights are
 * [OC, C/groups, KH, KW] and fully connected weights [OUT, IN], exactly as PyTorch lays them out.
 * Every op accepts Float32Array (what networks run in) and Float64Array (what gradient checks and
 * golden traces run in) and returns the same type it was given.
 */

export type FloatArray = Float32Array | Float64Array;
export type DType = 'float32' | 'float64';

export interface Tensor<A extends FloatArray = FloatArray> {
  readonly data: A;
  readonly shape: readonly number[];
}

/** Number of elements of a shape (1 for a scalar shape []). */
export function sizeOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function dtypeOf(a: FloatArray): DType {
  return a instanceof Float64Array ? 'float64' : 'float32';
}

export function allocate(dtype: 'float32', n: number): Float32Array;
export function allocate(dtype: 'float64', n: number): Float64Array;
export function allocate(dtype: DType, n: number): FloatArray;
export function allocate(dtype: DType, n: number): FloatArray {
  return dtype === 'float64' ? new Float64Array(n) : new Float32Array(n);
}

/** A zero-filled array of the same element type as `like`. */
export function allocLike<A extends FloatArray>(like: A, n: number): A {
  return (like instanceof Float64Array ? new Float64Array(n) : new Float32Array(n)) as A;
}

export function tensor<A extends FloatArray>(data: A, shape: readonly number[]): Tensor<A> {
  if (sizeOf(shape) !== data.length) {
    throw new Error(`shape [${shape.join(', ')}] needs ${sizeOf(shape)} elements, got ${data.length}`);
  }
  return { data, shape: [...shape] };
}

export function zeros(dtype: 'float32', shape: readonly number[]): Tensor<Float32Array>;
export function zeros(dtype: 'float64', shape: readonly number[]): Tensor<Float64Array>;
export function zeros(dtype: DType, shape: readonly number[]): Tensor;
export function zeros(dtype: DType, shape: readonly number[]): Tensor {
  return { data: allocate(dtype, sizeOf(shape)), shape: [...shape] };
}

export function zerosLike<A extends FloatArray>(t: Tensor<A>): Tensor<A> {
  return { data: allocLike(t.data, t.data.length), shape: [...t.shape] };
}

/** Copy into a new array of the given element type (rounding to float32 if asked). */
export function cast(t: Tensor, dtype: 'float32'): Tensor<Float32Array>;
export function cast(t: Tensor, dtype: 'float64'): Tensor<Float64Array>;
export function cast(t: Tensor, dtype: DType): Tensor;
export function cast(t: Tensor, dtype: DType): Tensor {
  const out = allocate(dtype, t.data.length);
  out.set(t.data);
  return { data: out, shape: [...t.shape] };
}

/** The same data seen with another shape of equal size (no copy). */
export function reshape<A extends FloatArray>(t: Tensor<A>, shape: readonly number[]): Tensor<A> {
  if (sizeOf(shape) !== t.data.length) {
    throw new Error(`cannot reshape [${t.shape.join(', ')}] to [${shape.join(', ')}]`);
  }
  return { data: t.data, shape: [...shape] };
}

export function shapeEquals(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

export function formatShape(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

/** Throws unless both arrays have the same element type: ops never mix float32 and float64. */
export function assertSameDtype(what: string, ...arrays: FloatArray[]): void {
  const d = dtypeOf(arrays[0]);
  for (const a of arrays) {
    if (dtypeOf(a) !== d) throw new Error(`${what}: operands mix float32 and float64`);
  }
}

/** Throws unless `t` has rank `rank`; returns its dimensions for destructuring. */
export function dims(what: string, t: Tensor, rank: number): number[] {
  if (t.shape.length !== rank) {
    throw new Error(`${what}: expected a rank-${rank} tensor, got ${formatShape(t.shape)}`);
  }
  return [...t.shape];
}
