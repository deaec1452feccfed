/**
 * The host side of the WebAssembly kernels (assembly/): picks a build, instantiates it over a
 * memory the host owns, lays buffers out in that memory, and calls each kernel through a typed
 * wrapper that names every pointer and size.
 *
 * Browser-safe: takes the module's bytes (or a compiled module) and never touches the file
 * system; node-loader.ts reads the files from build/ under Node.
 *
 * Conventions at the boundary:
 *   - a pointer (`Ptr`) is a byte address into the memory; sizes and strides count floats;
 *   - the host owns the layout: kernels never allocate, so buffers come from a BumpAllocator;
 *   - the optional bias pointer is 0 when absent (the allocator never hands out address 0).
 *
 * The packed layouts, the GEMM's semantics and how each AlexNet product maps onto it are documented
 * at the top of assembly/gemm.ts and assembly/pack.ts.
 */

// ---------------------------------------------------------------------------------------------
// The few WebAssembly JS-API types used here. The project compiles against ES2022 without the DOM
// library, which is where TypeScript declares the WebAssembly namespace; so they are spelled out.

export interface WasmMemory {
  readonly buffer: ArrayBuffer | SharedArrayBuffer;
  grow(deltaPages: number): number;
}
/** An opaque compiled module (WebAssembly.Module), e.g. to post to worker threads. */
export type WasmModule = object;
interface WasmInstance {
  readonly exports: Record<string, unknown>;
}
interface WasmApi {
  validate(bytes: Uint8Array): boolean;
  compile(bytes: Uint8Array): Promise<WasmModule>;
  instantiate(module: WasmModule, imports: object): Promise<WasmInstance>;
  Module: new (bytes: Uint8Array) => WasmModule;
  Instance: new (module: WasmModule, imports: object) => WasmInstance;
  Memory: new (descriptor: { initial: number; maximum?: number; shared?: boolean }) => WasmMemory;
}
const WA = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

/** Bytes per WebAssembly memory page. */
export const PAGE_BYTES = 65536;

/** A byte address into the kernels' memory. */
export type Ptr = number;

// ---------------------------------------------------------------------------------------------
// Builds.

/** The three builds of assembly/, fastest first (see assembly/index.ts). */
export const BUILD_NAMES = ['relaxed', 'simd', 'scalar'] as const;
export type BuildName = (typeof BUILD_NAMES)[number];

/** What `kernel_isa()` returns in each build. */
const ISA_OF_BUILD: Record<BuildName, number> = { scalar: 0, simd: 1, relaxed: 2 };

/** File name of a build inside the package's build/ folder. */
export function buildFileName(build: BuildName): string {
  return `kernels-${build}.wasm`;
}

/**
 * The fastest build this JavaScript engine accepts: relaxed SIMD if `WebAssembly.validate` takes
 * that module (Node 21+, Chrome 114+, or Node 20 with --experimental-wasm-relaxed-simd), else
 * SIMD128, else scalar. Builds missing from `bytes` are skipped.
 */
export function chooseBuild(bytes: Partial<Record<BuildName, Uint8Array>>): BuildName {
  for (const build of BUILD_NAMES) {
    const b = bytes[build];
    if (b && WA.validate(b)) return build;
  }
  const given = BUILD_NAMES.filter((b) => bytes[b]);
  throw new Error(
    given.length === 0
      ? 'no kernel build given: run `npm run build:wasm` to produce build/kernels-*.wasm'
      : `this engine accepts none of the kernel builds ${given.map(buildFileName).join(', ')}`,
  );
}

/** Whether this engine can compile the given build's bytes. */
export function canRun(bytes: Uint8Array): boolean {
  return WA.validate(bytes);
}

export function compileKernels(bytes: Uint8Array): Promise<WasmModule> {
  return WA.compile(bytes);
}

/**
 * The largest memory the builds accept: they declare a shared memory of at most 65536 pages
 * (asconfig.json `maximumMemory`), all that 32-bit addresses reach.
 */
