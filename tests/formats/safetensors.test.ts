import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { UserError, inFile } from '../../src/errors.js';
import {
  type SafetensorsDtype,
  type StoredTensor,
  fromFloatTensor,
  parseSafetensors,
  toFloatTensor,
  writeSafetensors,
} from '../../src/formats/safetensors.js';
import { expectUserError } from '../helpers/formats.js';

const bytesOf = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
const utf8 = (s: string) => new TextEncoder().encode(s);
const u64 = (n: number | bigint) => {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt(n), true);
  return b;
};
const concat = (...parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
};

/** A safetensors file built by hand: u64 header size, the header exactly as given, the data. */
const stFile = (header: string, data: Uint8Array = new Uint8Array(0)) => concat(u64(utf8(header).length), utf8(header), data);


// 0, 1, 2, 3, 4, 5 as IEEE 754 binary32, little-endian: the bytes of 0x00000000, 0x3f800000,
// 0x40000000, 0x40400000, 0x40800000, 0x40a00000.
const F32_0_TO_5 = Uint8Array.of(0, 0, 0, 0, 0, 0, 0x80, 0x3f, 0, 0, 0, 0x40, 0, 0, 0x40, 0x40, 0, 0, 0x80, 0x40, 0, 0, 0xa0, 0x40);

describe('safetensors: known bytes', () => {
  it('one F32 tensor whose compact header is already 64 bytes: no padding', () => {
    const header = '{"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}}';
    expect(header.length).toBe(64);
    const expected = concat(Uint8Array.of(64, 0, 0, 0, 0, 0, 0, 0), utf8(header), F32_0_TO_5);

    const t: StoredTensor = { dtype: 'F32', shape: [1, 2, 3], data: Float32Array.of(0, 1, 2, 3, 4, 5) };
    expect(writeSafetensors([['attn.0', t]])).toEqual(expected);
    const back = parseSafetensors(expected);
    expect([...back.tensors]).toEqual([['attn.0', t]]);
    expect(back.metadata).toEqual({});
  });

  it('a 65-byte header is padded with 7 spaces to 72', () => {
    const header = '{"attn0":{"dtype":"F32","shape":[1,1,2,3],"data_offsets":[0,24]}}';
    expect(header.length).toBe(65);
    const expected = concat(Uint8Array.of(72, 0, 0, 0, 0, 0, 0, 0), utf8(header + '       '), F32_0_TO_5);
    const out = writeSafetensors([['attn0', { dtype: 'F32', shape: [1, 1, 2, 3], data: Float32Array.of(0, 1, 2, 3, 4, 5) }]]);
    expect(out).toEqual(expected);
    expect(parseSafetensors(expected).tensors.get('attn0')!.data).toEqual(Float32Array.of(0, 1, 2, 3, 4, 5));
  });

  it('no tensors: "{}" and six spaces; metadata only: __metadata__ and five spaces', () => {
    expect(writeSafetensors([])).toEqual(concat(u64(8), utf8('{}      ')));
    const withMeta = concat(u64(40), utf8('{"__metadata__":{"framework":"pt"}}     '));
    expect(writeSafetensors([], { framework: 'pt' })).toEqual(withMeta);
    expect(parseSafetensors(withMeta)).toEqual({ tensors: new Map(), metadata: { framework: 'pt' } });
  });

  it('every dtype, in the order given (even names a JS object would reorder), metadata first', () => {
    const header =
      '{"__metadata__":{"format":"pt","note":"é\\"q"},' +
      '"z":{"dtype":"U8","shape":[3],"data_offsets":[0,3]},' +
      '"10":{"dtype":"I64","shape":[1],"data_offsets":[3,11]},' +
      '"a":{"dtype":"I32","shape":[2],"data_offsets":[11,19]},' +
      '"2":{"dtype":"F64","shape":[],"data_offsets":[19,27]},' +
      '"empty":{"dtype":"F32","shape":[0,4],"data_offsets":[27,27]}}';
    const data = concat(
      Uint8Array.of(1, 2, 255),
      Uint8Array.of(0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff), // -2n
      Uint8Array.of(0, 0, 0, 0x80, 7, 0, 0, 0), // -2^31, 7
      Uint8Array.of(0, 0, 0, 0, 0, 0, 0xf8, 0x3f), // 1.5
    );
    const padded = header + ' '.repeat((8 - (utf8(header).length % 8)) % 8);
    const expected = concat(u64(utf8(padded).length), utf8(padded), data);

    const tensors: [string, StoredTensor][] = [
      ['z', { dtype: 'U8', shape: [3], data: Uint8Array.of(1, 2, 255) }],
      ['10', { dtype: 'I64', shape: [1], data: BigInt64Array.of(-2n) }],
      ['a', { dtype: 'I32', shape: [2], data: Int32Array.of(-(2 ** 31), 7) }],
      ['2', { dtype: 'F64', shape: [], data: Float64Array.of(1.5) }],
      ['empty', { dtype: 'F32', shape: [0, 4], data: new Float32Array(0) }],
    ];
    const metadata = { format: 'pt', note: 'é"q' };
    expect(writeSafetensors(tensors, metadata)).toEqual(expected);
    const back = parseSafetensors(expected);
    expect([...back.tensors]).toEqual(tensors);
    expect(back.metadata).toEqual(metadata);
  });

  it('"__proto__" is an ordinary name, for a tensor and for a metadata key', () => {
    const file = stFile('{"__metadata__":{"__proto__":"x"},"__proto__":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}', Uint8Array.of(9));
    const back = parseSafetensors(file);
    expect(Object.keys(back.metadata)).toEqual(['__proto__']);
    expect(Object.getOwnPropertyDescriptor(back.metadata, '__proto__')?.value).toBe('x');
    expect(back.tensors.get('__proto__')!.data).toEqual(Uint8Array.of(9));
    const again = parseSafetensors(writeSafetensors(back.tensors, back.metadata));
    expect(Object.getOwnPropertyDescriptor(again.metadata, '__proto__')?.value).toBe('x');
  });

  it('reads tensors listed in any order in the header, returning them in data order', () => {
    const file = stFile(
      '{"b":{"dtype":"U8","shape":[1],"data_offsets":[1,2]},"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}',
      Uint8Array.of(10, 20),
    );
    expect([...parseSafetensors(file).tensors].map(([k, t]) => [k, t.data[0]])).toEqual([['a', 10], ['b', 20]]);
  });
});

