/**
 * 3x3 convolutions of stride 1 by Winograd's minimal filtering F(2x2, 3x3) (Lavin & Gray, "Fast
 * Algorithms for Convolutional Neural Networks", CVPR 2016): each 2x2 block of outputs ("tile")
 * comes from the 4x4 block of inputs under it with 16 multiplications per input channel instead of
 * 36. AlexNet's conv3, conv4 and conv5 are of this kind: they do most of their work in 2.25 times
 * fewer multiply-adds, forward and in both gradients. The direct convolution (conv.ts) is the
 * definition; this is a faster way to the same numbers, within float32 rounding (the tests hold
 * both to the float64 reference of src/ops/conv2d.ts).
 *
 * For one output channel o, input channel c and tile t, with d the 4x4 input block of the tile and
 * g = w[o, c] the 3x3 filter:
 *
 *   y_tile = A^T [ (G g G^T) (.) (B^T d B) ] A          (.) elementwise, over 4x4 "coordinates" xi
 *
 *   B^T = | 1  0 -1  0 |      G = | 1    0    0   |      A^T = | 1  1  1  0 |
 *         | 0  1  1  0 |          | 1/2  1/2  1/2 |            | 0  1 -1 -1 |
 *         | 0 -1  1  0 |          | 1/2 -1/2  1/2 |
 *         | 0  1  0 -1 |          | 0    0    1   |
 *
 * Summed over c, the 16 elementwise products become 16 independent matrix products, one per xi,
 * which go through the packed GEMM of gemm.ts:
 *
 *   forward   U[xi] = (G g G^T)[xi]            [OCg, Cg]   once per weight update (host, cached)
 *             V[xi] = (B^T d B)[xi]            [tiles, Cg]
 *             M[xi] = V[xi] . U[xi]^T          [tiles, OCg]
 *             y     = A^T M A  per tile, + bias
 *   dx        dM[xi] = (A dy A^T)[xi]          [tiles, OCg]    (the adjoint of the output transform)
 *             dV[xi] = dM[xi] . U[xi]          [tiles, Cg]
 *             dx    += B dV B^T per tile       overlapping 4x4 blocks added in tile order
 *   dW        dU[xi] = dM[xi]^T . V[xi]        [OCg, Cg]       summed over the tiles of the batch
 *             dw    = G^T dU G                 3x3 per (o, c)
 *
 * Tiles: the output is cut into TH x TW tiles, TH = ceil(OH/2), TW = ceil(OW/2); tile (th, tw)
 * reads the 4x4 block of the zero-padded input whose top-left is (2*th - pad, 2*tw - pad). The
 * host first copies the input into planes of PH x PW = (2*TH + 2) x (2*TW + 2) floats with the
 * image at (pad, pad) and zeros around (pad_planes_task), and dy into 2*TH x 2*TW planes, so no
 * transform checks bounds. Tiles are numbered across the batch, t = (n*TH + th)*TW + tw.
 *
 * Every transform is a fixed sequence of float32 adds, subtracts and halvings (exact), written
 * once for 4 lanes of f32x4 and once per lane for the scalar build and for tails, in the same
 * order, so that the builds agree. Pieces, as in conv.ts, never depend on the number of threads:
 * a forward piece is a range of tiles, a dx piece a range of whole images (their overlapping
 * blocks are added within the piece), a dW piece a chunk of images whose partial dU the host adds
 * in chunk order.
 */

import { KC, gemmRange } from './gemm';
import { align16, packedASize, packedBSize } from './conv';

/** Coordinates of the transformed tile: 4x4. */
const XI: i32 = 16;

/**
 * Floats from one coordinate's buffer to the next (of the 16 a pass keeps side by side): rounded
 * up to 64 bytes, plus 64. The transforms touch all 16 at the same offset; a power-of-two distance
 * (a buffer of 64 tiles x 128 channels is 32 KB) would map them onto the same cache sets.
 */
// @ts-ignore: decorator
@inline function spaced(floats: usize): usize {
  return align16(floats) + 16;
}

// ---------------------------------------------------------------------------------------------
// Packed operand addresses (the layouts of pack.ts).

/** Byte offset of A element (i, k) in a packed A of mp = 4*ceil(M/4) rows and K columns. */
// @ts-ignore: decorator
@inline function aOffset(i: i32, k: i32, mp: i32, K: i32): usize {
  const k0 = k - k % KC;
  const kc = min(KC, K - k0);
  return (<usize>k0 * mp + <usize>(i >> 2) * kc * 4 + <usize>(k - k0) * 4 + <usize>(i & 3)) << 2;
}

/** Byte offset of B element (k, j) in a packed B of np = 8*ceil(N/8) columns and K rows. */
// @ts-ignore: decorator
@inline function bOffset(k: i32, j: i32, np: i32, K: i32): usize {
  const k0 = k - k % KC;
  const kc = min(KC, K - k0);
  return (<usize>k0 * np + <usize>(j >> 3) * kc * 8 + <usize>(k - k0) * 8 + <usize>(j & 7)) << 2;
}

// ---------------------------------------------------------------------------------------------
// The transforms. "X4" versions take four sources (lanes) and store f32x4 vectors; the "1"
// versions do one lane with the same operations in the same order.

/**
 * Row r of B^T d for a 4x4 block at p (row stride rs bytes), as 4 columns:
 *   r = 0: d0 - d2    r = 1: d1 + d2    r = 2: d2 - d1    r = 3: d1 - d3
 */
