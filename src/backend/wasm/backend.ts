/**
 * The WebAssembly backend: every AlexNet op of the Backend interface through the kernels of
 * assembly/, on one thread or several, with the same bits whatever the number of threads.
 *
 *   const backend = await createWasmBackend({ threads: 2 });
 *   const pass = forward(arch, weights, x, backend);
 *   backend.dispose();
 *
 * Data flow of an op: the host owns one shared WebAssembly memory. The op copies its inputs
 * (activations, gradients) into the memory, has the layer computed there as independent pieces
 * (task kernels, see runner.ts), and copies the outputs back into fresh Float32Arrays, which are
 * what the walker sees. Inside `scope(body)` (a training step, an evaluation batch) nothing is
 * copied: outputs are views of the memory where the kernels wrote them, an op reads such a view
 * where it lies, and the memory is reclaimed when `body` returns. Outside, each activation crosses
 * the boundary twice; in a training step that was ~15% of the time. Weights are packed once
 * into the GEMM's panel layout and kept, by Float32Array identity, until `weightsUpdated()` says
 * they changed (the training loop calls it after each optimiser step). The fc forward reads its
 * weights as stored ([OUT, IN] rows), so weights that already lie in the memory, in a region from
 * `allocateResident` (a file read straight into it, or the training state of `alexnet train`),
 * are used in place: inference then holds one copy of the 234 MB of fc weights, not two, and the
 * optimiser updates resident weights and momenta where they lie.
 *
 * How each op is cut into pieces (what makes the thread count irrelevant to the result):
 *   conv forward    (image, group, range of output pixels); a pixel's outputs are one GEMM row
 *   conv dx         (image, group): dcols = W_g^T dY_g, then col2im into that image and group
 *   conv dW         (chunk of images, group) into a partial dW per chunk, then the partials added
 *                   in chunk order; chunks are cut from the batch size alone (FILTER_CHUNKS), and
 *                   within a chunk a few images share one product (FILTER_SPAN_PIXELS)
 *   3x3 conv, stride 1 (conv3-conv5), by Winograd's F(2x2, 3x3) (assembly/winograd.ts):
 *                   forward by (group, range of 2x2 output tiles); dx by (group, range of whole
 *                   images), whose overlapping blocks are added in tile order; dW as above, by
 *                   (chunk of images, group), the chunks' partials added in chunk order
 *   conv db, fc db  ranges of channels, each summed in float64 in a fixed order
 *   fc forward      ranges of outputs, every batch row (each output one dot product of two rows)
 *   fc dx, dW       tiles of rows x columns of the result (each element one GEMM dot product)
 *   ReLU            ranges of elements
 *   LRN             (image, range of positions), all channels (beta = 0.75; other betas: reference)
 *   max pooling     ranges of planes (image, channel)
 * The remaining ops (adaptive average pooling, dropout, softmax, cross-entropy) are cheap next to
 * these and run the reference code of src/ops on the JavaScript side.
 *
 * Float64 tensors (gradient checks, float64 traces) run the reference ops: the kernels are float32.
 *
 * This file is browser-safe; createWasmBackend loads the Node-only pieces (node-loader.ts,
 * node-pool.ts) only when it has to read build/ or start worker threads.
 */

import type { Backend, Forward, OpCache } from '../backend.js';
import { referenceBackend } from '../reference.js';
import type { Conv2dParams } from '../../ops/conv2d.js';
import { convGeometry, type ConvGeometry } from '../../ops/conv2d.js';
import type { LrnParams } from '../../ops/lrn.js';
import type { MaxPoolCache, MaxPoolParams } from '../../ops/maxpool.js';
import { outputSize2d } from '../../geometry.js';
import type { AdaptiveAvgPoolParams } from '../../ops/adaptive-avgpool.js';
import { type FloatArray, type Tensor, assertSameDtype, dims, formatShape, shapeEquals } from '../../tensor.js';
import {
  type BuildName, type BumpAllocator, type KernelSetup, type Kernels, type Ptr, type TaskKernel, type WasmModule,
  GEMM_MR, GEMM_NR, packedASize, packedBSize, setUpKernels,
} from './kernels.js';
import { InlineRunner, type TaskRunner } from './runner.js';
import type { Weights } from '../../model/network.js';
import { type SgdOptions, sgdStep } from '../../train/optimizer.js';

/** Most chunks a batch is cut into for the conv weight gradient (a partial dW each). */
export const FILTER_CHUNKS = 8;
/** Pixels (of several images) one conv weight-gradient product reduces over, at most (unless one image has more). */
const FILTER_SPAN_PIXELS = 1024;
/** Tiles a Winograd weight-gradient product reduces over, at most (unless one image has more). */
const WINOGRAD_SPAN_TILES = 256;
/** Output tiles of a Winograd forward or dx piece, about: 16 products of this many rows each. */
const WINOGRAD_PIECE_TILES = 64;
/** Most GEMM rows (pixels, batch rows) in one piece: its packed A stays in L2. */
const MAX_PIECE_ROWS = 128;
/** Positions of an H*W plane in one LRN piece (all channels of one image). */
const LRN_POSITIONS = 64;
/** Elements of a parameter the SGD update copies into the memory at a time (16 MB per array). */
export const SGD_CHUNK = 2 ** 22;
/** Packed weights kept at most; past this the cache is emptied before packing more. */
const WEIGHT_CACHE_BYTES = 1536 * 2 ** 20;

export interface WasmBackendOptions {
  /** Threads computing, the calling one included. Default: os.availableParallelism() under Node, else 1. */
  threads?: number;
  /** Kernel build. Default: the fastest this engine accepts (relaxed SIMD, SIMD, scalar). */
  build?: BuildName;
  /**
   * Run 3x3 convolutions of stride 1 by Winograd's F(2x2, 3x3): 2.25 times fewer multiplications,
   * results within float32 rounding of the direct convolution's. Default true; false runs every
   * convolution as im2col and GEMM.
   */
  winograd?: boolean;
}

/** A Backend that also releases its threads and memory. */
export interface WasmBackend extends Backend {
  readonly build: BuildName;
  readonly threads: number;
  /** Whether 3x3 convolutions of stride 1 run by Winograd's F(2x2, 3x3) (WasmBackendOptions.winograd). */
  readonly winograd: boolean;
  /** Drops the packed copies of the weights: call after changing any weight array in place. */
  weightsUpdated(): void;
  /**
   * `byteLength` bytes inside the kernels' memory, 64-byte aligned, that live as long as the
   * backend. Float32 weights that are views into such a region (a weight file read into it) are
   * used where they lie: the fc forward makes no copy of them. Drops packed weights.
   */
  allocateResident(byteLength: number): Uint8Array;
  /** sgdStep of src/train/optimizer.ts, the same bits, on the kernels' threads. */
  sgdStep(weights: Weights<Float32Array>, grads: Map<string, Tensor>, momentum: Map<string, Float32Array>, lr: number, options: SgdOptions): void;
  /** Runs `body` so that the tensors of its ops stay in the kernels' memory until it returns (Backend.scope). */
  scope<T>(body: () => T): T;
  /** Stops the worker threads; the backend is unusable afterwards. */
  dispose(): void;
}