describe('safetensors: copies', () => {
  const file = writeSafetensors([
    ['u8', { dtype: 'U8', shape: [3], data: Uint8Array.of(1, 2, 3) }],
    ['f64', { dtype: 'F64', shape: [2], data: Float64Array.of(0.5, -0) }],
    ['i32', { dtype: 'I32', shape: [1], data: Int32Array.of(-9) }],
  ]);

  it('aligned tensors are views on the file bytes, unaligned ones are aligned copies', () => {
    const parsed = parseSafetensors(file);
    const u8 = parsed.tensors.get('u8')!.data;
    const f64 = parsed.tensors.get('f64')!.data;
    const i32 = parsed.tensors.get('i32')!.data;
    // Header padded to 8, so the data buffer starts aligned: u8 at 0, f64 at 3 (copied), i32 at 19 (copied).
    expect(u8.buffer).toBe(file.buffer);
    expect(f64.buffer).not.toBe(file.buffer);
    expect(i32.buffer).not.toBe(file.buffer);
    expect(f64).toEqual(Float64Array.of(0.5, -0));
    expect(Object.is(f64[1], -0)).toBe(true);
    expect(i32).toEqual(Int32Array.of(-9));
  });

  it('a file whose buffer starts aligned keeps F32/F64/I32/I64 as views', () => {
    const aligned = writeSafetensors([
      ['f64', { dtype: 'F64', shape: [2], data: Float64Array.of(0.5, -0) }],
      ['i64', { dtype: 'I64', shape: [1], data: BigInt64Array.of(-3n) }],
      ['f32', { dtype: 'F32', shape: [1], data: Float32Array.of(2) }],
      ['i32', { dtype: 'I32', shape: [1], data: Int32Array.of(-9) }],
    ]);
    for (const t of parseSafetensors(aligned).tensors.values()) expect(t.data.buffer).toBe(aligned.buffer);
  });

  it('the same file at an odd offset of a larger buffer: everything but U8 is copied, values unchanged', () => {
    const big = new Uint8Array(file.length + 1);
    big.set(file, 1);
    const parsed = parseSafetensors(big.subarray(1));
    expect(parsed.tensors.get('u8')!.data).toEqual(Uint8Array.of(1, 2, 3));
    expect(parsed.tensors.get('f64')!.data).toEqual(Float64Array.of(0.5, -0));
    expect(parsed.tensors.get('i32')!.data).toEqual(Int32Array.of(-9));
  });
});