// @ts-ignore: decorator
@inline function inRowX4(p: usize, rs: usize, r: i32): v128 {
  if (r == 0) return f32x4.sub(v128.load(p), v128.load(p + 2 * rs));
  if (r == 1) return f32x4.add(v128.load(p + rs), v128.load(p + 2 * rs));
  if (r == 2) return f32x4.sub(v128.load(p + 2 * rs), v128.load(p + rs));
  return f32x4.sub(v128.load(p + rs), v128.load(p + 3 * rs));
}

// @ts-ignore: decorator
@inline function inRow1(p: usize, rs: usize, r: i32, c: usize): f32 {
  const q = p + (c << 2);
  if (r == 0) return load<f32>(q) - load<f32>(q + 2 * rs);
  if (r == 1) return load<f32>(q + rs) + load<f32>(q + 2 * rs);
  if (r == 2) return load<f32>(q + 2 * rs) - load<f32>(q + rs);
  return load<f32>(q + rs) - load<f32>(q + 3 * rs);
}

/** Row r of V = B^T d B for four blocks (lanes), stored at out + (4r + c)*xs for c < 4. */
// @ts-ignore: decorator
@inline function inputRowX4(p0: usize, p1: usize, p2: usize, p3: usize, rs: usize, r: i32, out: usize, xs: usize): void {
  const s0 = inRowX4(p0, rs, r), s1 = inRowX4(p1, rs, r), s2 = inRowX4(p2, rs, r), s3 = inRowX4(p3, rs, r);
  // transpose: c_j holds column j of the four rows
  const a0 = f32x4.shuffle(s0, s1, 0, 4, 1, 5), a1 = f32x4.shuffle(s0, s1, 2, 6, 3, 7);
  const a2 = f32x4.shuffle(s2, s3, 0, 4, 1, 5), a3 = f32x4.shuffle(s2, s3, 2, 6, 3, 7);
  const c0 = f32x4.shuffle(a0, a2, 0, 1, 4, 5), c1 = f32x4.shuffle(a0, a2, 2, 3, 6, 7);
  const c2 = f32x4.shuffle(a1, a3, 0, 1, 4, 5), c3 = f32x4.shuffle(a1, a3, 2, 3, 6, 7);
  const o = out + <usize>(4 * r) * xs;
  v128.store(o, f32x4.sub(c0, c2));
  v128.store(o + xs, f32x4.add(c1, c2));
  v128.store(o + 2 * xs, f32x4.sub(c2, c1));
  v128.store(o + 3 * xs, f32x4.sub(c1, c3));
}

// @ts-ignore: decorator
@inline function inputRow1(p: usize, rs: usize, r: i32, out: usize, xs: usize): void {
  const c0 = inRow1(p, rs, r, 0), c1 = inRow1(p, rs, r, 1), c2 = inRow1(p, rs, r, 2), c3 = inRow1(p, rs, r, 3);
  const o = out + <usize>(4 * r) * xs;
  store<f32>(o, c0 - c2);
  store<f32>(o + xs, c1 + c2);
  store<f32>(o + 2 * xs, c2 - c1);
  store<f32>(o + 3 * xs, c1 - c3);
}

/**
 * V = B^T d B of four 4x4 blocks at p0..p3 (row stride rs bytes): coordinate xi of block l at
 * out + xi*xs + 4*l (the four lanes side by side, as in a packed A micro-panel or B panel).
 */
function inputTransform4(p0: usize, p1: usize, p2: usize, p3: usize, rs: usize, out: usize, xs: usize): void {
  if (ASC_FEATURE_SIMD) {
    inputRowX4(p0, p1, p2, p3, rs, 0, out, xs);
    inputRowX4(p0, p1, p2, p3, rs, 1, out, xs);
    inputRowX4(p0, p1, p2, p3, rs, 2, out, xs);
    inputRowX4(p0, p1, p2, p3, rs, 3, out, xs);
  } else {
    for (let r = 0; r < 4; r++) {
      inputRow1(p0, rs, r, out, xs);
      inputRow1(p1, rs, r, out + 4, xs);
      inputRow1(p2, rs, r, out + 8, xs);
      inputRow1(p3, rs, r, out + 12, xs);
    }
  }
}

/**
 * dM = A dy A^T of four 2x2 blocks at p0..p3 (row stride rs bytes) | a b ; c d |, A^T as above:
 *   rows  P0 = (a, b)  P1 = (a + c, b + d)  P2 = (a - c, b - d)  P3 = (-c, -d)
 *   then each row (p, q) -> (p, p + q, p - q, -q)
 * coordinate xi of block l at out + xi*xs + 4*l.
 */
function gradOutTransform4(p0: usize, p1: usize, p2: usize, p3: usize, rs: usize, out: usize, xs: usize): void {
  if (ASC_FEATURE_SIMD) {
    const t01 = v128.load64_lane(p1, v128.load64_zero(p0), 1), t23 = v128.load64_lane(p3, v128.load64_zero(p2), 1);
    const b01 = v128.load64_lane(p1 + rs, v128.load64_zero(p0 + rs), 1), b23 = v128.load64_lane(p3 + rs, v128.load64_zero(p2 + rs), 1);
    const a = f32x4.shuffle(t01, t23, 0, 2, 4, 6), b = f32x4.shuffle(t01, t23, 1, 3, 5, 7);
    const c = f32x4.shuffle(b01, b23, 0, 2, 4, 6), d = f32x4.shuffle(b01, b23, 1, 3, 5, 7);
    gradOutRowX4(a, b, out, xs);
    gradOutRowX4(f32x4.add(a, c), f32x4.add(b, d), out + 4 * xs, xs);
    gradOutRowX4(f32x4.sub(a, c), f32x4.sub(b, d), out + 8 * xs, xs);
    gradOutRowX4(f32x4.neg(c), f32x4.neg(d), out + 12 * xs, xs);
  } else {
    gradOut1(p0, rs, out, xs);
    gradOut1(p1, rs, out + 4, xs);
    gradOut1(p2, rs, out + 8, xs);
    gradOut1(p3, rs, out + 12, xs);
  }
}