/** What a backward needs, tagged so that float64 caches (the reference's own) are told apart. */
type WasmCache =
  | { op: 'conv'; x: Tensor<Float32Array>; w: Tensor<Float32Array>; params: Conv2dParams }
  | { op: 'linear'; x: Tensor<Float32Array>; w: Tensor<Float32Array> }
  | { op: 'relu'; x: Tensor<Float32Array> }
  | { op: 'lrn'; x: Tensor<Float32Array>; params: LrnParams }
  | { op: 'maxpool'; cache: MaxPoolCache }
  | { op: 'reference'; cache: OpCache };

const ref = (cache: OpCache): WasmCache => ({ op: 'reference', cache });
const isF32 = (a: FloatArray): a is Float32Array => a instanceof Float32Array;
const roundUp = (x: number, to: number): number => Math.ceil(x / to) * to;
/** Floats rounded up to 64 bytes, so that consecutive regions stay aligned (assembly align16). */
const align16 = (floats: number): number => roundUp(floats, 16);
/** Floats between consecutive Winograd coordinate buffers (assembly/winograd.ts spaced). */
const spaced = (floats: number): number => align16(floats) + 16;

/**
 * How Winograd's F(2x2, 3x3) tiles a convolution's output: TH x TW tiles of 2x2 outputs (Q per
 * image), each reading a 4x4 block of the input zero-padded to PH x PW planes (assembly/winograd.ts).
 */
interface WinogradTiles { TH: number; TW: number; Q: number; PH: number; PW: number }

function winogradTiles(geo: ConvGeometry): WinogradTiles {
  const TH = Math.ceil(geo.OH / 2), TW = Math.ceil(geo.OW / 2);
  return { TH, TW, Q: TH * TW, PH: 2 * TH + 2, PW: 2 * TW + 2 };
}

type PackedLayout = 'conv-goi' | 'conv-gio' | 'fc-gio';
type WinogradLayout = 'winograd-goi' | 'winograd-gio';

/**
 * The backend over an instantiated build and a runner. Prefer createWasmBackend, which makes both.
 */
export class WasmKernelBackend implements WasmBackend {
  readonly name = 'wasm';
  private readonly alloc: BumpAllocator;
  private readonly kernels: Kernels;
  /** First byte past the packed weights: every op's buffers start here and are released after. */
  private base: Ptr;
  /** First byte past the resident regions: packed weights start here. */
  private start: Ptr;
  /** Regions handed out by allocateResident: [buffer object of the views, first byte, end]. */
  private readonly resident: { buffer: ArrayBufferLike; begin: Ptr; end: Ptr }[] = [];
  /** Derived copies of weights (packed, transformed, stored), by array and layout: where and how many floats. */
  private packed = new Map<Float32Array, Map<string, { ptr: Ptr; floats: number }>>();
  private packedBytes = 0;
  private disposed = false;
  /**
   * The open scope (see scope()): the base when it opened, the buffer objects of the views it
   * handed out, whether weights were packed inside it, and whether the cache was emptied.
   */
  private open: { floor: Ptr; buffers: Set<ArrayBufferLike>; packedInside: boolean; cleared: boolean } | null = null;

  /** Whether 3x3 convolutions of stride 1 go through Winograd's F(2x2, 3x3) (WasmBackendOptions.winograd). */
  readonly winograd: boolean;

  constructor(setup: KernelSetup, private readonly runner: TaskRunner, options: { winograd?: boolean } = {}) {
    this.winograd = options.winograd ?? true;
    this.kernels = setup.kernels;
    this.alloc = setup.alloc;
    this.start = this.base = setup.alloc.mark();
  }

  /**
   * Runs every op forward and backward on small tensors, `rounds` times, through the runner (all
   * threads), so that V8 has tiered the task kernels up from its baseline compiler before the
   * first real layer: a long call started in baseline code stays there until it returns (~4x
   * slower). Leaves nothing behind (packed weights dropped).
   */
  warmUp(rounds = 6): void {
    const t = (shape: number[], seed: number): Tensor<Float32Array> => {
      const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
      for (let i = 0; i < data.length; i++) data[i] = Math.sin(seed + 0.7 * i);
      return { data, shape };
    };
    const x = t([3, 4, 9, 9], 1), w = t([6, 2, 3, 3], 2), b = t([6], 3);
    const lrn: LrnParams = { size: 5, alpha: 1e-4, beta: 0.75, k: 2, divideAlphaByN: false };
    const pool: MaxPoolParams = { kernel: 3, stride: 2, pads: [0, 0, 0, 0], rounding: 'floor' };
    for (let r = 0; r < rounds; r++) {
      const conv = this.conv2dForward(x, w, b, { stride: 1 + (r % 2), pad: 1, groups: 2 });
      const relu = this.reluForward(conv.y);
      const norm = this.lrnForward(relu.y, lrn);
      const mp = this.maxPoolForward(norm.y, pool);
      const flat: Tensor<Float32Array> = { data: mp.y.data, shape: [mp.y.shape[0], mp.y.data.length / mp.y.shape[0]] };
      const fcw = t([10, flat.shape[1]], 4);
      const fc = this.linearForward(flat, fcw, t([10], 5));
      this.linearForward({ data: flat.data.subarray(0, flat.shape[1]), shape: [1, flat.shape[1]] }, fcw, null); // one row
      const dfc = this.linearBackward(fc.cache, t(fc.y.shape as number[], 6));
      const dmp = this.maxPoolBackward(mp.cache, { data: dfc.dx.data, shape: mp.y.shape });
      const dnorm = this.lrnBackward(norm.cache, dmp.dx);
      const drelu = this.reluBackward(relu.cache, dnorm.dx);
      this.conv2dBackward(conv.cache, drelu.dx);
      this.weightsUpdated();
    }
  }

  get build(): BuildName {
    return this.kernels.build;
  }

  get threads(): number {
    return this.runner.threads;
  }

  weightsUpdated(): void {
    this.packed.clear();
    this.packedBytes = 0;
    if (this.open) {
      this.open.cleared = true; // the scope's results stay: the memory is reclaimed when it closes
      return;
    }
    this.base = this.start;
    this.alloc.reset(this.start);
  }

  allocateResident(byteLength: number): Uint8Array {
    if (this.disposed) throw new Error('wasm backend: used after dispose()');
    if (!(Number.isInteger(byteLength) && byteLength >= 0)) throw new Error(`allocateResident: bad size ${byteLength}`);
    if (this.open) throw new Error('allocateResident: not inside a scope');
    this.weightsUpdated(); // the packed copies sit where the region goes
    const ptr = this.alloc.alloc(Math.ceil(byteLength / 4));
    this.start = this.base = this.alloc.mark();
    // A shared memory's buffer is never detached when the memory grows: the view stays valid.
    const bytes = new Uint8Array(this.alloc.memory.buffer, ptr, byteLength);
    this.resident.push({ buffer: bytes.buffer, begin: ptr, end: ptr + byteLength });
    return bytes;
  }