export const MAXIMUM_MEMORY_BYTES = 65536 * PAGE_BYTES;

/**
 * A memory for the kernels: shared (the builds import a shared memory, so that worker threads can
 * run the same module over it), growing from `initialBytes` up to `maximumBytes` (default: the
 * builds' maximum, 4 GiB; address space is only reserved, pages are committed as the memory grows).
 * In a browser a shared memory needs a cross-origin isolated page (COOP and COEP headers).
 */
export function createMemory(options: { initialBytes?: number; maximumBytes?: number } = {}): WasmMemory {
  const pages = (bytes: number): number => Math.ceil(bytes / PAGE_BYTES);
  const maximum = pages(options.maximumBytes ?? MAXIMUM_MEMORY_BYTES);
  if (maximum > pages(MAXIMUM_MEMORY_BYTES)) throw new Error(`createMemory: at most ${MAXIMUM_MEMORY_BYTES} bytes`);
  return new WA.Memory({ initial: pages(options.initialBytes ?? PAGE_BYTES), maximum, shared: true });
}

// ---------------------------------------------------------------------------------------------
// The raw exports, exactly as assembly/index.ts declares them (booleans are 0 or 1).

interface RawExports {
  kernel_isa(): number;
  heap_base(): number;
  f32_gemm(
    m: number, n: number, k: number, a: Ptr, b: Ptr, c: Ptr, ldc: number, cTransposed: number,
    bias: Ptr, biasAlongM: number, accumulate: number, relu: number, mBegin: number, mEnd: number,
  ): void;
  f32_gemm_4x8_peak(reps: number, kc: number, a: Ptr, b: Ptr, c: Ptr): void;
  x32_packw_gemm_goi_x8(n: number, k: number, src: Ptr, ld: number, out: Ptr): void;
  x32_packw_gemm_gio_x8(n: number, k: number, src: Ptr, ld: number, out: Ptr): void;
  x32_packx_4x(m: number, k: number, src: Ptr, ld: number, out: Ptr): void;
  x32_packx_4x_t(m: number, k: number, src: Ptr, ld: number, out: Ptr): void;
  im2col(
    x: Ptr, C: number, H: number, W: number, KH: number, KW: number, stride: number, pad: number,
    OH: number, OW: number, cols: Ptr,
  ): void;
  col2im(
    cols: Ptr, C: number, H: number, W: number, KH: number, KW: number, stride: number, pad: number,
    OH: number, OW: number, dx: Ptr,
  ): void;
  flush_subnormals(x: Ptr, n: number): void;
  has_subnormals(x: Ptr, n: number): number;
  im2col_packx_4x(
    x: Ptr, C: number, H: number, W: number, KH: number, KW: number, stride: number, pad: number,
    OH: number, OW: number, p0: number, m: number, out: Ptr, pbuf: Ptr,
  ): void;
  im2col_pad_size(C: number, H: number, W: number, KH: number, stride: number, pad: number, OW: number, p0: number, m: number): number;
  winograd_filter_transform(w: Ptr, OCg: number, Cg: number, u: Ptr): void;
}

/**
 * The task kernels (assembly/conv.ts, winograd.ts, linear.ts, eltwise.ts, lrn.ts, pool.ts): each computes piece `task` of a layer with a
 * private `scratch` region; their further arguments are listed, by name, beside each call in
 * backend.ts and documented in assembly/. All are numbers (pointers, sizes, flags as 0/1).
 */
export const TASK_KERNELS = [
  'conv2d_forward_task', 'conv2d_backward_data_task', 'conv2d_backward_filter_task', 'conv2d_bias_grad_task',
  'f32_sum_task', 'linear_forward_task', 'gemm_task', 'column_sums_task', 'relu_forward_task', 'relu_backward_task',
  'lrn_forward_task', 'lrn_backward_task', 'maxpool_forward_task', 'maxpool_backward_task', 'sgd_update_task',
  'pad_planes_task', 'winograd_forward_task', 'winograd_backward_data_task', 'winograd_backward_filter_task', 'winograd_filter_grad_task',
] as const;
export type TaskKernel = (typeof TASK_KERNELS)[number];
/** The most arguments a task kernel takes after (task, scratch). */
export const MAX_TASK_ARGS = 24;
type TaskFunction = (task: number, scratch: Ptr, ...args: number[]) => void;