// @ts-ignore: decorator
@inline function gradOutRowX4(p: v128, q: v128, o: usize, xs: usize): void {
  v128.store(o, p);
  v128.store(o + xs, f32x4.add(p, q));
  v128.store(o + 2 * xs, f32x4.sub(p, q));
  v128.store(o + 3 * xs, f32x4.neg(q));
}

// @ts-ignore: decorator
@inline function gradOutRow1(p: f32, q: f32, o: usize, xs: usize): void {
  store<f32>(o, p);
  store<f32>(o + xs, p + q);
  store<f32>(o + 2 * xs, p - q);
  store<f32>(o + 3 * xs, -q);
}

// @ts-ignore: decorator
@inline function gradOut1(p: usize, rs: usize, out: usize, xs: usize): void {
  const a = load<f32>(p), b = load<f32>(p + 4), c = load<f32>(p + rs), d = load<f32>(p + rs + 4);
  gradOutRow1(a, b, out, xs);
  gradOutRow1(a + c, b + d, out + 4 * xs, xs);
  gradOutRow1(a - c, b - d, out + 8 * xs, xs);
  gradOutRow1(-c, -d, out + 12 * xs, xs);
}

/**
 * The forward's output transform A^T M A (+ bias) of one tile, four channels: M's coordinate xi
 * of channel l at m + xi*ms + 4*l. With S = A^T M (2x4):
 *   S0 = (M0 + M1) + M2    S1 = (M1 - M2) - M3     (rows of M)
 *   y0 = (S0 + S1) + S2    y1 = (S1 - S2) - S3     (columns of S), then + bias
 * The 2x2 outputs of lane l go to planes y + l*ys (bytes), at rows r < rows, columns < cols.
 */
function outputTransform4(m: usize, ms: usize, bias: usize, y: usize, ys: usize, OW: i32, rows: i32, cols: i32, lanes: i32): void {
  if (ASC_FEATURE_SIMD && lanes == 4) {
    const s00 = f32x4.add(f32x4.add(v128.load(m), v128.load(m + 4 * ms)), v128.load(m + 8 * ms));
    const s01 = f32x4.add(f32x4.add(v128.load(m + ms), v128.load(m + 5 * ms)), v128.load(m + 9 * ms));
    const s02 = f32x4.add(f32x4.add(v128.load(m + 2 * ms), v128.load(m + 6 * ms)), v128.load(m + 10 * ms));
    const s03 = f32x4.add(f32x4.add(v128.load(m + 3 * ms), v128.load(m + 7 * ms)), v128.load(m + 11 * ms));
    const s10 = f32x4.sub(f32x4.sub(v128.load(m + 4 * ms), v128.load(m + 8 * ms)), v128.load(m + 12 * ms));
    const s11 = f32x4.sub(f32x4.sub(v128.load(m + 5 * ms), v128.load(m + 9 * ms)), v128.load(m + 13 * ms));
    const s12 = f32x4.sub(f32x4.sub(v128.load(m + 6 * ms), v128.load(m + 10 * ms)), v128.load(m + 14 * ms));
    const s13 = f32x4.sub(f32x4.sub(v128.load(m + 7 * ms), v128.load(m + 11 * ms)), v128.load(m + 15 * ms));
    const vb = bias != 0 ? v128.load(bias) : f32x4.splat(0);
    const y00 = f32x4.add(f32x4.add(f32x4.add(s00, s01), s02), vb);
    const y01 = f32x4.add(f32x4.sub(f32x4.sub(s01, s02), s03), vb);
    const y10 = f32x4.add(f32x4.add(f32x4.add(s10, s11), s12), vb);
    const y11 = f32x4.add(f32x4.sub(f32x4.sub(s11, s12), s13), vb);
    const rb = <usize>OW << 2;
    storeLanes(y, ys, y00);
    if (cols > 1) storeLanes(y + 4, ys, y01);
    if (rows > 1) {
      storeLanes(y + rb, ys, y10);
      if (cols > 1) storeLanes(y + rb + 4, ys, y11);
    }
  } else {
    for (let l = 0; l < lanes; l++) {
      const ml = m + (<usize>l << 2);
      const s00 = (load<f32>(ml) + load<f32>(ml + 4 * ms)) + load<f32>(ml + 8 * ms);
      const s01 = (load<f32>(ml + ms) + load<f32>(ml + 5 * ms)) + load<f32>(ml + 9 * ms);
      const s02 = (load<f32>(ml + 2 * ms) + load<f32>(ml + 6 * ms)) + load<f32>(ml + 10 * ms);
      const s03 = (load<f32>(ml + 3 * ms) + load<f32>(ml + 7 * ms)) + load<f32>(ml + 11 * ms);
      const s10 = (load<f32>(ml + 4 * ms) - load<f32>(ml + 8 * ms)) - load<f32>(ml + 12 * ms);
      const s11 = (load<f32>(ml + 5 * ms) - load<f32>(ml + 9 * ms)) - load<f32>(ml + 13 * ms);
      const s12 = (load<f32>(ml + 6 * ms) - load<f32>(ml + 10 * ms)) - load<f32>(ml + 14 * ms);
      const s13 = (load<f32>(ml + 7 * ms) - load<f32>(ml + 11 * ms)) - load<f32>(ml + 15 * ms);
      const b: f32 = bias != 0 ? load<f32>(bias + (<usize>l << 2)) : 0;
      const yl = y + <usize>l * ys, rb = <usize>OW << 2;
      store<f32>(yl, ((s00 + s01) + s02) + b);
      if (cols > 1) store<f32>(yl + 4, ((s01 - s02) - s03) + b);
      if (rows > 1) {
        store<f32>(yl + rb, ((s10 + s11) + s12) + b);
        if (cols > 1) store<f32>(yl + rb + 4, ((s11 - s12) - s13) + b);
      }
    }
  }
}