  /** The address of `a` when it lies in a resident region, else undefined. */
  private residentAddress(a: Float32Array): Ptr | undefined {
    for (const r of this.resident) {
      if (a.buffer === r.buffer && a.byteOffset >= r.begin && a.byteOffset + a.byteLength <= r.end) return a.byteOffset;
    }
    return undefined;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.weightsUpdated();
    this.runner.dispose();
  }

  // -------------------------------------------------------------------------------------------
  // Memory.

  /** Runs `body` with the memory above the packed weights, which it may allocate from; releases it after. */
  private scoped<T>(body: () => T): T {
    if (this.disposed) throw new Error('wasm backend: used after dispose()');
    this.alloc.reset(this.base);
    try {
      return body();
    } finally {
      this.alloc.reset(this.base);
    }
  }

  /**
   * Runs `body` (synchronous) as one scope: every tensor an op returns inside it is a view of the
   * result where the kernels wrote it, and a tensor of the scope handed back to an op is read
   * where it lies, so activations and gradients cross no boundary between layers. The views stay
   * valid until `body` returns, then their memory is reused: nothing of them may be kept past the
   * scope (copy what must outlive it). A scope inside a scope is part of the outer one. Every op
   * reads the same values as it would from copies, so the bits are those of a run without a
   * scope (tested).
   */
  scope<T>(body: () => T): T {
    if (this.disposed) throw new Error('wasm backend: used after dispose()');
    if (this.open) return body();
    const open = (this.open = { floor: this.base, buffers: new Set<ArrayBufferLike>(), packedInside: false, cleared: false });
    try {
      return body();
    } finally {
      this.open = null;
      // Weights packed inside the scope lie among its tensors: keep them, moved down to where the
      // scope began (or to the start of the cache, when the scope dropped the older copies).
      const floor = open.cleared ? this.start : open.floor;
      this.base = open.packedInside ? this.keepPackedFrom(open.floor, floor) : floor;
      this.alloc.reset(this.base);
    }
  }

  /**
   * Moves the cached copies at or above `from` down to `to`, in address order (each to a lower or
   * the same address: a memmove never overwrites one not yet moved), and returns the first byte
   * past them. A scope that packs weights thus leaves them packed for the next one: repeated
   * inference (batches of a folder, one image after another) packs its weights once.
   */
  private keepPackedFrom(from: Ptr, to: Ptr): Ptr {
    const above = [...this.packed.values()]
      .flatMap((byKey) => [...byKey].map(([key, entry]) => ({ byKey, key, entry })))
      .filter(({ entry }) => entry.ptr >= from)
      .sort((a, b) => a.entry.ptr - b.entry.ptr);
    const bytes = new Uint8Array(this.alloc.memory.buffer);
    let at = to;
    for (const { byKey, key, entry } of above) {
      bytes.copyWithin(at, entry.ptr, entry.ptr + entry.floats * 4);
      byKey.set(key, { ptr: at, floats: entry.floats });
      at += roundUp(entry.floats * 4, 64); // the allocator's alignment
    }
    return at;
  }

  /**
   * Room for `floats` floats of an op's result, kept when a scope is open (the op's other buffers
   * are released as usual). An op takes its results before it allocates anything else but packed weights.
   */
  private result(floats: number): Ptr {
    const ptr = this.alloc.alloc(floats);
    if (this.open) {
      if (ptr !== this.base) throw new Error('wasm backend: a result must be allocated before the op\'s other buffers');
      this.base = this.alloc.mark();
    }
    return ptr;
  }

  /** The result at `ptr` as the caller sees it: a view of it inside a scope, else a fresh copy. */
  private deliver(ptr: Ptr, length: number): Float32Array {
    if (!this.open) return this.copyOut(ptr, length);
    this.open.buffers.add(this.alloc.memory.buffer);
    return this.alloc.f32(ptr, length);
  }

  /** The address of `a` when it is a result of the open scope (still in the memory), else undefined. */
  private scopeAddress(a: ArrayBufferView): Ptr | undefined {
    const open = this.open;
    if (!open || !open.buffers.has(a.buffer)) return undefined;
    return a.byteOffset >= open.floor && a.byteOffset + a.byteLength <= this.base ? a.byteOffset : undefined;
  }

  /** `data` in the memory, as it is: where it lies (a scope's result) or a copy. */
  private place(data: Float32Array): Ptr {
    return this.scopeAddress(data) ?? this.alloc.allocFrom(data);
  }

  /**
   * `data` in the memory with subnormals flushed to zero (they slow the GEMM ~100x on Intel): a
   * scope's result that holds none is used where it lies; anything else is copied, and the copy
   * flushed (a scope's tensors are never changed, whoever else reads them).
   */
  private copyIn(data: Float32Array): Ptr {
    const at = this.scopeAddress(data);
    if (at !== undefined && !this.kernels.hasSubnormals(at, data.length)) return at;
    const ptr = this.alloc.allocFrom(data);
    this.kernels.flushSubnormals(ptr, data.length);
    return ptr;
  }

  /** A fresh Float32Array holding `length` floats at `ptr` (new + set: V8's slice() of a shared buffer is ~2.5x slower). */
  private copyOut(ptr: Ptr, length: number): Float32Array {
    const out = new Float32Array(length);
    out.set(this.alloc.f32(ptr, length));
    return out;
  }

  /** Scratch for `threads` threads of `floats` floats each: [pointer, stride in bytes]. */
  private scratch(floats: number): [Ptr, number] {
    const stride = align16(Math.max(floats, 1)) * 4;
    return [this.alloc.alloc((stride / 4) * this.runner.threads), stride];
  }

  private run(kernel: TaskKernel, count: number, scratch: [Ptr, number], args: readonly number[]): void {
    this.runner.run({ kernel, count, scratch: scratch[0], scratchStride: scratch[1], args });
  }

  /**
   * The weights packed as a GEMM B operand, made on first use (and kept until weightsUpdated):
   *   conv-goi   per group, W_g [OCg, K] as B = W_g^T (forward)
   *   conv-gio   per group, W_g [OCg, K] as B = W_g   (dcols = W_g^T dY_g)
   *   fc-gio     W [OUT, IN] as B = W   (dx = dy W)
   * Must be called before the op allocates anything else (the packed copy goes below `base`).
   */
  private packedWeights(w: Float32Array, layout: PackedLayout, rows: number, cols: number, groups = 1): Ptr {
    // rows x cols is one group's [OCg, K] (conv) or [OUT, IN] (fc)
    const perGroup = layout.endsWith('goi') ? packedBSize(rows, cols) : packedBSize(cols, rows);
    return this.cachedWeights(w, `${layout}/${groups}`, perGroup * groups, (out) => {
      const src = this.alloc.allocFrom(w); // freed with the op's other scratch
      this.kernels.flushSubnormals(src, w.length);
      for (let g = 0; g < groups; g++) {
        const s = src + g * rows * cols * 4, o = out + g * perGroup * 4;
        if (layout.endsWith('goi')) this.kernels.packB({ from: 'goi', n: rows, k: cols, src: s, out: o });
        else this.kernels.packB({ from: 'gio', n: cols, k: rows, src: s, out: o });
      }
    });
  }