const RAW_EXPORT_NAMES: (keyof RawExports)[] = [
  'kernel_isa', 'heap_base', 'f32_gemm', 'f32_gemm_4x8_peak', 'x32_packw_gemm_goi_x8', 'x32_packw_gemm_gio_x8',
  'x32_packx_4x', 'x32_packx_4x_t', 'im2col', 'col2im', 'flush_subnormals', 'has_subnormals', 'im2col_packx_4x', 'im2col_pad_size',
  'winograd_filter_transform',
];

// ---------------------------------------------------------------------------------------------
// Packed sizes (floats), the GEMM tile and block, as in assembly/gemm.ts.

export const GEMM_MR = 4;
export const GEMM_NR = 8;
export const GEMM_KC = 256;

/** Floats of a packed A operand: micro-panels of 4 rows, 4*ceil(m/4)*k. */
export function packedASize(m: number, k: number): number {
  return Math.ceil(m / GEMM_MR) * GEMM_MR * k;
}

/** Floats of a packed B operand: panels of 8 columns, 8*ceil(n/8)*k. */
export function packedBSize(n: number, k: number): number {
  return Math.ceil(n / GEMM_NR) * GEMM_NR * k;
}

// ---------------------------------------------------------------------------------------------
// Wrapper arguments: every pointer and size by name.

export interface GemmArgs {
  /** Rows of A and C. */
  m: number;
  /** Columns of B and C. */
  n: number;
  /** Columns of A, rows of B: the reduction. */
  k: number;
  /** Packed A, packedASize(m, k) floats (packA). */
  a: Ptr;
  /** Packed B, packedBSize(n, k) floats (packB). */
  b: Ptr;
  /** C [m, n]: element (i, j) at c + 4*(i*ldc + j), or c + 4*(j*ldc + i) when cTransposed. */
  c: Ptr;
  /** Row stride of C in floats (of C^T when cTransposed). */
  ldc: number;
  /** Store C^T: e.g. the conv forward writes NCHW [OCg, P] from a [P, OCg] product. Default false. */
  cTransposed?: boolean;
  /** Bias added before the products (m floats along M, or n floats along N); ignored with accumulate. */
  bias?: Ptr;
  /** Which dimension the bias runs along. Default 'n'. */
  biasAlong?: 'm' | 'n';
  /** C += A.B instead of C = A.B (+ bias). Default false. */
  accumulate?: boolean;
  /** Store max(0, x). Default false. */
  relu?: boolean;
  /**
   * Compute only rows [begin, end) of C (begin a multiple of 4), e.g. one thread's share; the
   * result does not depend on how the rows are split. Default: all m rows.
   */
  rows?: readonly [begin: number, end: number];
}

/** Source layouts the packers read; `ld` is the source row stride in floats (default: the row length). */
export interface PackBArgs {
  /** 'goi': src is [n, k] (weights [OC, K]); 'gio': src is [k, n]. */
  from: 'goi' | 'gio';
  n: number;
  k: number;
  src: Ptr;
  ld?: number;
  /** packedBSize(n, k) floats. */
  out: Ptr;
}

export interface PackAArgs {
  /** 'mk': src is [m, k] rows; 'km': src is [k, m] rows (e.g. the im2col matrix [K, P]). */
  from: 'mk' | 'km';
  m: number;
  k: number;
  src: Ptr;
  ld?: number;
  /** packedASize(m, k) floats. */
  out: Ptr;
}