describe('safetensors: round trips', () => {
  const ITEMSIZE: Record<SafetensorsDtype, number> = { F32: 4, F64: 8, I32: 4, I64: 8, U8: 1 };
  const make = (dtype: SafetensorsDtype, bytes: Uint8Array): StoredTensor['data'] => {
    const buf = bytes.slice().buffer;
    const n = bytes.length / ITEMSIZE[dtype];
    switch (dtype) {
      case 'F32': return new Float32Array(buf, 0, n);
      case 'F64': return new Float64Array(buf, 0, n);
      case 'I32': return new Int32Array(buf, 0, n);
      case 'I64': return new BigInt64Array(buf, 0, n);
      case 'U8': return new Uint8Array(buf, 0, n);
    }
  };

  // Random bytes reach every bit pattern: NaNs with payloads, signalling NaNs, -0, subnormals.
  const tensor = fc
    .record({
      dtype: fc.constantFrom<SafetensorsDtype>('F32', 'F64', 'I32', 'I64', 'U8'),
      shape: fc.array(fc.integer({ min: 0, max: 5 }), { maxLength: 4 }),
    })
    .chain(({ dtype, shape }) => {
      const n = shape.reduce((a, d) => a * d, 1) * ITEMSIZE[dtype];
      return fc.uint8Array({ minLength: n, maxLength: n }).map((bytes) => ({ dtype, shape, bytes }));
    });
  const names = fc.uniqueArray(fc.string({ maxLength: 12 }).filter((s) => s !== '__metadata__'), { maxLength: 6 });
  const metadata = fc.option(fc.dictionary(fc.string({ maxLength: 8 }).filter((k) => k !== '__proto__'), fc.string()), { nil: undefined });

  it('parseSafetensors(writeSafetensors(x)) gives the same names, order, dtypes, shapes and bits', () => {
    fc.assert(
      fc.property(
        names.chain((ns) => fc.tuple(fc.constant(ns), fc.array(tensor, { minLength: ns.length, maxLength: ns.length }))),
        metadata,
        ([ns, ts], meta) => {
          const input = ns.map((n, i) => [n, { dtype: ts[i].dtype, shape: ts[i].shape, data: make(ts[i].dtype, ts[i].bytes) }] as const);
          const file = writeSafetensors(input, meta);
          const N = Number(new DataView(file.buffer).getBigUint64(0, true));
          expect(N % 8).toBe(0);
          expect(file.length).toBe(8 + N + ts.reduce((a, t) => a + t.bytes.length, 0));

          const back = parseSafetensors(file);
          expect(back.metadata).toEqual(meta ?? {});
          // Data order is write order, except that empty tensors share an offset with their
          // neighbours; compare those by name only.
          const got = [...back.tensors];
          expect(got.filter(([, t]) => t.data.length > 0).map(([k]) => k)).toEqual(
            input.filter(([, t]) => t.data.length > 0).map(([k]) => k),
          );
          expect(got.length).toBe(input.length);
          for (const [name, t] of input) {
            const b = back.tensors.get(name)!;
            expect(b.dtype).toBe(t.dtype);
            expect(b.shape).toEqual(t.shape);
            expect(bytesOf(b.data)).toEqual(bytesOf(t.data));
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  it('special float values survive bit for bit', () => {
    const bits = Uint32Array.of(0x80000000, 0x7fc00000, 0x7fc12345, 0xffc00001, 0x7f800001, 0x7f800000, 0xff800000, 0x00000001);
    const back = parseSafetensors(writeSafetensors([['x', { dtype: 'F32', shape: [8], data: new Float32Array(bits.buffer) }]]));
    const x = back.tensors.get('x')!.data;
    expect(new Uint32Array(x.buffer, x.byteOffset, 8)).toEqual(bits);
  });

  it('writeSafetensors refuses bad input from the caller with plain Errors', () => {
    const f = (data: StoredTensor['data'], dtype: SafetensorsDtype = 'F32', shape = [2]): StoredTensor => ({ dtype, shape, data });
    const cases: [Iterable<readonly [string, StoredTensor]>, RegExp][] = [
      [[['x', f(new Float64Array(2))]], /tensor "x" is F32 but its data is a Float64Array/],
      [[['x', f(new Float32Array(3))]], /tensor "x" has shape \[2\] but 3 elements/],
      [[['x', f(new Float32Array(2), 'F32', [-1, -2])]], /tensor "x" has shape \[-1, -2\] but 2 elements/],
      [[['x', f(new Float32Array(2))], ['x', f(new Float32Array(2))]], /tensor "x" given twice/],
      [[['__metadata__', f(new Float32Array(2))]], /"__metadata__" is reserved/],
    ];
    for (const [input, message] of cases) {
      let thrown: unknown;
      try {
        writeSafetensors(input);
      } catch (e) {
        thrown = e;
      }
      expect(thrown).toBeInstanceOf(Error);
      expect(thrown).not.toBeInstanceOf(UserError);
      expect((thrown as Error).message).toMatch(message);
    }
  });
});

describe('safetensors: float tensors', () => {
  it('toFloatTensor shares F32 and F64 data and refuses integer tensors', () => {
    const data = Float32Array.of(1, 2);
    const t = toFloatTensor({ dtype: 'F32', shape: [2, 1], data }, 'w');
    expect(t.data).toBe(data);
    expect(t.shape).toEqual([2, 1]);
    expect(toFloatTensor({ dtype: 'F64', shape: [], data: Float64Array.of(3) }, 'w').data).toEqual(Float64Array.of(3));
    expectUserError(() => toFloatTensor({ dtype: 'I64', shape: [1], data: BigInt64Array.of(1n) }, 'step'), 'tensor "step" is I64, expected a float tensor');
    expectUserError(() => toFloatTensor({ dtype: 'U8', shape: [1], data: Uint8Array.of(1) }, 'mask'), 'tensor "mask" is U8, expected a float tensor');
  });

  it('fromFloatTensor picks F32 or F64 from the array type and round-trips through a file', () => {
    const w = { data: Float32Array.of(1, -2, 3, -4), shape: [2, 2] };
    const d = { data: Float64Array.of(0.1), shape: [1] };
    expect(fromFloatTensor(w)).toEqual({ dtype: 'F32', shape: [2, 2], data: w.data });
    expect(fromFloatTensor(d).dtype).toBe('F64');
    const back = parseSafetensors(writeSafetensors([['w', fromFloatTensor(w)], ['d', fromFloatTensor(d)]]));
    expect(toFloatTensor(back.tensors.get('w')!, 'w')).toEqual(w);
    expect(toFloatTensor(back.tensors.get('d')!, 'd')).toEqual(d);
  });
});

describe('safetensors: bad input', () => {
  const x24 = (offsets: string, dtype = 'F32', shape = '[2,3]') => `{"x":{"dtype":"${dtype}","shape":${shape},"data_offsets":${offsets}}}`;

  it('too short for the header size', () => {
    expectUserError(() => parseSafetensors(new Uint8Array(0)), 'not a safetensors file: 0 bytes, too short for the 8-byte header size');
    expectUserError(() => parseSafetensors(Uint8Array.of(1, 2, 3, 4, 5)), 'not a safetensors file: 5 bytes, too short for the 8-byte header size');
  });

  it('header size over 100 MB, or past the end of the file', () => {
    expectUserError(() => parseSafetensors(u64(100_000_001)), 'header size 100000001 is over the 100 MB limit (not a safetensors file?)');
    expectUserError(() => parseSafetensors(u64(2n ** 64n - 1n)), 'header size 18446744073709551615 is over the 100 MB limit (not a safetensors file?)');
    // A .npy file is not a safetensors file: its first 8 bytes read as a huge size.
    const npy = Uint8Array.of(0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, 0x76, 0, 0x7b);
    expectUserError(() => parseSafetensors(npy), /^header size \d+ is over the 100 MB limit/);
    expectUserError(() => parseSafetensors(concat(u64(100), utf8('{}'))), 'header size 100 runs past the end of the file (10 bytes)');
  });

  it('a truncated file: the last tensor runs past the end', () => {
    const file = writeSafetensors([['x', { dtype: 'F32', shape: [2, 3], data: new Float32Array(6) }]]);
    expectUserError(() => parseSafetensors(file.subarray(0, file.length - 4)), 'tensor "x" has data_offsets [0, 24] but the data buffer has 20 bytes');
    expectUserError(() => parseSafetensors(file.subarray(0, 20)), /^header size \d+ runs past the end of the file \(20 bytes\)$/);
  });

  it('headers that are not UTF-8 JSON objects', () => {
    expectUserError(() => parseSafetensors(concat(u64(2), Uint8Array.of(0x7b, 0xff))), 'header is not valid UTF-8');
    expectUserError(() => parseSafetensors(stFile('{"x": ')), /^header is not valid JSON: /);
    expectUserError(() => parseSafetensors(stFile('[1, 2]')), 'header is not a JSON object');
    expectUserError(() => parseSafetensors(stFile('null')), 'header is not a JSON object');
  });

  it('unsupported or missing dtypes, named', () => {
    for (const dtype of ['F16', 'BF16', 'I8', 'U64', 'BOOL', 'float32']) {
      expectUserError(
        () => parseSafetensors(stFile(x24('[0,12]', dtype), new Uint8Array(12))),
        `tensor "x" is ${dtype}; only F32, F64, I32, I64, U8 are supported`,
      );
    }
    expectUserError(() => parseSafetensors(stFile('{"x":{"shape":[1],"data_offsets":[0,4]}}', new Uint8Array(4))), 'tensor "x" has no dtype');
    expectUserError(() => parseSafetensors(stFile('{"x":[1,2]}')), 'tensor "x" is described by a list, not an object');
    expectUserError(() => parseSafetensors(stFile('{"x":"F32"}')), 'tensor "x" is described by a string, not an object');
  });

  it('shapes that are not lists of non-negative integers', () => {
    for (const shape of ['[2,-3]', '[2.5]', '"2,3"', '[1e300]', '[null]']) {
      expectUserError(
        () => parseSafetensors(stFile(x24('[0,24]', 'F32', shape), new Uint8Array(24))),
        `tensor "x" has shape ${JSON.stringify(JSON.parse(shape))}; expected a list of non-negative integers`,
      );
    }
  });

  it('offsets malformed, out of range, or not matching the shape', () => {
    const data = new Uint8Array(24);
    expectUserError(() => parseSafetensors(stFile(x24('[0]'), data)), 'tensor "x" has data_offsets [0]; expected [begin, end]');
    expectUserError(() => parseSafetensors(stFile(x24('[0,-24]'), data)), 'tensor "x" has data_offsets [0,-24]; expected [begin, end]');
    expectUserError(() => parseSafetensors(stFile(x24('[24,0]'), data)), 'tensor "x" has data_offsets [24, 0]: end before begin');
    expectUserError(() => parseSafetensors(stFile(x24('[0,400]'), data)), 'tensor "x" has data_offsets [0, 400] but the data buffer has 24 bytes');
    expectUserError(
      () => parseSafetensors(stFile(x24('[0,20]'), data)),
      'tensor "x" is F32 [2, 3] (24 bytes) but data_offsets [0, 20] span 20 bytes',
    );
    expectUserError(
      () => parseSafetensors(stFile(x24('[0,24]', 'F64'), data)),
      'tensor "x" is F64 [2, 3] (48 bytes) but data_offsets [0, 24] span 24 bytes',
    );
  });

  it('overlapping tensors', () => {
    const header =
      '{"a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},' +
      '"b":{"dtype":"F32","shape":[2,2],"data_offsets":[16,32]}}';
    expectUserError(() => parseSafetensors(stFile(header, new Uint8Array(32))), 'tensors "a" and "b" overlap in the data buffer (bytes 0..24 and 16..32)');
    // Two names for the same bytes.
    const alias =
      '{"w":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},' +
      '"w2":{"dtype":"U8","shape":[4],"data_offsets":[0,4]}}';
    expectUserError(() => parseSafetensors(stFile(alias, new Uint8Array(4))), 'tensors "w" and "w2" overlap in the data buffer (bytes 0..4 and 0..4)');
    // An empty tensor placed inside another's bytes.
    const inside =
      '{"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},' +
      '"e":{"dtype":"U8","shape":[0],"data_offsets":[2,2]}}';
    expectUserError(() => parseSafetensors(stFile(inside, new Uint8Array(4))), 'tensors "a" and "e" overlap in the data buffer (bytes 0..4 and 2..2)');
  });

  it('holes: bytes that belong to no tensor, between tensors or at the end', () => {
    const gap =
      '{"a":{"dtype":"U8","shape":[8],"data_offsets":[0,8]},' +
      '"b":{"dtype":"U8","shape":[8],"data_offsets":[16,24]}}';
    expectUserError(() => parseSafetensors(stFile(gap, new Uint8Array(24))), 'bytes 8..16 of the data buffer belong to no tensor');
    expectUserError(() => parseSafetensors(stFile(x24('[4,28]'), new Uint8Array(28))), 'bytes 0..4 of the data buffer belong to no tensor');
    expectUserError(() => parseSafetensors(stFile(x24('[0,24]'), new Uint8Array(30))), 'bytes 24..30 of the data buffer belong to no tensor');
    expectUserError(() => parseSafetensors(stFile('{}', new Uint8Array(1))), 'bytes 0..1 of the data buffer belong to no tensor');
  });

  it('metadata that is not a map of strings', () => {
    expectUserError(() => parseSafetensors(stFile('{"__metadata__":{"epoch":3}}')), '__metadata__ must map strings to strings, but "epoch" is a number');
    expectUserError(() => parseSafetensors(stFile('{"__metadata__":{"a":null}}')), '__metadata__ must map strings to strings, but "a" is null');
    expectUserError(() => parseSafetensors(stFile('{"__metadata__":["pt"]}')), '__metadata__ is not a JSON object');
  });

  it('inFile names the file', () => {
    expectUserError(
      () => inFile('alexnet.safetensors', () => parseSafetensors(stFile(x24('[0,12]', 'F16'), new Uint8Array(12)))),
      'alexnet.safetensors: tensor "x" is F16; only F32, F64, I32, I64, U8 are supported',
    );
  });
});

describe('parseSafetensors on a Node Buffer', () => {
  it('reads tensors at unaligned offsets of a Buffer correctly', () => {
    const bytes = writeSafetensors([
      ['a', { dtype: 'U8', shape: [3], data: Uint8Array.from([1, 2, 3]) }],
      ['b', { dtype: 'F32', shape: [2], data: Float32Array.from([0.25, -8]) }],
    ]);
    const pool = Buffer.alloc(bytes.length + 5);
    pool.set(bytes, 5);
    const f = parseSafetensors(pool.subarray(5));
    expect(Array.from(f.tensors.get('b')!.data as Float32Array)).toEqual([0.25, -8]);
  });
});