  /**
   * The weights as stored ([OUT, IN] rows, for the fc forward): where they lie when they are in a
   * resident region, else a copy made on first use and kept until weightsUpdated. The copy is not
   * flushed of subnormals, so that both compute the same bits. Called before the op allocates.
   */
  private storedWeights(w: Float32Array): Ptr {
    return this.residentAddress(w) ?? this.cachedWeights(w, 'stored', w.length, (out) => this.alloc.f32(out, w.length).set(w));
  }

  /** The cache of derived weights, by array identity and `key`: `fill` writes `floats` floats at `out` on a miss. */
  private cachedWeights(w: Float32Array, key: string, floats: number, fill: (out: Ptr) => void): Ptr {
    const hit = this.packed.get(w)?.get(key);
    if (hit !== undefined) return hit.ptr;
    const bytes = floats * 4;
    if (this.packedBytes + bytes > WEIGHT_CACHE_BYTES) this.weightsUpdated();
    this.alloc.reset(this.base);
    const out = this.alloc.alloc(floats);
    const top = this.alloc.mark();
    fill(out);
    this.alloc.reset(top);
    this.base = top;
    this.packedBytes += bytes;
    if (this.open) this.open.packedInside = true;
    let forArray = this.packed.get(w);
    if (!forArray) this.packed.set(w, (forArray = new Map()));
    forArray.set(key, { ptr: out, floats });
    return out;
  }

  // -------------------------------------------------------------------------------------------
  // How work is cut (never by thread count where it would change a sum: see the header).

  /** GEMM rows per piece when `pieces` independent products of `m` rows are to be shared out. */
  private pieceRows(m: number, pieces: number): number {
    let chunks = Math.ceil(m / MAX_PIECE_ROWS);
    // Enough pieces to keep every thread busy (a few each, for balance), not below 8 rows.
    const wanted = Math.ceil((3 * this.runner.threads) / pieces);
    if (this.runner.threads > 1 && chunks < wanted) chunks = Math.max(chunks, Math.min(wanted, Math.floor(m / 8)));
    return roundUp(Math.ceil(m / chunks), GEMM_MR);
  }

  /** Tile of an [m, n] product: rows a multiple of 4, columns of 8; column tiles when rows are too few. */
  private tiles(m: number, n: number): { rows: number; cols: number; count: number } {
    const rows = this.pieceRows(m, 1);
    const rowTiles = Math.ceil(m / rows);
    let colTiles = 1;
    if (this.runner.threads > 1 && rowTiles < 2 * this.runner.threads) {
      colTiles = Math.max(1, Math.min(Math.ceil((3 * this.runner.threads) / rowTiles), Math.floor(n / 64)));
    }
    const cols = roundUp(Math.ceil(n / colTiles), GEMM_NR);
    return { rows, cols, count: rowTiles * Math.ceil(n / cols) };
  }

  // -------------------------------------------------------------------------------------------
  // Convolution.

  conv2dForward<A extends FloatArray>(x: Tensor<A>, w: Tensor<A>, b: Tensor<A> | null, params: Conv2dParams): Forward<A> {
    assertSameDtype('conv2d', x.data, w.data, ...(b ? [b.data] : []));
    if (!isF32(x.data)) {
      const r = referenceBackend.conv2dForward(x, w, b, params);
      return { y: r.y, cache: ref(r.cache) };
    }
    const geo = convGeometry(x.shape, w.shape, params);
    const { N, C, H, W, OC, KH, KW, stride, pad, groups, OH, OW, OCg, K, P } = geo;
    if (b && (b.shape.length !== 1 || b.shape[0] !== OC)) throw new Error(`conv2d: bias must be [${OC}], got ${formatShape(b.shape)}`);
    const cache: WasmCache = { op: 'conv', x: x as Tensor<Float32Array>, w: w as Tensor<Float32Array>, params };
    if (this.winogradFits(geo)) {
      const y = this.scoped(() => this.winogradForward(x.data as Float32Array, w.data as Float32Array, b ? b.data as Float32Array : null, geo));
      return { y: { data: y as A, shape: [N, OC, OH, OW] }, cache };
    }
    const y = this.scoped(() => {
      const wPacked = this.packedWeights(w.data as Float32Array, 'conv-goi', OCg, K, groups);
      const yPtr = this.result(N * OC * P);
      const xPtr = this.copyIn(x.data as Float32Array);
      const bias = b ? this.place(b.data as Float32Array) : 0;
      const rows = this.pieceRows(P, N * groups);
      // packed patches of a piece, then the zero-padded rows of the image they read
      const scratch = this.scratch(align16(packedASize(rows, K)) + (C / groups) * (H + 2 * pad) * (W + 2 * pad));
      this.run('conv2d_forward_task', N * groups * Math.ceil(P / rows), scratch,
        [xPtr, C, H, W, OC, KH, KW, stride, pad, groups, OH, OW, wPacked, bias, yPtr, rows]);
      return this.deliver(yPtr, N * OC * P);
    });
    return { y: { data: y as A, shape: [N, OC, OH, OW] }, cache };
  }

  conv2dBackward<A extends FloatArray>(cache: OpCache, dy: Tensor<A>): { dx: Tensor<A>; dw: Tensor<A>; db: Tensor<A> } {
    const c = cache as WasmCache;
    if (c.op === 'reference') return referenceBackend.conv2dBackward(c.cache, dy);
    if (c.op !== 'conv') throw new Error(`conv2d backward: given the cache of a ${c.op} forward`);
    const { x, w } = c;
    const geo: ConvGeometry = convGeometry(x.shape, w.shape, c.params);
    const { N, C, H, W, OC, KH, KW, stride, pad, groups, OH, OW, OCg, K, P } = geo;
    const [dN, dC, dH, dW] = dims('conv2d backward: dy', dy, 4);
    if (dN !== N || dC !== OC || dH !== OH || dW !== OW) {
      throw new Error(`conv2d backward: dy is ${formatShape(dy.shape)}, expected [${N}, ${OC}, ${OH}, ${OW}]`);
    }
    if (!isF32(dy.data)) throw new Error('conv2d backward: dy is float64 but the forward ran in float32');
    const out = this.scoped(() => this.winogradFits(geo) ? this.winogradBackward(x.data, w.data, dy.data as Float32Array, geo) : (() => {
      const wPackedT = this.packedWeights(w.data, 'conv-gio', OCg, K, groups);
      const dxPtr = this.result(N * C * H * W), dwPtr = this.result(OC * K), dbPtr = this.result(OC);
      const xPtr = this.copyIn(x.data);
      const dyPtr = this.copyIn(dy.data as Float32Array);
      const imagesPerChunk = Math.ceil(N / FILTER_CHUNKS);
      const chunks = Math.ceil(N / imagesPerChunk);
      const partials = chunks > 1 ? this.alloc.alloc(chunks * OC * K) : dwPtr;
      // dW reduces over `span` images' pixels at once (assembly/conv.ts); S pixels in all
      const span = Math.max(1, Math.min(imagesPerChunk, Math.floor(FILTER_SPAN_PIXELS / P)));
      const S = span * P;
      const scratch = this.scratch(Math.max(
        align16(packedASize(P, OCg)) + K * P, // dx: packed dY_g^T, dcols
        align16(K * S) + align16(packedBSize(K, S)) + align16(OCg * S) + packedASize(OCg, S), // dW: patches, packed; dY_g rows, packed
      ));
      // dx: pieces (image, group)
      this.run('conv2d_backward_data_task', N * groups, scratch,
        [dyPtr, C, H, W, OC, KH, KW, stride, pad, groups, OH, OW, wPackedT, dxPtr]);
      // dW: pieces (chunk of images, group), then the chunks' partials added in chunk order
      this.run('conv2d_backward_filter_task', chunks * groups, scratch,
        [xPtr, dyPtr, N, C, H, W, OC, KH, KW, stride, pad, groups, OH, OW, imagesPerChunk, span, partials]);
      if (chunks > 1) this.sum(partials, chunks, OC * K, dwPtr, scratch);
      // db: ranges of channels
      const per = Math.max(1, Math.ceil(OC / (4 * this.runner.threads)));
      this.run('conv2d_bias_grad_task', Math.ceil(OC / per), scratch, [dyPtr, N, OC, P, dbPtr, per]);
      return { dx: this.deliver(dxPtr, N * C * H * W), dw: this.deliver(dwPtr, OC * K), db: this.deliver(dbPtr, OC) };
    })());
    return {
      dx: { data: out.dx as A, shape: [N, C, H, W] },
      dw: { data: out.dw as A, shape: [...w.shape] },
      db: { data: out.db as A, shape: [OC] },
    };
  }