/** One image and one channel group of a convolution (see src/ops/conv2d.ts ConvGeometry). */
export interface Im2colGeometry {
  /** Channels of the group, C/G. */
  channels: number;
  height: number;
  width: number;
  kernelH: number;
  kernelW: number;
  stride: number;
  pad: number;
  /** Output size, from src/geometry.ts. */
  outH: number;
  outW: number;
}

// ---------------------------------------------------------------------------------------------
// The instance.

export class Kernels {
  private constructor(
    private readonly raw: RawExports,
    private readonly tasks: Record<TaskKernel, TaskFunction>,
    readonly build: BuildName,
    readonly memory: WasmMemory,
    /** The compiled module: worker threads instantiate it over the same memory. */
    readonly module: WasmModule,
  ) {}

  /**
   * Instantiates a build over `memory`. `build` names what the bytes are, and is checked against
   * the module's own `kernel_isa()`.
   */
  static async instantiate(build: BuildName, source: Uint8Array | WasmModule, memory: WasmMemory): Promise<Kernels> {
    const module = source instanceof Uint8Array ? await WA.compile(source) : source;
    return Kernels.wrap(build, module, await WA.instantiate(module, kernelImports(memory)), memory);
  }

  /** Synchronous instantiation (Node, workers; browsers refuse large modules on the main thread). */
  static instantiateSync(build: BuildName, source: Uint8Array | WasmModule, memory: WasmMemory): Kernels {
    const module = source instanceof Uint8Array ? new WA.Module(source) : source;
    return Kernels.wrap(build, module, new WA.Instance(module, kernelImports(memory)), memory);
  }

  private static wrap(build: BuildName, module: WasmModule, instance: WasmInstance, memory: WasmMemory): Kernels {
    for (const name of [...RAW_EXPORT_NAMES, ...TASK_KERNELS]) {
      if (typeof instance.exports[name] !== 'function') throw new Error(`kernel build '${build}' lacks the export ${name}: rebuild with \`npm run build:wasm\``);
    }
    const raw = instance.exports as unknown as RawExports;
    if (raw.kernel_isa() !== ISA_OF_BUILD[build]) {
      throw new Error(`the module given as the '${build}' build reports instruction set ${raw.kernel_isa()}, expected ${ISA_OF_BUILD[build]}`);
    }
    const tasks = Object.fromEntries(TASK_KERNELS.map((name) => [name, instance.exports[name]])) as Record<TaskKernel, TaskFunction>;
    return new Kernels(raw, tasks, build, memory, module);
  }

  /** First byte past the module's static data: where the host's buffers may start. */
  get heapBase(): Ptr {
    return this.raw.heap_base();
  }

  /** C = A.B (+ bias) (then ReLU), or C += A.B; see GemmArgs and assembly/gemm.ts. */
  gemm(args: GemmArgs): void {
    const { m, n, k, a, b, c, ldc, cTransposed = false, bias, biasAlong = 'n', accumulate = false, relu = false } = args;
    const [mBegin, mEnd] = args.rows ?? [0, m];
    const cCols = cTransposed ? m : n;
    if (ldc < cCols) throw new Error(`gemm: ldc ${ldc} is shorter than a row of ${cTransposed ? 'C^T' : 'C'} (${cCols} floats)`);
    if (!(mBegin % GEMM_MR === 0 && 0 <= mBegin && mBegin <= mEnd && mEnd <= m)) {
      throw new Error(`gemm: rows [${mBegin}, ${mEnd}) must lie in [0, ${m}) and start at a multiple of ${GEMM_MR}`);
    }
    this.raw.f32_gemm(m, n, k, a, b, c, ldc, +cTransposed, bias ?? 0, +(biasAlong === 'm'), +accumulate, +relu, mBegin, mEnd);
  }