// @ts-ignore: decorator
@inline function storeLanes(p: usize, stride: usize, v: v128): void {
  store<f32>(p, f32x4.extract_lane(v, 0));
  store<f32>(p + stride, f32x4.extract_lane(v, 1));
  store<f32>(p + 2 * stride, f32x4.extract_lane(v, 2));
  store<f32>(p + 3 * stride, f32x4.extract_lane(v, 3));
}

/**
 * The input gradient's back-transform B X B^T of one tile, four channels, added into a block of
 * dxp (channels last: element (r, c) of lane l at dxp + r*rs + c*cs + 4*l). X's coordinate xi of
 * lane l at v + xi*vs + 4*l. With B = (B^T)^T, on rows then columns:
 *   R0 = X0    R1 = (X1 - X2) + X3    R2 = (X1 + X2) - X0    R3 = -X3
 */
function gradInputTransform4(v: usize, vs: usize, dxp: usize, rs: usize, cs: usize, lanes: i32): void {
  if (ASC_FEATURE_SIMD && lanes == 4) {
    for (let c = 0; c < 4; c++) {
      // column c of R = B X: from column c of X (coordinates c, 4 + c, 8 + c, 12 + c)
      const x0 = v128.load(v + <usize>c * vs), x1 = v128.load(v + <usize>(4 + c) * vs);
      const x2 = v128.load(v + <usize>(8 + c) * vs), x3 = v128.load(v + <usize>(12 + c) * vs);
      const r0 = x0, r1 = f32x4.add(f32x4.sub(x1, x2), x3), r2 = f32x4.sub(f32x4.add(x1, x2), x0), r3 = f32x4.neg(x3);
      // R goes back where X was (each tile's dV is read once): the column transform below needs
      // all four columns of a row at once
      store4(v + <usize>c * vs, r0, v + <usize>(4 + c) * vs, r1, v + <usize>(8 + c) * vs, r2, v + <usize>(12 + c) * vs, r3);
    }
    for (let r = 0; r < 4; r++) {
      const o = v + <usize>(4 * r) * vs;
      const c0 = v128.load(o), c1 = v128.load(o + vs), c2 = v128.load(o + 2 * vs), c3 = v128.load(o + 3 * vs);
      const d = dxp + <usize>r * rs;
      addTo(d, c0);
      addTo(d + cs, f32x4.add(f32x4.sub(c1, c2), c3));
      addTo(d + 2 * cs, f32x4.sub(f32x4.add(c1, c2), c0));
      addTo(d + 3 * cs, f32x4.neg(c3));
    }
  } else {
    for (let l = 0; l < lanes; l++) {
      const vl = v + (<usize>l << 2);
      for (let c = 0; c < 4; c++) {
        const p0 = vl + <usize>c * vs, p1 = vl + <usize>(4 + c) * vs, p2 = vl + <usize>(8 + c) * vs, p3 = vl + <usize>(12 + c) * vs;
        const x0 = load<f32>(p0), x1 = load<f32>(p1), x2 = load<f32>(p2), x3 = load<f32>(p3);
        store<f32>(p0, x0);
        store<f32>(p1, (x1 - x2) + x3);
        store<f32>(p2, (x1 + x2) - x0);
        store<f32>(p3, -x3);
      }
      for (let r = 0; r < 4; r++) {
        const o = vl + <usize>(4 * r) * vs;
        const c0 = load<f32>(o), c1 = load<f32>(o + vs), c2 = load<f32>(o + 2 * vs), c3 = load<f32>(o + 3 * vs);
        const d = dxp + <usize>r * rs + (<usize>l << 2);
        store<f32>(d, load<f32>(d) + c0);
        store<f32>(d + cs, load<f32>(d + cs) + ((c1 - c2) + c3));
        store<f32>(d + 2 * cs, load<f32>(d + 2 * cs) + ((c1 + c2) - c0));
        store<f32>(d + 3 * cs, load<f32>(d + 3 * cs) + -c3);
      }
    }
  }
}

// @ts-ignore: decorator
@inline function store4(p0: usize, v0: v128, p1: usize, v1: v128, p2: usize, v2: v128, p3: usize, v3: v128): void {
  v128.store(p0, v0);
  v128.store(p1, v1);
  v128.store(p2, v2);
  v128.store(p3, v3);
}