  // -------------------------------------------------------------------------------------------
  // Winograd's F(2x2, 3x3) for 3x3 convolutions of stride 1 (assembly/winograd.ts).

  private winogradFits(geo: ConvGeometry): boolean {
    return this.winograd && geo.KH === 3 && geo.KW === 3 && geo.stride === 1;
  }

  /**
   * U = G g G^T of every group's filters, each of the 16 coordinates packed as a GEMM B operand,
   * made on first use and kept until weightsUpdated (as packedWeights):
   *   winograd-goi   U[xi] [OCg, Cg] as B = U[xi]^T (forward: M = V U^T)
   *   winograd-gio   U[xi] [OCg, Cg] as B = U[xi]   (dx: dV = dM U)
   */
  private winogradWeights(w: Float32Array, layout: WinogradLayout, OCg: number, Cg: number, groups: number): Ptr {
    const perXi = layout === 'winograd-goi' ? packedBSize(OCg, Cg) : packedBSize(Cg, OCg);
    return this.cachedWeights(w, `${layout}/${groups}`, 16 * groups * perXi, (out) => {
      const src = this.alloc.allocFrom(w);
      const u = this.alloc.alloc(16 * OCg * Cg);
      for (let g = 0; g < groups; g++) {
        this.kernels.winogradFilterTransform(src + g * OCg * Cg * 9 * 4, OCg, Cg, u);
        this.kernels.flushSubnormals(u, 16 * OCg * Cg);
        for (let xi = 0; xi < 16; xi++) {
          const s = u + xi * OCg * Cg * 4, o = out + (g * 16 + xi) * perXi * 4;
          if (layout === 'winograd-goi') this.kernels.packB({ from: 'goi', n: OCg, k: Cg, src: s, out: o });
          else this.kernels.packB({ from: 'gio', n: Cg, k: OCg, src: s, out: o });
        }
      }
    });
  }

  /** The input, zero-padded into planes of whole tiles (pad_planes_task): [N, C, PH, PW]. */
  private winogradPadInput(x: Float32Array, geo: ConvGeometry, tiles: WinogradTiles, scratch: [Ptr, number]): Ptr {
    const { N, C, H, W, pad } = geo;
    const { PH, PW } = tiles;
    return this.padPlanes(this.place(x), N * C, H, W, pad, PH, PW, scratch);
  }

  private padPlanes(src: Ptr, planes: number, H: number, W: number, pad: number, PH: number, PW: number, scratch: [Ptr, number]): Ptr {
    const dst = this.alloc.alloc(planes * PH * PW);
    const per = Math.max(1, Math.ceil(planes / (4 * this.runner.threads)));
    this.run('pad_planes_task', Math.ceil(planes / per), scratch, [src, planes, H, W, pad, pad, PH, PW, dst, per]);
    return dst;
  }

  /** conv2dForward of a 3x3 kernel of stride 1: y [N, OC, OH, OW]. */
  private winogradForward(x: Float32Array, w: Float32Array, b: Float32Array | null, geo: ConvGeometry): Float32Array {
    const { N, C, OC, groups, OH, OW, Cg, OCg } = geo;
    const tiles = winogradTiles(geo);
    const { TH, TW, PH, PW, Q } = tiles;
    const uPacked = this.winogradWeights(w, 'winograd-goi', OCg, Cg, groups);
    const yPtr = this.result(N * OC * OH * OW);
    const bias = b ? this.place(b) : 0;
    const T = N * Q;
    // pieces of about WINOGRAD_PIECE_TILES tiles, and a few per thread
    const pieces = Math.max(Math.ceil(T / WINOGRAD_PIECE_TILES), Math.ceil((3 * this.runner.threads) / groups));
    const rows = Math.min(roundUp(T, GEMM_MR), roundUp(Math.ceil(T / pieces), GEMM_MR));
    const scratch = this.scratch(16 * spaced(packedASize(rows, Cg)) + 16 * spaced(rows * OCg));
    const xp = this.winogradPadInput(x, geo, tiles, scratch);
    this.run('winograd_forward_task', groups * Math.ceil(T / rows), scratch,
      [xp, N, C, PH, PW, OC, groups, TH, TW, OH, OW, uPacked, bias, yPtr, rows]);
    return this.deliver(yPtr, N * OC * OH * OW);
  }