  /**
   * Packs the B operand into panels of 8 columns per K block of GEMM_KC rows (layout in
   * assembly/pack.ts), zero-padding a ragged last panel.
   */
  packB(args: PackBArgs): void {
    const { from, n, k, src, out } = args;
    const rowLength = from === 'goi' ? k : n;
    const ld = args.ld ?? rowLength;
    if (ld < rowLength) throw new Error(`packB: ld ${ld} is shorter than a source row (${rowLength} floats, from '${from}')`);
    if (from === 'goi') this.raw.x32_packw_gemm_goi_x8(n, k, src, ld, out);
    else this.raw.x32_packw_gemm_gio_x8(n, k, src, ld, out);
  }

  /**
   * Packs the A operand into micro-panels of 4 rows per K block of GEMM_KC rows (layout in
   * assembly/pack.ts), repeating row m-1 in a ragged last one.
   */
  packA(args: PackAArgs): void {
    const { from, m, k, src, out } = args;
    const rowLength = from === 'mk' ? k : m;
    const ld = args.ld ?? rowLength;
    if (ld < rowLength) throw new Error(`packA: ld ${ld} is shorter than a source row (${rowLength} floats, from '${from}')`);
    if (from === 'mk') this.raw.x32_packx_4x(m, k, src, ld, out);
    else this.raw.x32_packx_4x_t(m, k, src, ld, out);
  }

  /** cols [C*KH*KW, OH*OW] = im2col(x [C, H, W]); x points at the group's first channel. */
  im2col(x: Ptr, geo: Im2colGeometry, cols: Ptr): void {
    const { channels, height, width, kernelH, kernelW, stride, pad, outH, outW } = geo;
    this.raw.im2col(x, channels, height, width, kernelH, kernelW, stride, pad, outH, outW, cols);
  }

  /** dx [C, H, W] += col2im(cols [C*KH*KW, OH*OW]), the adjoint of im2col. */
  col2im(cols: Ptr, geo: Im2colGeometry, dx: Ptr): void {
    const { channels, height, width, kernelH, kernelW, stride, pad, outH, outW } = geo;
    this.raw.col2im(cols, channels, height, width, kernelH, kernelW, stride, pad, outH, outW, dx);
  }

  /**
   * Packed A of a convolution's patches, for output pixels [p0, p0 + m) of one image and group
   * (x points at the group's first channel): the same floats as im2col then packA from 'km'.
   * `pbuf` is scratch for the zero-padded rows those pixels read, im2colPadSize floats.
   */
  im2colPacked(x: Ptr, geo: Im2colGeometry, p0: number, m: number, out: Ptr, pbuf: Ptr): void {
    const { channels, height, width, kernelH, kernelW, stride, pad, outH, outW } = geo;
    if (!(p0 >= 0 && m >= 1 && p0 + m <= outH * outW)) throw new Error(`im2colPacked: pixels [${p0}, ${p0 + m}) outside [0, ${outH * outW})`);
    this.raw.im2col_packx_4x(x, channels, height, width, kernelH, kernelW, stride, pad, outH, outW, p0, m, out, pbuf);
  }

  /** Floats of im2colPacked's `pbuf` for these pixels; at most channels*(height + 2*pad)*(width + 2*pad). */
  im2colPadSize(geo: Im2colGeometry, p0: number, m: number): number {
    const { channels, height, width, kernelH, stride, pad, outW } = geo;
    return this.raw.im2col_pad_size(channels, height, width, kernelH, stride, pad, outW, p0, m);
  }

  /** Runs piece `task` of a task kernel with the given scratch region and arguments (see TASK_KERNELS). */
  runTask(kernel: TaskKernel, task: number, scratch: Ptr, args: readonly number[]): void {
    this.tasks[kernel](task, scratch, ...args);
  }

  /**
   * Winograd's filter transform U = G g G^T (assembly/winograd.ts) of one group's 3x3 filters:
   * w [OCg, Cg, 3, 3] -> u [16][OCg][Cg].
   */
  winogradFilterTransform(w: Ptr, OCg: number, Cg: number, u: Ptr): void {
    this.raw.winograd_filter_transform(w, OCg, Cg, u);
  }

