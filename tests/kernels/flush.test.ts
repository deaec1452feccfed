/**
 * flush_subnormals (assembly/flush.ts) in every build: each value below the smallest normal float
 * (2^-126) in magnitude becomes a zero of the same sign; zeros, normals (the smallest included),
 * infinities and NaNs keep their bits; nothing past the n floats is touched, whatever n mod 4.
 * has_subnormals: true exactly when one of the n floats is subnormal, wherever it is (vector body
 * or tail), whatever lies past them.
 */

import { describe, it } from 'vitest';
import fc from 'fast-check';
import { RUNNABLE_BUILDS, fcParams, kernelsFor } from './harness.js';

const MIN_NORMAL = 2 ** -126;

/** Interesting float32 bit patterns: both zeros, both ends of the subnormals and normals, specials. */
const EDGE_BITS = [
  0x00000000, 0x80000000, // +-0
  0x00000001, 0x80000001, // +-2^-149, the smallest subnormal
  0x007fffff, 0x807fffff, // the largest subnormal
  0x00800000, 0x80800000, // +-2^-126, the smallest normal: kept
  0x3f800000, 0xc2c80000, // 1, -100
  0x7f800000, 0xff800000, // +-Infinity
  0x7fc00000, 0x7f800001, // NaNs (quiet, signalling)
];

const bitsArb = fc.oneof(
  fc.constantFrom(...EDGE_BITS),
  fc.integer({ min: 0, max: 0x007fffff }).chain((m) => fc.constantFrom(m, (m | 0x80000000) >>> 0)), // subnormals
  fc.integer({ min: 0, max: 0xffffffff }), // anything
);

/** Bit patterns that are not subnormal: zeros, normals, infinities, NaNs. */
const notSubnormalArb = fc.oneof(
  fc.constantFrom(0x00000000, 0x80000000, 0x00800000, 0x80800000, 0x3f800000, 0x7f800000, 0xff800000, 0x7fc00000),
  fc.integer({ min: 0x00800000, max: 0xffffffff }).filter((b) => (b & 0x7fffffff) >= 0x00800000),
);

const isSubnormal = (bits: number): boolean => (bits & 0x7fffffff) !== 0 && (bits & 0x7fffffff) < 0x00800000;

function flushed(bits: number): number {
  return (bits & 0x7fffffff) < 0x00800000 ? (bits & 0x80000000) >>> 0 : bits;
}

for (const build of RUNNABLE_BUILDS) {
  describe(`${build}: flush_subnormals`, () => {
    const { kernels, alloc } = kernelsFor(build);

    it('zeroes subnormals keeping the sign, keeps every other value, writes nothing past n', () => {
      fc.assert(
        fc.property(fc.array(bitsArb, { maxLength: 41 }), fc.integer({ min: 0, max: 3 }), (bits, offset) => {
          const guard = 5;
          const input = new Uint32Array(offset + bits.length + guard).fill(0x00000001); // subnormal guards
          input.set(bits, offset);
          const mark = alloc.mark();
          const ptr = alloc.allocFrom(new Float32Array(input.buffer));
          // an unaligned start too: offset floats into the region
          kernels.flushSubnormals(ptr + 4 * offset, bits.length);
          // compared as bits (slice copies bytes; reading floats into JS numbers could quieten NaNs)
          const got = new Uint32Array(alloc.f32(ptr, input.length).slice().buffer);
          alloc.reset(mark);
          const want = Uint32Array.from(input, (b, i) => (i >= offset && i < offset + bits.length ? flushed(b) : b));
          for (let i = 0; i < got.length; i++) {
            if (got[i] !== want[i]) throw new Error(`n ${bits.length}, offset ${offset}: float ${i} has bits ${got[i].toString(16)}, expected ${want[i].toString(16)}`);
          }
        }),
        fcParams(300),
      );
    });

    it('has_subnormals finds one subnormal anywhere in the n floats and nothing past them', () => {
      fc.assert(
        fc.property(
          fc.array(notSubnormalArb, { maxLength: 70 }),
          fc.option(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 0x007fffff }), fc.boolean()), { nil: undefined }),
          (bits, inject) => {
            if (inject && bits.length > 0) bits[inject[0] % bits.length] = inject[2] ? (inject[1] | 0x80000000) >>> 0 : inject[1];
            const input = new Uint32Array([...bits, 0x00000001, 0x80000001]); // subnormals past n
            const mark = alloc.mark();
            const ptr = alloc.allocFrom(new Float32Array(input.buffer));
            const got = kernels.hasSubnormals(ptr, bits.length);
            alloc.reset(mark);
            const want = bits.some(isSubnormal);
            if (got !== want) throw new Error(`n ${bits.length}: got ${got}, expected ${want}`);
          },
        ),
        fcParams(300),
      );
    });

    it('the threshold is the smallest normal, 2^-126', () => {
      const values = new Float32Array([MIN_NORMAL, MIN_NORMAL * (1 - 2 ** -23), -MIN_NORMAL, -MIN_NORMAL / 2]);
      const mark = alloc.mark();
      const ptr = alloc.allocFrom(values);
      kernels.flushSubnormals(ptr, 4);
      const got = Array.from(alloc.f32(ptr, 4));
      alloc.reset(mark);
      const want = [MIN_NORMAL, 0, -MIN_NORMAL, -0];
      for (let i = 0; i < 4; i++) if (!Object.is(got[i], want[i])) throw new Error(`value ${i}: got ${got[i]}, expected ${want[i]}`);
    });
  });
}