  /** conv2dBackward of a 3x3 kernel of stride 1: dx, then dW (partials per chunk, added, transformed back), then db. */
  private winogradBackward(x: Float32Array, w: Float32Array, dy: Float32Array, geo: ConvGeometry): { dx: Float32Array; dw: Float32Array; db: Float32Array } {
    const { N, C, H, W, OC, pad, groups, OH, OW, Cg, OCg } = geo;
    const tiles = winogradTiles(geo);
    const { TH, TW, PH, PW, Q } = tiles;
    const uPackedT = this.winogradWeights(w, 'winograd-gio', OCg, Cg, groups);
    const dxPtr = this.result(N * C * H * W), dwPtr = this.result(OC * Cg * 9), dbPtr = this.result(OC);
    // dx pieces: whole images, about WINOGRAD_PIECE_TILES tiles, a few per thread
    const images = Math.max(1, Math.min(Math.ceil(WINOGRAD_PIECE_TILES / Q), Math.floor((N * groups) / (3 * this.runner.threads))));
    const mt = images * Q;
    // dW: chunks of images as the direct dW, products over `span` images' tiles
    const imagesPerChunk = Math.ceil(N / FILTER_CHUNKS);
    const chunks = Math.ceil(N / imagesPerChunk);
    const span = Math.max(1, Math.min(imagesPerChunk, Math.floor(WINOGRAD_SPAN_TILES / Q)));
    const S = span * Q;
    const scratch = this.scratch(Math.max(
      16 * spaced(packedASize(mt, OCg)) + 16 * spaced(mt * Cg) + images * PH * PW * Cg, // dx: dM packed, dV, padded dx
      16 * spaced(packedASize(OCg, S)) + 16 * spaced(packedBSize(Cg, S)) + align16(PH * PW), // dW: dM^T, V packed, a zero plane
    ));
    const dyIn = this.place(dy);
    const dyp = OH % 2 === 0 && OW % 2 === 0 ? dyIn : this.padPlanes(dyIn, N * OC, OH, OW, 0, 2 * TH, 2 * TW, scratch);
    this.run('winograd_backward_data_task', groups * Math.ceil(N / images), scratch,
      [dyp, N, C, H, W, pad, OC, groups, TH, TW, uPackedT, dxPtr, images]);
    const xp = this.winogradPadInput(x, geo, tiles, scratch);
    const partials = this.alloc.alloc(chunks * 16 * OC * Cg);
    this.run('winograd_backward_filter_task', chunks * groups, scratch,
      [xp, dyp, N, C, OC, groups, TH, TW, imagesPerChunk, span, partials]);
    if (chunks > 1) this.sum(partials, chunks, 16 * OC * Cg, partials, scratch);
    // dw = G^T dU G and db: ranges of output channels
    const per = Math.max(1, Math.ceil(OC / (4 * this.runner.threads)));
    this.run('winograd_filter_grad_task', Math.ceil(OC / per), scratch, [partials, OC, Cg, groups, dwPtr, per]);
    this.run('conv2d_bias_grad_task', Math.ceil(OC / per), scratch, [dyIn, N, OC, OH * OW, dbPtr, per]);
    return { dx: this.deliver(dxPtr, N * C * H * W), dw: this.deliver(dwPtr, OC * Cg * 9), db: this.deliver(dbPtr, OC) };
  }

  /** out = src[0] + src[1] + ... (count arrays of len floats), in that order, cut into ranges. */
  private sum(src: Ptr, count: number, len: number, out: Ptr, scratch: [Ptr, number]): void {
    const per = roundUp(Math.max(4096, Math.ceil(len / (4 * this.runner.threads))), 16);
    this.run('f32_sum_task', Math.ceil(len / per), scratch, [src, count, len, out, per]);
  }

  // -------------------------------------------------------------------------------------------
  // The optimiser.

  /**
   * sgdStep of src/train/optimizer.ts with its bits (float64 per element, see assembly/optimizer.ts),
   * on every thread. Each of w, g and v is used where it lies when it can be (weights and momenta in
   * a resident region, a gradient of the open scope); the others are copied into the memory in
   * chunks of SGD_CHUNK elements (TypedArray.set runs at memcpy speed), and w and v copied back
   * after the update. Float64 gradients (gradient checks) take the JavaScript loop.
   */
  sgdStep(weights: Weights<Float32Array>, grads: Map<string, Tensor>, momentum: Map<string, Float32Array>, lr: number, options: SgdOptions): void {
    const paper = options.update === 'paper' ? 1 : 0;
    for (const [key, param] of weights) {
      const g = grads.get(key)?.data;
      const v = momentum.get(key);
      if (!g || !v) throw new Error(`sgd: no gradient or momentum for "${key}"`);
      if (!isF32(g)) {
        sgdStep(new Map([[key, param]]), new Map([[key, { data: g, shape: param.shape }]]), new Map([[key, v]]), lr, options);
        continue;
      }
      const w = param.data;
      this.scoped(() => {
        const len = Math.min(SGD_CHUNK, w.length);
        const wAt = this.residentAddress(w), gAt = this.scopeAddress(g), vAt = this.residentAddress(v);
        const buffer = (at: Ptr | undefined): Ptr => (at === undefined ? this.alloc.alloc(len) : 0); // for chunk copies
        const wBuffer = buffer(wAt), gBuffer = buffer(gAt), vBuffer = buffer(vAt);
        for (let start = 0; start < w.length; start += SGD_CHUNK) {
          const n = Math.min(SGD_CHUNK, w.length - start);
          const chunk = (a: Float32Array, at: Ptr | undefined, buffer: Ptr): Ptr => {
            if (at !== undefined) return at + 4 * start;
            this.alloc.f32(buffer, n).set(a.subarray(start, start + n));
            return buffer;
          };
          const wPtr = chunk(w, wAt, wBuffer), gPtr = chunk(g, gAt, gBuffer), vPtr = chunk(v, vAt, vBuffer);
          const per = roundUp(Math.max(65536, Math.ceil(n / (4 * this.runner.threads))), 16);
          this.run('sgd_update_task', Math.ceil(n / per), this.scratch(0),
            [wPtr, gPtr, vPtr, n, per, lr, options.momentum, options.weightDecay, paper]);
          if (wAt === undefined) w.set(this.alloc.f32(wPtr, n), start);
          if (vAt === undefined) v.set(this.alloc.f32(vPtr, n), start);
        }
      });
    }
  }

  // -------------------------------------------------------------------------------------------
  // Fully connected.

  linearForward<A extends FloatArray>(x: Tensor<A>, w: Tensor<A>, b: Tensor<A> | null): Forward<A> {
    assertSameDtype('linear', x.data, w.data, ...(b ? [b.data] : []));
    if (!isF32(x.data)) {
      const r = referenceBackend.linearForward(x, w, b);
      return { y: r.y, cache: ref(r.cache) };
    }
    const [B, IN] = dims('linear: x', x, 2);
    const [OUT, wIN] = dims('linear: w', w, 2);
    if (wIN !== IN) throw new Error(`linear: x ${formatShape(x.shape)} does not fit w ${formatShape(w.shape)}`);
    if (b && (b.shape.length !== 1 || b.shape[0] !== OUT)) throw new Error(`linear: bias must be [${OUT}], got ${formatShape(b.shape)}`);
    const y = this.scoped(() => {
      const wPtr = this.storedWeights(w.data as Float32Array);
      const yPtr = this.result(B * OUT);
      const xPtr = this.copyIn(x.data as Float32Array);
      const bias = b ? this.place(b.data as Float32Array) : 0;
      // y = x W^T + b: pieces are ranges of outputs, every batch row (each weight row read once)
      const per = roundUp(Math.max(4, Math.ceil(OUT / (4 * this.runner.threads))), 4);
      this.run('linear_forward_task', Math.ceil(OUT / per), this.scratch(16 * B), [xPtr, B, IN, wPtr, bias, yPtr, OUT, per]);
      return this.deliver(yPtr, B * OUT);
    });
    const cache: WasmCache = { op: 'linear', x: x as Tensor<Float32Array>, w: w as Tensor<Float32Array> };
    return { y: { data: y as A, shape: [B, OUT] }, cache };
  }