  /** Sets every subnormal of `count` floats at `x` to zero of the same sign. */
  flushSubnormals(x: Ptr, count: number): void {
    this.raw.flush_subnormals(x, count);
  }

  /** Whether any of `count` floats at `x` is subnormal (a read-only scan). */
  hasSubnormals(x: Ptr, count: number): boolean {
    return this.raw.has_subnormals(x, count) !== 0;
  }

  /**
   * Runs the 4x8 micro-kernel `reps` times over one packed A micro-panel (4*kc floats at `a`) and
   * one B panel (8*kc floats at `b`), accumulating into a 4x8 row-major `c`: 64*kc*reps FLOPs with
   * everything in L1. The benchmark's in-cache peak.
   */
  microKernelPeak(reps: number, kc: number, a: Ptr, b: Ptr, c: Ptr): void {
    this.raw.f32_gemm_4x8_peak(reps, kc, a, b, c);
  }

  /**
   * Runs every kernel on small problems laid out in scratch space from `alloc` (released after), so
   * that V8 tiers them up from its baseline compiler (Liftoff, ~4x slower) before the first big
   * call: a long call started in Liftoff code stays there until it returns.
   */
  warmUp(alloc: BumpAllocator, rounds = 8): void {
    const mark = alloc.mark();
    // V8 tiers a function up after a budget of executed code: many small calls and many tiles
    // (the driver's loops) get there sooner than one big product.
    const m = 64, n = 64, k = GEMM_KC + 1, mSmall = 128, nSmall = 128, kSmall = 4;
    const a = alloc.alloc(m * k), b = alloc.alloc(n * k), c = alloc.alloc(mSmall * nSmall);
    const ap = alloc.alloc(Math.max(packedASize(m, k), packedASize(mSmall, kSmall)));
    const bp = alloc.alloc(Math.max(packedBSize(n, k), packedBSize(nSmall, kSmall)));
    const geo: Im2colGeometry = { channels: 4, height: 12, width: 12, kernelH: 3, kernelW: 3, stride: 1, pad: 1, outH: 12, outW: 12 };
    const geo2: Im2colGeometry = { ...geo, stride: 2, outH: 6, outW: 6 };
    const x = alloc.alloc(4 * 12 * 12), cols = alloc.alloc(4 * 9 * 144);
    alloc.f32(a, m * k).fill(0.5);
    alloc.f32(b, n * k).fill(0.25);
    alloc.f32(x, 4 * 144).fill(1);
    for (let r = 0; r < rounds; r++) {
      this.packA({ from: 'mk', m, k, src: a, out: ap });
      this.packA({ from: 'km', m, k, src: a, out: ap });
      this.packB({ from: 'gio', n, k, src: b, out: bp });
      this.packB({ from: 'goi', n, k, src: b, out: bp });
      this.gemm({ m, n, k, a: ap, b: bp, c, ldc: n, bias: b, relu: true });
      this.gemm({ m, n, k, a: ap, b: bp, c, ldc: m, cTransposed: true, accumulate: true });
      for (let i = 0; i < 8; i++) {
        this.packB({ from: 'goi', n: nSmall, k: kSmall, src: b, out: bp });
        this.packB({ from: 'gio', n: nSmall, k: kSmall, src: b, out: bp });
        this.gemm({ m: mSmall, n: nSmall, k: kSmall, a: ap, b: bp, c, ldc: nSmall });
        this.flushSubnormals(a, m * k);
      }
      this.im2col(x, geo, cols);
      this.col2im(cols, geo, x);
      this.im2col(x, geo2, cols);
      this.col2im(cols, geo2, x);
      this.microKernelPeak(64, GEMM_KC, ap, bp, c);
    }
    alloc.reset(mark);
  }
}

/** A build instantiated over its memory, with the allocator that lays the memory out. */
export interface KernelSetup {
  kernels: Kernels;
  memory: WasmMemory;
  alloc: BumpAllocator;
}