// @ts-ignore: decorator
@inline function addTo(p: usize, v: v128): void {
  v128.store(p, f32x4.add(v128.load(p), v));
}

/**
 * G^T X G of four channels (lanes) into 3x3 filters: X's coordinate xi of lane l at
 * u + xi*us + 4*l; lane l's 9 taps at dw + l*ws, row-major. On rows then columns:
 *   Q0 = X0 + (X1 + X2)*0.5    Q1 = (X1 - X2)*0.5    Q2 = (X1 + X2)*0.5 + X3
 */
function filterGradTransform4(u: usize, us: usize, dw: usize, ws: usize, lanes: i32): void {
  if (ASC_FEATURE_SIMD && lanes == 4) {
    const h = f32x4.splat(0.5);
    for (let r = 0; r < 3; r++) {
      // row r of Q = G^T X, as its 4 columns
      let q0 = h, q1 = h, q2 = h, q3 = h;
      for (let c = 0; c < 4; c++) {
        const x0 = v128.load(u + <usize>c * us), x1 = v128.load(u + <usize>(4 + c) * us);
        const x2 = v128.load(u + <usize>(8 + c) * us), x3 = v128.load(u + <usize>(12 + c) * us);
        let q: v128;
        if (r == 0) q = f32x4.add(x0, f32x4.mul(f32x4.add(x1, x2), h));
        else if (r == 1) q = f32x4.mul(f32x4.sub(x1, x2), h);
        else q = f32x4.add(f32x4.mul(f32x4.add(x1, x2), h), x3);
        if (c == 0) q0 = q; else if (c == 1) q1 = q; else if (c == 2) q2 = q; else q3 = q;
      }
      const o = dw + <usize>(3 * r) * 4;
      storeLanes(o, ws, f32x4.add(q0, f32x4.mul(f32x4.add(q1, q2), h)));
      storeLanes(o + 4, ws, f32x4.mul(f32x4.sub(q1, q2), h));
      storeLanes(o + 8, ws, f32x4.add(f32x4.mul(f32x4.add(q1, q2), h), q3));
    }
  } else {
    for (let l = 0; l < lanes; l++) {
      const ul = u + (<usize>l << 2);
      for (let r = 0; r < 3; r++) {
        let q0: f32 = 0, q1: f32 = 0, q2: f32 = 0, q3: f32 = 0;
        for (let c = 0; c < 4; c++) {
          const x0 = load<f32>(ul + <usize>c * us), x1 = load<f32>(ul + <usize>(4 + c) * us);
          const x2 = load<f32>(ul + <usize>(8 + c) * us), x3 = load<f32>(ul + <usize>(12 + c) * us);
          let q: f32;
          if (r == 0) q = x0 + (x1 + x2) * 0.5;
          else if (r == 1) q = (x1 - x2) * 0.5;
          else q = (x1 + x2) * 0.5 + x3;
          if (c == 0) q0 = q; else if (c == 1) q1 = q; else if (c == 2) q2 = q; else q3 = q;
        }
        const o = dw + <usize>l * ws + <usize>(3 * r) * 4;
        store<f32>(o, q0 + (q1 + q2) * 0.5);
        store<f32>(o + 4, (q1 - q2) * 0.5);
        store<f32>(o + 8, (q1 + q2) * 0.5 + q3);
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Host-called pieces.

/**
 * U = G g G^T for the filters of one group: w [OCg, Cg, 3, 3] -> u [16][OCg][Cg] (coordinate xi
 * of filter (o, c) at u[(xi*OCg + o)*Cg + c]). On rows then columns:
 *   R0 = g0    R1 = ((g0 + g1) + g2)*0.5    R2 = ((g0 - g1) + g2)*0.5    R3 = g2
 * The host packs each u[xi] as a GEMM B operand (and keeps it until the weights change).
 */
export function winograd_filter_transform(w: usize, OCg: i32, Cg: i32, u: usize): void {
  const xs = <usize>OCg * Cg << 2;
  for (let o = 0; o < OCg; o++) {
    for (let c = 0; c < Cg; c++) {
      const g = w + (<usize>(o * Cg + c) * 9 << 2);
      const out = u + (<usize>(o * Cg + c) << 2);
      for (let r = 0; r < 4; r++) {
        // row r of G g (3 taps)
        let h0: f32, h1: f32, h2: f32;
        if (r == 0 || r == 3) {
          const row = g + <usize>(r == 0 ? 0 : 24);
          h0 = load<f32>(row); h1 = load<f32>(row + 4); h2 = load<f32>(row + 8);
        } else {
          const sign: f32 = r == 1 ? 1 : -1;
          h0 = ((load<f32>(g) + sign * load<f32>(g + 12)) + load<f32>(g + 24)) * 0.5;
          h1 = ((load<f32>(g + 4) + sign * load<f32>(g + 16)) + load<f32>(g + 28)) * 0.5;
          h2 = ((load<f32>(g + 8) + sign * load<f32>(g + 20)) + load<f32>(g + 32)) * 0.5;
        }
        const o4 = out + <usize>(4 * r) * xs;
        store<f32>(o4, h0);
        store<f32>(o4 + xs, ((h0 + h1) + h2) * 0.5);
        store<f32>(o4 + 2 * xs, ((h0 - h1) + h2) * 0.5);
        store<f32>(o4 + 3 * xs, h2);
      }
    }
  }
}

/**
 * Planes [task*per, (task + 1)*per) of src [planes, H, W] copied into dst [planes, PH, PW] with
 * their top-left at (top, left) and zeros around (PH >= top + H, PW >= left + W).
 */
export function pad_planes_task(
  task: i32, scratch: usize, src: usize, planes: i32, H: i32, W: i32, top: i32, left: i32, PH: i32, PW: i32, dst: usize, per: i32,
): void {
  // Plain loops: the planes of AlexNet's 3x3 layers are small (6 or 13 wide), and V8 runs
  // memory.fill and memory.copy as calls, which cost more than such short rows.
  const p0 = task * per, p1 = min(planes, p0 + per);
  const planeFloats = PH * PW;
  for (let p = p0; p < p1; p++) {
    const s = src + (<usize>p * H * W << 2), d = dst + (<usize>p * planeFloats << 2);
    let i = 0;
    if (ASC_FEATURE_SIMD) {
      const z = f32x4.splat(0);
      for (; i + 4 <= planeFloats; i += 4) v128.store(d + (<usize>i << 2), z);
    }
    for (; i < planeFloats; i++) store<f32>(d + (<usize>i << 2), 0);
    for (let h = 0; h < H; h++) {
      const from = s + (<usize>h * W << 2), to = d + (<usize>((top + h) * PW + left) << 2);
      let w = 0;
      if (ASC_FEATURE_SIMD) {
        for (; w + 4 <= W; w += 4) v128.store(to + (<usize>w << 2), v128.load(from + (<usize>w << 2)));
      }
      for (; w < W; w++) store<f32>(to + (<usize>w << 2), load<f32>(from + (<usize>w << 2)));
    }
  }
}

/**
 * One piece of the forward: group g, tiles [t0, t0 + m) of the batch, t0 = chunk*rows
 * (task = chunk*groups + g). Per piece:
 *   V[xi] packed as A ([m, Cg], one micro-panel per 4 tiles; rows past m repeat tile t0 + m - 1)
 *   M[xi] = V[xi] . U[xi]^T                 [m, OCg] row-major
 *   y tile by tile from A^T M A + bias
 *
 *   xp        the input padded by pad_planes_task: [N, C, PH, PW], PH = 2*TH + 2, PW = 2*TW + 2
 *   uPacked   per group, per xi, U[xi] ([OCg, Cg]) packed as B from 'goi': packedBSize(OCg, Cg) floats each
 *   bias      OC floats, or 0
 *   y         [N, OC, OH, OW]
 *   scratch   16*spaced(packedASize(rows, Cg)) + 16*spaced(rows*OCg) floats
 */
export function winograd_forward_task(
  task: i32, scratch: usize,
  xp: usize, N: i32, C: i32, PH: i32, PW: i32, OC: i32, groups: i32, TH: i32, TW: i32, OH: i32, OW: i32,
  uPacked: usize, bias: usize, y: usize, rows: i32,
): void {
  const Cg = C / groups, OCg = OC / groups, Q = TH * TW, T = N * Q;
  const g = task % groups, t0 = (task / groups) * rows;
  const m = min(rows, T - t0);
  const vs = spaced(packedASize(rows, Cg)) << 2; // bytes between the packed V[xi]
  const v = scratch, mb = scratch + <usize>XI * vs;
  const ms = spaced(<usize>rows * OCg) << 2; // bytes between the M[xi]
  const plane = <usize>PH * PW << 2, rs = <usize>PW << 2;

  packTiles(xp, t0, m, Q, TW, C, g * Cg, Cg, plane, rs, v, vs, false);
  // M = V U^T, one product per coordinate
  const ub = packedBSize(OCg, Cg) << 2;
  const ug = uPacked + <usize>g * <usize>XI * ub;
  products(m, OCg, Cg, v, vs, ug, ub, mb, ms, false);
  // y = A^T M A + bias, four channels at a time
  const ys = <usize>OH * OW << 2;
  for (let i = 0; i < m; i++) {
    const t = t0 + i, n = t / Q, q = t % Q, th = q / TW, tw = q % TW;
    const oh = 2 * th, ow = 2 * tw;
    const yt = y + ((<usize>(n * OC + g * OCg) * OH * OW + <usize>(oh * OW + ow)) << 2);
    const rows2 = min(2, OH - oh), cols2 = min(2, OW - ow);
    const mi = mb + (<usize>i * OCg << 2);
    for (let o = 0; o < OCg; o += 4) {
      const lanes = min(4, OCg - o);
      const bo = bias != 0 ? bias + (<usize>(g * OCg + o) << 2) : 0;
      outputTransform4(mi + (<usize>o << 2), ms, bo, yt + <usize>o * ys, ys, OW, rows2, cols2, lanes);
    }
  }
}

/**
 * The 16 packed A operands [m, channels] of a pass over tiles [t0, t0 + m) of padded planes
 * (channels c0.. of Ctot per image), one micro-panel of 4 tiles at a time, channel by channel:
 * V = B^T d B of the input's 4x4 blocks (forward), or dM = A dy A^T of dy's 2x2 blocks
 * (`gradient`, dx). Coordinate xi at out + xi*xs; rows past m repeat tile t0 + m - 1 (pack.ts).
 */
function packTiles(
  src: usize, t0: i32, m: i32, Q: i32, TW: i32, Ctot: i32, c0: i32, channels: i32, plane: usize, rs: usize,
  out: usize, xs: usize, gradient: bool,
): void {
  const mp = (m + 3) & ~3;
  for (let i0 = 0; i0 < mp; i0 += 4) {
    const b0 = tileBase(src, t0 + min(i0, m - 1), Q, TW, Ctot, c0, plane, rs);
    const b1 = tileBase(src, t0 + min(i0 + 1, m - 1), Q, TW, Ctot, c0, plane, rs);
    const b2 = tileBase(src, t0 + min(i0 + 2, m - 1), Q, TW, Ctot, c0, plane, rs);
    const b3 = tileBase(src, t0 + min(i0 + 3, m - 1), Q, TW, Ctot, c0, plane, rs);
    for (let c = 0; c < channels; c++) {
      const off = <usize>c * plane, o = out + aOffset(i0, c, mp, channels);
      if (gradient) gradOutTransform4(b0 + off, b1 + off, b2 + off, b3 + off, rs, o, xs);
      else inputTransform4(b0 + off, b1 + off, b2 + off, b3 + off, rs, o, xs);
    }
  }
}

/**
 * The 16 products of a pass, one per coordinate xi: C[xi] = A[xi] . B[xi] ([m, n], row-major with
 * rows of n floats), or C[xi] += with `accumulate`. A[xi] is packed at a + xi*as, B[xi] at
 * b + xi*bs, C[xi] at c + xi*cs (bytes).
 */
function products(m: i32, n: i32, k: i32, a: usize, as: usize, b: usize, bs: usize, c: usize, cs: usize, accumulate: bool): void {
  for (let xi = 0; xi < XI; xi++) {
    gemmRange(m, n, k, a + <usize>xi * as, b + <usize>xi * bs, c + <usize>xi * cs, n, false, 0, false, accumulate, false, 0, m, 0, n);
  }
}

/**
 * Address of the top-left of tile t's block in channel c0 of padded planes (the input's 4x4 block,
 * or dy's 2x2): planes `plane` bytes apart, rows `rs` bytes apart, tiles 2 rows and columns apart.
 */
// @ts-ignore: decorator
@inline function tileBase(xp: usize, t: i32, Q: i32, TW: i32, C: i32, c0: i32, plane: usize, rs: usize): usize {
  const n = t / Q, q = t % Q, th = q / TW, tw = q % TW;
  return xp + <usize>(n * C + c0) * plane + <usize>(2 * th) * rs + (<usize>(2 * tw) << 2);
}

/**
 * One piece of the input gradient: group g, images [n0, n1), n0 = chunk*images
 * (task = chunk*groups + g). With mt = (n1 - n0)*TH*TW tiles:
 *   dM[xi] = (A dy A^T)[xi] packed as A     [mt, OCg]
 *   dV[xi] = dM[xi] . U[xi]                  [mt, Cg] row-major
 *   dxp   += B dV B^T tile by tile, in tile order, into zeroed padded planes (channels last)
 *   dx[n, g*Cg + c] = dxp cropped at (pad, pad)
 *
 *   dyp       dy padded to [N, OC, 2*TH, 2*TW] (dy itself when OH and OW are even)
 *   uPackedT  per group, per xi, U[xi] ([OCg, Cg]) packed as B from 'gio': packedBSize(Cg, OCg) floats each
 *   dx        [N, C, H, W]; the piece overwrites its images and group
 *   scratch   16*spaced(packedASize(images*Q, OCg)) + 16*spaced(images*Q*Cg) + images*PH*PW*Cg floats
 */
export function winograd_backward_data_task(
  task: i32, scratch: usize,
  dyp: usize, N: i32, C: i32, H: i32, W: i32, pad: i32, OC: i32, groups: i32, TH: i32, TW: i32,
  uPackedT: usize, dx: usize, images: i32,
): void {
  const Cg = C / groups, OCg = OC / groups, Q = TH * TW;
  const g = task % groups, n0 = (task / groups) * images, n1 = min(N, n0 + images);
  const mt = (n1 - n0) * Q;
  const PH = 2 * TH + 2, PW = 2 * TW + 2;
  const as = spaced(packedASize(images * Q, OCg)) << 2;
  const vs = spaced(<usize>images * Q * Cg) << 2;
  const a = scratch, dv = a + <usize>XI * as, dxp = dv + <usize>XI * vs;
  const dyPlane = <usize>(4 * Q) << 2, dyRow = <usize>(2 * TW) << 2;

  packTiles(dyp, n0 * Q, mt, Q, TW, OC, g * OCg, OCg, dyPlane, dyRow, a, as, true);
  // dV = dM U
  const ub = packedBSize(Cg, OCg) << 2;
  const ug = uPackedT + <usize>g * <usize>XI * ub;
  products(mt, Cg, OCg, a, as, ug, ub, dv, vs, false);
  // overlap-add B dV B^T into the padded planes, channels last
  const cs = <usize>Cg << 2, prs = <usize>PW * cs, img = <usize>PH * prs;
  memory.fill(dxp, 0, <usize>(n1 - n0) * img);
  for (let i = 0; i < mt; i++) {
    const li = i / Q, q = i % Q, th = q / TW, tw = q % TW;
    const block = dxp + <usize>li * img + <usize>(2 * th) * prs + <usize>(2 * tw) * cs;
    const vi = dv + (<usize>i * Cg << 2);
    for (let c = 0; c < Cg; c += 4) {
      gradInputTransform4(vi + (<usize>c << 2), vs, block + (<usize>c << 2), prs, cs, min(4, Cg - c));
    }
  }
  // crop: dx[n, g*Cg + c, h, w] = dxp[n - n0][pad + h][pad + w][c]
  for (let n = n0; n < n1; n++) {
    const src = dxp + <usize>(n - n0) * img;
    for (let c = 0; c < Cg; c++) {
      const out = dx + (<usize>(n * C + g * Cg + c) * H * W << 2);
      for (let h = 0; h < H; h++) {
        const s = src + <usize>(pad + h) * prs + <usize>pad * cs + (<usize>c << 2);
        const d = out + (<usize>h * W << 2);
        for (let w = 0; w < W; w++) store<f32>(d + (<usize>w << 2), load<f32>(s + <usize>w * cs));
      }
    }
  }
}

/**
 * One piece of the weight gradient: group g, images [n0, n1) of one chunk (task = chunk*groups + g,
 * n0 = chunk*imagesPerChunk), `span` images (S = span*Q tiles) per product:
 *   dM[xi]^T packed as A  [OCg, S]    (rows past OCg repeat the last channel)
 *   V[xi]    packed as B  [S, Cg]     (columns past Cg zero)
 *   partial[xi] (+)= dM[xi]^T . V[xi]  [OCg, Cg], the first span overwriting, the next adding
 *
 *   xp, dyp   as for the forward and dx
 *   partials  [chunks][groups][16][OCg][Cg]; the host adds the chunks in chunk order, then
 *             winograd_filter_grad_task makes dw
 *   scratch   16*spaced(packedASize(OCg, S)) + 16*spaced(packedBSize(Cg, S)) + align16(PH*PW) floats
 */
export function winograd_backward_filter_task(
  task: i32, scratch: usize,
  xp: usize, dyp: usize, N: i32, C: i32, OC: i32, groups: i32, TH: i32, TW: i32,
  imagesPerChunk: i32, span: i32, partials: usize,
): void {
  const Cg = C / groups, OCg = OC / groups, Q = TH * TW;
  const PH = 2 * TH + 2, PW = 2 * TW + 2;
  const g = task % groups, chunk = task / groups;
  const n0 = chunk * imagesPerChunk, n1 = min(N, n0 + imagesPerChunk);
  const S = span * Q;
  const as = spaced(packedASize(OCg, S)) << 2, bs = spaced(packedBSize(Cg, S)) << 2;
  const a = scratch, b = a + <usize>XI * as, zero = b + <usize>XI * bs;
  const plane = <usize>PH * PW << 2, rs = <usize>PW << 2;
  const dyPlane = <usize>(4 * Q) << 2, dyRow = <usize>(2 * TW) << 2;
  memory.fill(zero, 0, plane);
  const ocp = (OCg + 3) & ~3, cgp = (Cg + 7) & ~7;
  const out = partials + (<usize>(chunk * groups + g) * XI * OCg * Cg << 2);
  const xs = <usize>OCg * Cg << 2;
  for (let s0 = n0; s0 < n1; s0 += span) {
    const s1 = min(n1, s0 + span);
    const K = (s1 - s0) * Q;
    for (let k = 0; k < K; k++) {
      const n = s0 + k / Q, q = k % Q, th = q / TW, tw = q % TW;
      // dM^T: four output channels (rows of A) per call
      const dt = dyp + <usize>(n * OC + g * OCg) * dyPlane + <usize>(2 * th) * dyRow + (<usize>(2 * tw) << 2);
      for (let o = 0; o < ocp; o += 4) {
        gradOutTransform4(
          dt + <usize>min(o, OCg - 1) * dyPlane, dt + <usize>min(o + 1, OCg - 1) * dyPlane,
          dt + <usize>min(o + 2, OCg - 1) * dyPlane, dt + <usize>min(o + 3, OCg - 1) * dyPlane,
          dyRow, a + aOffset(o, k, ocp, K), as,
        );
      }
      // V: four input channels (columns of B) per call; past Cg, the zero plane
      const xt = xp + <usize>(n * C + g * Cg) * plane + <usize>(2 * th) * rs + (<usize>(2 * tw) << 2);
      for (let c = 0; c < cgp; c += 4) {
        inputTransform4(
          c < Cg ? xt + <usize>c * plane : zero, c + 1 < Cg ? xt + <usize>(c + 1) * plane : zero,
          c + 2 < Cg ? xt + <usize>(c + 2) * plane : zero, c + 3 < Cg ? xt + <usize>(c + 3) * plane : zero,
          rs, b + bOffset(k, c, cgp, K), bs,
        );
      }
    }
    products(OCg, Cg, K, a, as, b, bs, out, xs, s0 != n0);
  }
}

/**
 * dw = G^T dU G for output channels [task*per, (task + 1)*per): dU [groups][16][OCg][Cg] (the
 * chunks' partials already added), dw [OC, Cg, 3, 3].
 */
export function winograd_filter_grad_task(task: i32, scratch: usize, du: usize, OC: i32, Cg: i32, groups: i32, dw: usize, per: i32): void {
  const OCg = OC / groups;
  const o0 = task * per, o1 = min(OC, o0 + per);
  const us = <usize>OCg * Cg << 2;
  for (let o = o0; o < o1; o++) {
    const g = o / OCg, og = o % OCg;
    const u = du + ((<usize>g * XI * OCg * Cg + <usize>og * Cg) << 2);
    const out = dw + (<usize>o * Cg * 9 << 2);
    for (let c = 0; c < Cg; c += 4) {
      filterGradTransform4(u + (<usize>c << 2), us, out + (<usize>c * 9 << 2), 36, min(4, Cg - c));
    }
  }
}