  linearBackward<A extends FloatArray>(cache: OpCache, dy: Tensor<A>): { dx: Tensor<A>; dw: Tensor<A>; db: Tensor<A> } {
    const c = cache as WasmCache;
    if (c.op === 'reference') return referenceBackend.linearBackward(c.cache, dy);
    if (c.op !== 'linear') throw new Error(`linear backward: given the cache of a ${c.op} forward`);
    const { x, w } = c;
    const [B, IN] = x.shape;
    const [OUT] = w.shape;
    const [dB, dOUT] = dims('linear backward: dy', dy, 2);
    if (dB !== B || dOUT !== OUT) throw new Error(`linear backward: dy is ${formatShape(dy.shape)}, expected [${B}, ${OUT}]`);
    if (!isF32(dy.data)) throw new Error('linear backward: dy is float64 but the forward ran in float32');
    const out = this.scoped(() => {
      const wPackedT = this.packedWeights(w.data, 'fc-gio', OUT, IN);
      const dxPtr = this.result(B * IN), dwPtr = this.result(OUT * IN), dbPtr = this.result(OUT);
      const xPtr = this.copyIn(x.data);
      const dyPtr = this.copyIn(dy.data as Float32Array);
      this.gemm(B, IN, OUT, dyPtr, false, OUT, wPackedT, 0, dxPtr, IN); // dx = dy W
      const xPacked = this.alloc.alloc(packedBSize(IN, B));
      this.kernels.packB({ from: 'gio', n: IN, k: B, src: xPtr, out: xPacked });
      this.gemm(OUT, IN, B, dyPtr, true, OUT, xPacked, 0, dwPtr, IN); // dW = dy^T x
      const per = roundUp(Math.max(64, Math.ceil(OUT / (4 * this.runner.threads))), 4);
      this.run('column_sums_task', Math.ceil(OUT / per), this.scratch(0), [dyPtr, B, OUT, dbPtr, per]); // db = sum_n dy[n]
      return { dx: this.deliver(dxPtr, B * IN), dw: this.deliver(dwPtr, OUT * IN), db: this.deliver(dbPtr, OUT) };
    });
    return {
      dx: { data: out.dx as A, shape: [B, IN] },
      dw: { data: out.dw as A, shape: [OUT, IN] },
      db: { data: out.db as A, shape: [OUT] },
    };
  }

  /**
   * C [m, n] (row stride ldc) = A . B (+ bias along N), B packed; A from [m, k] rows (or [k, m]
   * rows when aFromKm) with row stride lda. Pieces: tiles of C.
   */
  private gemm(m: number, n: number, k: number, a: Ptr, aFromKm: boolean, lda: number, b: Ptr, bias: Ptr, c: Ptr, ldc: number): void {
    const { rows, cols, count } = this.tiles(m, n);
    const scratch = this.scratch(packedASize(rows, k));
    this.run('gemm_task', count, scratch, [m, n, k, a, +aFromKm, lda, b, bias, c, ldc, rows, cols]);
  }

  // -------------------------------------------------------------------------------------------
  // ReLU, LRN, max pooling: elementwise and window kernels, pieces of elements, positions or planes.

  /** Elements per piece of an elementwise op over n elements. */
  private elementsPerPiece(n: number): number {
    return roundUp(Math.max(16384, Math.ceil(n / (4 * this.runner.threads))), 16);
  }

  reluForward<A extends FloatArray>(x: Tensor<A>): Forward<A> {
    if (!isF32(x.data)) {
      const r = referenceBackend.reluForward(x);
      return { y: r.y, cache: ref(r.cache) };
    }
    const n = x.data.length;
    const y = this.scoped(() => {
      const yPtr = this.result(n), xPtr = this.place(x.data as Float32Array);
      const per = this.elementsPerPiece(n);
      this.run('relu_forward_task', Math.ceil(n / per), this.scratch(0), [xPtr, yPtr, n, per]);
      return this.deliver(yPtr, n);
    });
    const cache: WasmCache = { op: 'relu', x: x as Tensor<Float32Array> };
    return { y: { data: y as A, shape: [...x.shape] }, cache };
  }

  reluBackward<A extends FloatArray>(cache: OpCache, dy: Tensor<A>): { dx: Tensor<A> } {
    const c = cache as WasmCache;
    if (c.op === 'reference') return referenceBackend.reluBackward(c.cache, dy);
    if (c.op !== 'relu') throw new Error(`relu backward: given the cache of a ${c.op} forward`);
    const { x } = c;
    if (!shapeEquals(x.shape, dy.shape)) throw new Error(`relu backward: dy ${formatShape(dy.shape)} != x ${formatShape(x.shape)}`);
    if (!isF32(dy.data)) throw new Error('relu backward: dy is float64 but the forward ran in float32');
    const n = x.data.length;
    const dx = this.scoped(() => {
      const dxPtr = this.result(n), xPtr = this.place(x.data), dyPtr = this.place(dy.data as Float32Array);
      const per = this.elementsPerPiece(n);
      this.run('relu_backward_task', Math.ceil(n / per), this.scratch(0), [xPtr, dyPtr, dxPtr, n, per]);
      return this.deliver(dxPtr, n);
    });
    return { dx: { data: dx as A, shape: [...x.shape] } };
  }

  /** The LRN kernels' constants: a = alpha/size or alpha, as src/ops/lrn.ts. */
  private static lrnArgs(p: LrnParams): [size: number, a: number, k: number, beta: number] {
    return [p.size, p.divideAlphaByN ? p.alpha / p.size : p.alpha, p.k, p.beta];
  }

  lrnForward<A extends FloatArray>(x: Tensor<A>, params: LrnParams): Forward<A> {
    // The kernels compute s^-beta for beta = 0.75, AlexNet's (assembly/lrn.ts); others run the reference.
    if (!isF32(x.data) || params.beta !== 0.75) {
      const r = referenceBackend.lrnForward(x, params);
      return { y: r.y, cache: ref(r.cache) };
    }
    const [N, C, H, W] = dims('lrn', x, 4);
    const HW = H * W;
    const y = this.scoped(() => {
      const yPtr = this.result(N * C * HW), xPtr = this.copyIn(x.data as Float32Array);
      const per = Math.min(LRN_POSITIONS, HW);
      this.run('lrn_forward_task', N * Math.ceil(HW / per), this.scratch(0),
        [xPtr, yPtr, C, HW, ...WasmKernelBackend.lrnArgs(params), per]);
      return this.deliver(yPtr, N * C * HW);
    });
    const cache: WasmCache = { op: 'lrn', x: x as Tensor<Float32Array>, params };
    return { y: { data: y as A, shape: [N, C, H, W] }, cache };
  }

