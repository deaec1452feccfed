/**
 * What the network walker needs from a compute backend: each op's forward and backward.
 *
 * A backend returns, with every forward result, an opaque cache that only its own backward
 * reads. The reference backend (reference.ts) is the plain loops of src/ops; the WebAssembly
 * backend implements the same contract with SIMD kernels. Any other JavaScript implementation
 * (a WebGPU port, say) can be dropped into the same walker and compared op by op.
 */

import type { Conv2dParams } from '../ops/conv2d.js';
import type { LrnParams } from '../ops/lrn.js';
import type { MaxPoolParams } from '../ops/maxpool.js';
import type { AdaptiveAvgPoolParams } from '../ops/adaptive-avgpool.js';
import type { FloatArray, Tensor } from '../tensor.js';
import type { Weights } from '../model/network.js';
import type { SgdOptions } from '../train/optimizer.js';

export type OpCache = unknown;

export interface Forward<A extends FloatArray> {
  y: Tensor<A>;
  cache: OpCache;
}

export interface Backend {
  readonly name: string;
  conv2dForward<A extends FloatArray>(x: Tensor<A>, w: Tensor<A>, b: Tensor<A> | null, params: Conv2dParams): Forward<A>;
  conv2dBackward<A extends FloatArray>(cache: OpCache, dy: Tensor<A>): { dx: Tensor<A>; dw: Tensor<A>; db: Tensor<A> };
  reluForward<A extends FloatArray>(x: Tensor<A>): Forward<A>;
  reluBackward<A extends FloatArray>(cache: OpCache, dy: Tensor<A>): { dx: Tensor<A> };
  lrnForward<A extends FloatArray>(x: Tensor<A>, params: LrnParams): Forward<A>;
  lrnBackward<A extends FloatArray>(cache: OpCache, dy: Tensor<A>): { dx: Tensor<A> };
  maxPoolForward<A extends FloatArray>(x: Tensor<A>, params: MaxPoolParams): Forward<A>;
  maxPoolBackward<A extends FloatArray>(cache: OpCache, dy: Tensor<A>): { dx: Tensor<A> };
  adaptiveAvgPoolForward<A extends FloatArray>(x: Tensor<A>, params: AdaptiveAvgPoolParams): Forward<A>;
  adaptiveAvgPoolBackward<A extends FloatArray>(cache: OpCache, dy: Tensor<A>): { dx: Tensor<A> };
  linearForward<A extends FloatArray>(x: Tensor<A>, w: Tensor<A>, b: Tensor<A> | null): Forward<A>;
  linearBackward<A extends FloatArray>(cache: OpCache, dy: Tensor<A>): { dx: Tensor<A>; dw: Tensor<A>; db: Tensor<A> };
  dropoutForward<A extends FloatArray>(x: Tensor<A>, p: number, mask: Uint8Array): Forward<A>;
  dropoutBackward<A extends FloatArray>(cache: OpCache, dy: Tensor<A>): { dx: Tensor<A> };
  softmaxForward<A extends FloatArray>(x: Tensor<A>): Forward<A>;
  crossEntropyForward<A extends FloatArray>(logits: Tensor<A>, labels: Int32Array): { loss: number; cache: OpCache };
  crossEntropyBackward<A extends FloatArray>(cache: OpCache): { dlogits: Tensor<A> };
  /**
   * The weight arrays passed to earlier calls were changed in place (an optimiser step): a backend
   * that keeps derived copies of them (the wasm backend packs them for its GEMM) must drop those.
   */
  weightsUpdated?(): void;
  /**
   * Memory for weights that this backend uses where they lie, for the backend's lifetime (the
   * wasm backend: a region of its WebAssembly memory). A weight file read into it, by a format
   * whose tensors are views on the file's bytes (see readsInPlace), is never copied again.
   */
  allocateResident?(byteLength: number): Uint8Array;
  /**
   * The SGD update of src/train/optimizer.ts (sgdStep), with exactly its bits, done faster. The
   * training loop uses it when the backend has it.
   */
  sgdStep?(weights: Weights<Float32Array>, grads: Map<string, Tensor>, momentum: Map<string, Float32Array>, lr: number, options: SgdOptions): void;
  /**
   * Runs `body` (synchronous) as one unit of work whose tensors need not outlive it: a backend may
   * then return results that live in its own memory (the wasm backend: views of its WebAssembly
   * memory) and read them there when they come back, instead of copying each activation and
   * gradient out and in again. Nothing a backend op returned inside may be used after `body`
   * returns. The training loop runs each step in one, evaluation each batch.
   */
  scope?<T>(body: () => T): T;
}

/** `body` inside `backend.scope` when the backend has scopes, else simply `body()`. */
export function inScope<T>(backend: Backend, body: () => T): T {
  return backend.scope ? backend.scope(body) : body();
}