/**
 * Instantiates a build over `memory` (default: a fresh 16 MiB one that grows as needed), makes
 * the allocator, and warms every kernel up (unless `warmUp` is false) so that the first real call
 * runs optimised code.
 */
export async function setUpKernels(
  build: BuildName, source: Uint8Array | WasmModule, options: { memory?: WasmMemory; warmUp?: boolean } = {},
): Promise<KernelSetup> {
  const memory = options.memory ?? createMemory({ initialBytes: 16 * 2 ** 20 });
  return finishSetUp(await Kernels.instantiate(build, source, memory), memory, options.warmUp ?? true);
}

/** setUpKernels, synchronously (Node, workers). */
export function setUpKernelsSync(
  build: BuildName, source: Uint8Array | WasmModule, options: { memory?: WasmMemory; warmUp?: boolean } = {},
): KernelSetup {
  const memory = options.memory ?? createMemory({ initialBytes: 16 * 2 ** 20 });
  return finishSetUp(Kernels.instantiateSync(build, source, memory), memory, options.warmUp ?? true);
}

function finishSetUp(kernels: Kernels, memory: WasmMemory, warmUp: boolean): KernelSetup {
  const alloc = new BumpAllocator(memory, kernels.heapBase);
  if (warmUp) kernels.warmUp(alloc);
  return { kernels, memory, alloc };
}

function kernelImports(memory: WasmMemory): object {
  return {
    env: {
      memory,
      abort(_message: number, _file: number, line: number, column: number): never {
        throw new Error(`kernel aborted at assembly line ${line}:${column}`);
      },
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Layout.

/**
 * Hands out aligned regions of the kernels' memory, growing it as needed; frees by rewinding to a
 * mark. Typed-array views must be re-made after any allocation (growing detaches the old buffer),
 * which is why `f32()` makes a fresh one on each call.
 */
export class BumpAllocator {
  private top: Ptr;

  /** `base`: first usable byte, e.g. `kernels.heapBase`; raised to 64 so that 0 is never handed out. */
  constructor(readonly memory: WasmMemory, base: Ptr, readonly alignment = 64) {
    this.top = align(Math.max(base, 64), alignment);
  }

  /** A region of `floats` floats (contents unspecified: memory may hold older buffers). */
  alloc(floats: number): Ptr {
    if (!Number.isInteger(floats) || floats < 0) throw new Error(`alloc: bad size ${floats}`);
    const ptr = this.top;
    const end = align(ptr + floats * 4, this.alignment);
    const have = this.memory.buffer.byteLength;
    if (end > have) {
      try {
        this.memory.grow(Math.ceil((end - have) / PAGE_BYTES));
      } catch (e) {
        if (!(e instanceof RangeError)) throw e;
        throw new RangeError(`the kernels' memory cannot grow to ${Math.ceil(end / 2 ** 20)} MiB (it holds ${have / 2 ** 20} MiB; a smaller batch needs less)`);
      }
    }
    this.top = end;
    return ptr;
  }

  /** A zero-filled region of `floats` floats. */
  allocZeroed(floats: number): Ptr {
    const ptr = this.alloc(floats);
    this.f32(ptr, floats).fill(0);
    return ptr;
  }

  /** A region holding a copy of `data`. */
  allocFrom(data: ArrayLike<number>): Ptr {
    const ptr = this.alloc(data.length);
    this.f32(ptr, data.length).set(data);
    return ptr;
  }

  /** A Float32Array view of `length` floats at `ptr`, valid until the memory next grows. */
  f32(ptr: Ptr, length: number): Float32Array {
    return new Float32Array(this.memory.buffer, ptr, length);
  }

  /** The current top, to rewind to with reset(). */
  mark(): Ptr {
    return this.top;
  }

  /** Frees everything allocated since `mark`. */
  reset(mark: Ptr): void {
    this.top = mark;
  }

  /** Bytes in use, from address 0. */
  get used(): number {
    return this.top;
  }
}

function align(x: number, to: number): number {
  return Math.ceil(x / to) * to;
}
