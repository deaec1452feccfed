/**
 * The packed GEMM (assembly/gemm.ts) on every matrix product of AlexNet, next to its micro-kernel's
 * in-cache peak, for the simd and relaxed builds side by side in one run.
 *
 *   npm run build && npx tsx bench/gemm.ts [--seconds 0.2] [--batch 1]     (or npm run bench:gemm)
 *
 * Shapes come from the model table (inferShapes): torchvision at 224 and caffe at 227, batch 1
 * (--batch changes it). Each conv layer gives three products per image and group, each fc layer
 * two per batch (see the mapping at the top of assembly/gemm.ts):
 *   fwd   conv: [P, OCg] = cols^T . W^T, stored NCHW, bias + ReLU
 *   dW    conv: dW_g += dY_g . cols^T                                 fc: dW = dy^T x
 *   dx    conv: dcols = W_g^T . dY_g (col2im not included)           fc: dx = dy W
 * The fc forward is not a GEMM product: it reads the weights as stored (assembly/linear.ts,
 * linear_forward_task), and the forward benches (bench/peers.ts) time it within the network.
 *
 * Per product: sources laid out as the backend has them ([K, P] im2col matrix, NCHW dY, [OC, K]
 * weights), packed, multiplied once by each build and validated against a float64 product (all
 * elements, or for large products every element of 8 rows and 4 columns, the edge tiles among
 * them); only then timed: the GEMM alone on packed operands (the number the target is about), and
 * "+ pack" including the packing of the operands that change every call (the weights' packing is
 * per weight update and left out). GFLOP/s = 2*M*N*K / median time; builds alternate run by run,
 * and each row's "% of peak" is against the micro-kernel's peak measured right before that row,
 * so that load from other processes on the machine cancels out as far as it can.
 *
 * Relaxed SIMD needs --experimental-wasm-relaxed-simd on Node 20: the script re-runs itself with
 * that flag when needed. Results go to bench/results/gemm-<date>.md.
 */

import { writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import {
  type BuildName, BumpAllocator, GEMM_KC, Kernels, canRun, createMemory, packedASize, packedBSize,
} from '../src/backend/wasm/kernels.js';
import { readKernelBytes } from '../src/backend/wasm/node-loader.js';
import { architecture, type ArchName } from '../src/model/architectures.js';
import { inferShapes } from '../src/model/shapes.js';
import { Rng } from '../src/rng.js';
import { rerunWithRelaxedSimd } from './engines.js';
import { machineDescription, median, today } from './machine.js';

const args = process.argv.slice(2);
const flag = (name: string, dflt: number): number => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const seconds = flag('seconds', 0.2);
const batch = flag('batch', 1);
// Re-run with the relaxed-SIMD flag if this Node needs it (Node 20).
rerunWithRelaxedSimd(import.meta.url);

const BUILDS: BuildName[] = canRun(readKernelBytes('relaxed')) ? ['simd', 'relaxed'] : ['simd'];

// ---------------------------------------------------------------------------------------------
// The products, from the model table.

/** Source layouts: A as [m, k] rows ('mk') or [k, m] rows ('km'); B as [n, k] ('goi') or [k, n] ('gio'). */
interface Product {
  net: ArchName;
  layer: string;
  kind: 'fwd' | 'dW' | 'dx';
  m: number; n: number; k: number;
  /** GEMM calls of this shape per forward/backward of the batch (images x groups for conv). */
  calls: number;
  aFrom: 'mk' | 'km';
  bFrom: 'goi' | 'gio';
  cTransposed: boolean;
  bias: boolean;
  relu: boolean;
  accumulate: boolean;
  /** Whether B changes every call (packed with A in "+ pack"), rather than once per weight update. */
  bPerCall: boolean;
  isConv: boolean;
}

function products(net: ArchName, size: number): Product[] {
  const out: Product[] = [];
  const layers = inferShapes(architecture(net), [batch, 3, size, size]);
  layers.forEach((info, index) => {
    const spec = info.spec;
    const reluNext = layers[index + 1]?.spec.kind === 'relu';
    if (spec.kind === 'conv') {
      const [, C] = info.inShape;
      const [, OC, OH, OW] = info.outShape;
      const G = spec.groups, OCg = OC / G, K = (C / G) * spec.kernel * spec.kernel, P = OH * OW;
      const base = { net, layer: spec.name, calls: batch * G, isConv: true, bias: false, relu: false, accumulate: false };
      out.push({ ...base, kind: 'fwd', m: P, n: OCg, k: K, aFrom: 'km', bFrom: 'goi', cTransposed: true, bias: true, relu: reluNext, bPerCall: false });
      out.push({ ...base, kind: 'dW', m: OCg, n: K, k: P, aFrom: 'mk', bFrom: 'goi', cTransposed: false, accumulate: true, bPerCall: true });
      out.push({ ...base, kind: 'dx', m: P, n: K, k: OCg, aFrom: 'km', bFrom: 'gio', cTransposed: true, bPerCall: false });
    } else if (spec.kind === 'linear') {
      const [B, IN] = info.inShape;
      const OUT = spec.outFeatures;
      const base = { net, layer: spec.name, calls: 1, isConv: false, cTransposed: false, bias: false, relu: false, accumulate: false };
      out.push({ ...base, kind: 'dW', m: OUT, n: IN, k: B, aFrom: 'km', bFrom: 'gio', bPerCall: true });
      out.push({ ...base, kind: 'dx', m: B, n: IN, k: OUT, aFrom: 'mk', bFrom: 'gio', bPerCall: false });
    }
  });
  return out;
}

// ---------------------------------------------------------------------------------------------
// Measurement.

const memory = createMemory({ initialBytes: 256 * 2 ** 20 });
// Both builds over one memory: operands are laid out once and both multiply the same bytes.
const kernels = new Map(BUILDS.map((b) => [b, Kernels.instantiateSync(b, readKernelBytes(b), memory)] as const));
const alloc = new BumpAllocator(memory, Math.max(...[...kernels.values()].map((k) => k.heapBase)));
for (const k of kernels.values()) k.warmUp(alloc);

function time(fn: () => void): number {
  const t0 = performance.now();
  fn();
  return (performance.now() - t0) / 1000;
}

/** The micro-kernel's in-cache peak: one A micro-panel and one B panel of KC rows, repeated. */
const peakBuffers = (() => {
  const rng = new Rng(99);
  const fill = (n: number) => alloc.allocFrom(Float32Array.from({ length: n }, () => 0.5 + rng.uniform()));
  return { a: fill(4 * GEMM_KC), b: fill(8 * GEMM_KC), c: fill(32) };
})();
function measurePeak(k: Kernels, samples = 3): number {
  const reps = 2000; // 33 MFLOP, 1-2 ms
  const flops = 2 * 4 * 8 * GEMM_KC * reps;
  const xs: number[] = [];
  for (let s = 0; s < samples; s++) {
    alloc.f32(peakBuffers.c, 32).fill(0); // keep the accumulators small and normal
    xs.push(flops / time(() => k.microKernelPeak(reps, GEMM_KC, peakBuffers.a, peakBuffers.b, peakBuffers.c)) / 1e9);
  }
  return median(xs);
}

interface BuildResult {
  /** Medians over the rounds. */
  gflops: number;
  gflopsWithPack: number;
  peak: number;
  /** Median over the rounds of (GEMM GFLOP/s / the peak measured just before it). */
  ofPeak: number;
}
interface Row {
  p: Product;
  byBuild: Map<BuildName, BuildResult>;
  maxErr: number;
  /** max over checked elements of |error| / (gamma_(K+1) sum |a b|): below 1 is within the bound. */
  errOverBound: number;
  checked: string;
}

function measure(p: Product, rng: Rng): Row {
  const { m, n, k } = p;
  const mark = alloc.mark();
  const uniform = (len: number): Float32Array => {
    const a = new Float32Array(len);
    for (let i = 0; i < len; i++) a[i] = 2 * rng.uniform() - 1;
    return a;
  };
  const A = uniform(m * k), B = uniform(k * n), bias = uniform(n);
  const lda = p.aFrom === 'mk' ? k : m, ldb = p.bFrom === 'goi' ? k : n, ldc = p.cTransposed ? m : n;
  const aAt = (i: number, kk: number): number => (p.aFrom === 'mk' ? A[i * lda + kk] : A[kk * lda + i]);
  const bAt = (kk: number, j: number): number => (p.bFrom === 'goi' ? B[j * ldb + kk] : B[kk * ldb + j]);
  const cIndex = (i: number, j: number): number => (p.cTransposed ? j * ldc + i : i * ldc + j);

  const aSrc = alloc.allocFrom(A), bSrc = alloc.allocFrom(B), biasPtr = alloc.allocFrom(bias);
  const aPacked = alloc.alloc(packedASize(m, k)), bPacked = alloc.alloc(packedBSize(n, k));
  const c = alloc.allocZeroed(m * n);
  const any = kernels.get('simd')!;
  const packA = (kk: Kernels) => kk.packA({ from: p.aFrom, m, k, src: aSrc, out: aPacked });
  const packB = (kk: Kernels) => kk.packB({ from: p.bFrom, n, k, src: bSrc, out: bPacked });
  const gemm = (kk: Kernels) => kk.gemm({
    m, n, k, a: aPacked, b: bPacked, c, ldc, cTransposed: p.cTransposed,
    bias: p.bias ? biasPtr : undefined, relu: p.relu, accumulate: p.accumulate,
  });
  packA(any);
  packB(any);

  // Validate each build before timing.
  const full = m * n * k <= 2e7;
  const rows = full ? [...Array(m).keys()] : [...new Set([0, m - 1, ...Array.from({ length: 6 }, () => rng.below(m))])];
  const cols = full ? [] : [...new Set([0, n - 1, ...Array.from({ length: 2 }, () => rng.below(n))])];
  const elements: [number, number][] = [];
  for (const i of rows) for (let j = 0; j < n; j++) elements.push([i, j]);
  for (const j of cols) for (let i = 0; i < m; i++) elements.push([i, j]);
  const want = elements.map(([i, j]) => {
    let s = p.bias ? bias[j] : 0, sAbs = Math.abs(s);
    for (let kk = 0; kk < k; kk++) {
      const t = aAt(i, kk) * bAt(kk, j);
      s += t;
      sAbs += Math.abs(t);
    }
    return { value: p.relu ? Math.max(0, s) : s, absSum: sAbs };
  });
  let maxErr = 0, errOverBound = 0;
  for (const kk of kernels.values()) {
    alloc.f32(c, m * n).fill(0);
    gemm(kk);
    const got = alloc.f32(c, m * n);
    elements.forEach(([i, j], e) => {
      const err = Math.abs(got[cIndex(i, j)] - want[e].value);
      const nu = (k + 2) * 2 ** -24;
      maxErr = Math.max(maxErr, err);
      errOverBound = Math.max(errOverBound, err / ((nu / (1 - nu)) * want[e].absSum || Number.MIN_VALUE));
    });
  }
  if (!(errOverBound <= 1)) throw new Error(`${p.net} ${p.layer} ${p.kind}: error ${maxErr} exceeds the float32 bound; not timing`);
  const checked = full ? 'all' : `${rows.length} rows + ${cols.length} cols`;

  // Time: builds alternate within each round, and each GEMM sample comes right after a peak
  // sample of the same build, so that "% of peak" compares two measurements under the same load.
  const flops = 2 * m * n * k;
  const first = time(() => gemm(any));
  const rounds = Math.max(5, Math.min(30, Math.ceil(seconds / first)));
  const samples = new Map(BUILDS.map((b) => [b, { gemm: [] as number[], pack: [] as number[], peak: [] as number[], ofPeak: [] as number[] }]));
  for (const b of BUILDS) gemm(kernels.get(b)!); // one more warm call each
  for (let r = 0; r < rounds; r++) {
    for (const b of BUILDS) {
      const kk = kernels.get(b)!, s = samples.get(b)!;
      const peak = measurePeak(kk, 1);
      const g = flops / time(() => gemm(kk)) / 1e9;
      s.peak.push(peak);
      s.gemm.push(g);
      s.ofPeak.push(g / peak);
      s.pack.push(flops / time(() => {
        packA(kk);
        if (p.bPerCall) packB(kk);
        gemm(kk);
      }) / 1e9);
    }
  }
  const byBuild = new Map<BuildName, BuildResult>();
  for (const b of BUILDS) {
    const s = samples.get(b)!;
    byBuild.set(b, { gflops: median(s.gemm), gflopsWithPack: median(s.pack), peak: median(s.peak), ofPeak: median(s.ofPeak) });
  }
  alloc.reset(mark);
  return { p, byBuild, maxErr, errOverBound, checked };
}

/**
 * What subnormal operands cost: WebAssembly has no flush-to-zero, and on some x86 cores (Intel's
 * microcode assists) a multiply-add with a subnormal operand or result is ~100x slower.
 */
function measureSubnormals(): string {
  const n = 256;
  const mark = alloc.mark();
  const a = alloc.allocFrom(new Float32Array(packedASize(n, n)).fill(1e-39)); // subnormal
  const b = alloc.allocFrom(new Float32Array(packedBSize(n, n)).fill(1e-3)); // products ~1e-42, sums ~3e-40
  const c = alloc.alloc(n * n);
  const flops = 2 * n * n * n;
  const run = (kk: Kernels): number => median(Array.from({ length: 5 }, () => flops / time(() => kk.gemm({ m: n, n, k: n, a, b, c, ldc: n })) / 1e9));
  const subnormal = BUILDS.map((bd) => run(kernels.get(bd)!));
  kernels.get('simd')!.flushSubnormals(a, packedASize(n, n));
  const flushed = BUILDS.map((bd) => run(kernels.get(bd)!));
  alloc.reset(mark);
  return BUILDS.map((bd, i) => `${bd} ${subnormal[i].toFixed(1)} vs ${flushed[i].toFixed(1)} GFLOP/s`).join(', ');
}

// ---------------------------------------------------------------------------------------------
// Report.

const pct = (x: number, of: number): string => `${Math.round((100 * x) / of)}%`;

function line(row: Row): string {
  const { p } = row;
  const shape = `M ${p.m} N ${p.n} K ${p.k}`;
  const builds = BUILDS.map((b) => {
    const r = row.byBuild.get(b)!;
    return `${b} ${r.gflops.toFixed(1)} GFLOP/s (${pct(r.ofPeak, 1)} of ${r.peak.toFixed(1)}), + pack ${r.gflopsWithPack.toFixed(1)}`;
  }).join(' | ');
  return `${p.net.padEnd(11)} ${p.layer.padEnd(5)} ${p.kind.padEnd(3)} ${shape.padEnd(24)} x${String(p.calls).padEnd(3)} ${builds} | max err ${row.maxErr.toExponential(1)} (${row.errOverBound.toFixed(3)} of bound, ${row.checked})`;
}

function main(): void {
  console.log(`machine: ${machineDescription()}`);
  const cpuStart = process.cpuUsage(), wallStart = performance.now(), loadStart = loadavg()[0];
  const startPeaks = new Map(BUILDS.map((b) => [b, measurePeak(kernels.get(b)!, 7)]));
  console.log(`micro-kernel in-cache peak: ${BUILDS.map((b) => `${b} ${startPeaks.get(b)!.toFixed(1)} GFLOP/s`).join(', ')}`);
  const rng = new Rng(2024);
  const rows: Row[] = [];
  for (const [net, size] of [['torchvision', 224], ['caffe', 227]] as const) {
    for (const p of products(net, size)) {
      const row = measure(p, rng);
      rows.push(row);
      console.log(line(row));
    }
  }
  const endPeaks = new Map(BUILDS.map((b) => [b, measurePeak(kernels.get(b)!, 7)]));
  const subnormals = measureSubnormals();
  console.log(`subnormal operands (256^3, every product and sum subnormal): ${subnormals}`);

  const cpu = process.cpuUsage(cpuStart);
  const cpuShare = (cpu.user + cpu.system) / 1000 / (performance.now() - wallStart);
  const load = `this process ran ${Math.round(100 * cpuShare)}% of the wall time; 1-minute load average ${loadStart.toFixed(1)} at the start, ${loadavg()[0].toFixed(1)} at the end`;
  console.log(`load: ${load}`);

  // Conv totals: time-weighted over every product and call of both networks.
  const summary = BUILDS.map((b) => {
    const conv = rows.filter((r) => r.p.isConv);
    let flops = 0, secs = 0, peakSecs = 0, worst = Infinity;
    for (const r of conv) {
      const res = r.byBuild.get(b)!;
      const f = 2 * r.p.m * r.p.n * r.p.k * r.p.calls;
      flops += f;
      secs += f / (res.gflops * 1e9);
      peakSecs += (f / (res.gflops * 1e9)) * res.ofPeak; // the time the peak would take
      worst = Math.min(worst, res.ofPeak);
    }
    return { b, gflops: flops / secs / 1e9, ofPeak: peakSecs / secs, worst };
  });
  for (const s of summary) {
    console.log(`${s.b}: conv products overall ${s.gflops.toFixed(1)} GFLOP/s = ${Math.round(100 * s.ofPeak)}% of peak; lowest row ${Math.round(100 * s.worst)}%`);
  }

  const header = ['net', 'layer', 'product', 'M', 'N', 'K', 'calls'];
  for (const b of BUILDS) header.push(`${b} GFLOP/s`, '% of peak', '+ pack');
  header.push('max error', 'error / bound');
  const table = [
    `| ${header.join(' | ')} |`,
    `|${header.map((_, i) => (i < 3 ? '---' : '---:')).join('|')}|`,
    ...rows.map((r) => {
      const cells = [r.p.net, r.p.layer, r.p.kind, r.p.m, r.p.n, r.p.k, r.p.calls].map(String);
      for (const b of BUILDS) {
        const res = r.byBuild.get(b)!;
        cells.push(res.gflops.toFixed(1), pct(res.ofPeak, 1), res.gflopsWithPack.toFixed(1));
      }
      cells.push(r.maxErr.toExponential(1), r.errOverBound.toFixed(3));
      return `| ${cells.join(' | ')} |`;
    }),
  ].join('\n');
  const report = [
    '# Packed GEMM on AlexNet\'s products (assembly/gemm.ts)',
    '',
    `- date: ${today()}`,
    `- machine: ${machineDescription()}`,
    `- command: \`npx tsx bench/gemm.ts --seconds ${seconds} --batch ${batch}\`, one thread`,
    `- load: ${load} (other work shares the machine)`,
    `- micro-kernel 4x8, KC ${GEMM_KC}; in-cache peak (GFLOP/s, start / end of run): ${BUILDS.map((b) => `${b} ${startPeaks.get(b)!.toFixed(1)} / ${endPeaks.get(b)!.toFixed(1)}`).join(', ')}`,
    '- shapes: inferShapes(torchvision, [N, 3, 224, 224]) and (caffe, [N, 3, 227, 227]); conv products per image and group',
    '  (fwd [P, OCg] = cols^T W^T stored NCHW with bias and ReLU; dW = dY cols^T; dx = W^T dY before col2im),',
    '  fc products per batch (fwd x W^T + b; dW = dy^T x; dx = dy W)',
    '- GFLOP/s = 2*M*N*K / time of the GEMM on packed operands, median of the rounds; "% of peak": median over the rounds of',
    '  GEMM GFLOP/s / the micro-kernel peak measured just before it (the machine is shared: the peak moves with the load,',
    '  the ratio much less); "+ pack" includes packing the operands that change every call (not the weights)',
    '- every product validated first against float64 (error / bound < 1: within gamma_(K+1) * sum |a b|)',
    '- fc at batch 1 is a matrix-vector product: the 4-row tile has 1 real row (at most 25% of peak) and the weights stream',
    '  from memory; fc dW at batch 1 (K = 1) is an outer product bound by writing dW',
    '',
    `- subnormal operands, 256x256x256 with every product and partial sum subnormal, vs the same after flush_subnormals: ${subnormals}`,
    ...summary.map((s) => `- ${s.b}: conv products overall ${s.gflops.toFixed(1)} GFLOP/s = ${Math.round(100 * s.ofPeak)}% of peak (lowest row ${Math.round(100 * s.worst)}%)`),
    '',
    table,
    '',
  ].join('\n');
  const file = new URL(`./results/gemm-${today()}.md`, import.meta.url);
  writeFileSync(file, report);
  console.log(`wrote ${fileURLToPath(file)}`);
}

main();