  lrnBackward<A extends FloatArray>(cache: OpCache, dy: Tensor<A>): { dx: Tensor<A> } {
    const c = cache as WasmCache;
    if (c.op === 'reference') return referenceBackend.lrnBackward(c.cache, dy);
    if (c.op !== 'lrn') throw new Error(`lrn backward: given the cache of a ${c.op} forward`);
    const { x, params } = c;
    if (!shapeEquals(x.shape, dy.shape)) throw new Error(`lrn backward: dy ${formatShape(dy.shape)} != x ${formatShape(x.shape)}`);
    if (!isF32(dy.data)) throw new Error('lrn backward: dy is float64 but the forward ran in float32');
    const [N, C, H, W] = x.shape;
    const HW = H * W;
    const dx = this.scoped(() => {
      const dxPtr = this.result(N * C * HW), xPtr = this.copyIn(x.data), dyPtr = this.copyIn(dy.data as Float32Array);
      const per = Math.min(LRN_POSITIONS, HW);
      this.run('lrn_backward_task', N * Math.ceil(HW / per), this.scratch(2 * C * per),
        [xPtr, dyPtr, dxPtr, C, HW, ...WasmKernelBackend.lrnArgs(params), per]);
      return this.deliver(dxPtr, N * C * HW);
    });
    return { dx: { data: dx as A, shape: [N, C, H, W] } };
  }

  maxPoolForward<A extends FloatArray>(x: Tensor<A>, params: MaxPoolParams): Forward<A> {
    if (!isF32(x.data)) {
      const r = referenceBackend.maxPoolForward(x, params);
      return { y: r.y, cache: ref(r.cache) };
    }
    const [N, C, H, W] = dims('maxpool', x, 4);
    const { kernel, stride, pads, rounding } = params;
    const [OH, OW] = outputSize2d(H, W, kernel, stride, pads, rounding);
    if (OH < 1 || OW < 1) throw new Error(`maxpool: a ${kernel}x${kernel} window does not fit input ${formatShape(x.shape)}`);
    const planes = N * C, count = planes * OH * OW;
    const out = this.scoped(() => {
      const yPtr = this.result(count), argPtr = this.result(count), xPtr = this.place(x.data as Float32Array);
      const per = Math.max(1, Math.ceil(planes / (4 * this.runner.threads)));
      this.run('maxpool_forward_task', Math.ceil(planes / per), this.scratch(0),
        [xPtr, yPtr, argPtr, planes, H, W, OH, OW, kernel, stride, pads[0], pads[1], per]);
      return { y: this.deliver(yPtr, count), argmax: this.deliverInt32(argPtr, count) };
    });
    const cache: WasmCache = { op: 'maxpool', cache: { xShape: [N, C, H, W], argmax: out.argmax } };
    return { y: { data: out.y as A, shape: [N, C, OH, OW] }, cache };
  }

  maxPoolBackward<A extends FloatArray>(cache: OpCache, dy: Tensor<A>): { dx: Tensor<A> } {
    const c = cache as WasmCache;
    if (c.op === 'reference') return referenceBackend.maxPoolBackward(c.cache, dy);
    if (c.op !== 'maxpool') throw new Error(`maxpool backward: given the cache of a ${c.op} forward`);
    const { xShape, argmax } = c.cache;
    const [N, C, H, W] = xShape;
    const [dN, dC, OH, OW] = dims('maxpool backward: dy', dy, 4);
    if (dN !== N || dC !== C || dN * dC * OH * OW !== argmax.length) {
      throw new Error(`maxpool backward: dy ${formatShape(dy.shape)} does not match the forward pass`);
    }
    if (!isF32(dy.data)) throw new Error('maxpool backward: dy is float64 but the forward ran in float32');
    const planes = N * C;
    const dx = this.scoped(() => {
      const dxPtr = this.result(planes * H * W), dyPtr = this.place(dy.data as Float32Array);
      const argPtr = this.scopeAddress(argmax) ?? this.copyInt32(argmax);
      const per = Math.max(1, Math.ceil(planes / (4 * this.runner.threads)));
      this.run('maxpool_backward_task', Math.ceil(planes / per), this.scratch(0), [dyPtr, argPtr, dxPtr, planes, H * W, OH * OW, per]);
      return this.deliver(dxPtr, planes * H * W);
    });
    return { dx: { data: dx as A, shape: [N, C, H, W] } };
  }

  /** A copy of `data` in the memory (allocFrom would convert the ints to floats). */
  private copyInt32(data: Int32Array): Ptr {
    const ptr = this.alloc.alloc(data.length);
    new Int32Array(this.alloc.memory.buffer, ptr, data.length).set(data);
    return ptr;
  }

  /** deliver() of an int32 result (the copy, if one is made, moves bytes: any int survives). */
  private deliverInt32(ptr: Ptr, length: number): Int32Array {
    const f = this.deliver(ptr, length);
    return new Int32Array(f.buffer, f.byteOffset, length);
  }

  // -------------------------------------------------------------------------------------------
  // The cheap ops: the reference code.

  adaptiveAvgPoolForward<A extends FloatArray>(x: Tensor<A>, params: AdaptiveAvgPoolParams): Forward<A> {
    return referenceBackend.adaptiveAvgPoolForward(x, params);
  }

  adaptiveAvgPoolBackward<A extends FloatArray>(cache: OpCache, dy: Tensor<A>): { dx: Tensor<A> } {
    return referenceBackend.adaptiveAvgPoolBackward(cache, dy);
  }

  dropoutForward<A extends FloatArray>(x: Tensor<A>, p: number, mask: Uint8Array): Forward<A> {
    return referenceBackend.dropoutForward(x, p, mask);
  }

  dropoutBackward<A extends FloatArray>(cache: OpCache, dy: Tensor<A>): { dx: Tensor<A> } {
    return referenceBackend.dropoutBackward(cache, dy);
  }

  softmaxForward<A extends FloatArray>(x: Tensor<A>): Forward<A> {
    return referenceBackend.softmaxForward(x);
  }

  crossEntropyForward<A extends FloatArray>(logits: Tensor<A>, labels: Int32Array): { loss: number; cache: OpCache } {
    return referenceBackend.crossEntropyForward(logits, labels);
  }

  crossEntropyBackward<A extends FloatArray>(cache: OpCache): { dlogits: Tensor<A> } {
    return referenceBackend.crossEntropyBackward(cache);
  }
}

// ---------------------------------------------------------------------------------------------
// Construction.

/** Where the builds come from when not read from build/ (e.g. fetched in a browser). */
export interface WasmBackendSource {
  /** The module bytes (or a compiled module) of `build`. */
  source: Uint8Array | WasmModule;
  build: BuildName;
}

/**
 * A wasm backend: under Node the build is read from build/ (default: the fastest this Node
 * accepts) and `threads` - 1 worker threads join the calling one (default: every core). Elsewhere
 * pass `from` (the bytes of a build); it then runs on the calling thread.
 */
export async function createWasmBackend(options: WasmBackendOptions & { from?: WasmBackendSource } = {}): Promise<WasmBackend> {
  if (options.from) {
    if ((options.threads ?? 1) !== 1) throw new Error('createWasmBackend: threads need Node (node-pool.ts); pass threads: 1');
    const setup = await setUpKernels(options.from.build, options.from.source);
    const backend = new WasmKernelBackend(setup, new InlineRunner(setup.kernels), { winograd: options.winograd });
    backend.warmUp();
    return backend;
  }
  const node = await import('./node-backend.js');
  return node.createWasmBackendSync(options);
}
