import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { UserError, inFile } from '../../src/errors.js';
import { type NpyArray, type NpyDtype, parseNpy, writeNpy } from '../../src/formats/npy.js';

// Reference files written by numpy (fixtures/formats/make_format_fixtures.py; versions in manifest.json).
const FIXTURES = fileURLToPath(new URL('../../fixtures/formats/', import.meta.url));
const fixture = (name: string) => new Uint8Array(readFileSync(FIXTURES + name));

const bytesOf = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
/** One byte per character: the header strings here are ASCII. */
const ascii = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));
const concat = (...parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
};

/** A .npy file built by hand: preamble, `dict` + '\n' (no alignment padding), then `data`. */
function npyFile(dict: string, data: Uint8Array = new Uint8Array(0), major = 1): Uint8Array {
  const header = major === 3 ? new TextEncoder().encode(dict + '\n') : ascii(dict + '\n');
  const length = major === 1 ? [header.length & 0xff, header.length >> 8] : [header.length & 0xff, header.length >> 8, 0, 0];
  return concat(ascii('\x93NUMPY'), Uint8Array.of(major, 0, ...length), header, data);
}

function expectUserError(fn: () => unknown, message: string): void {
  let thrown: unknown;
  try {
    fn();
  } catch (e) {
    thrown = e;
  }
  expect(thrown, `expected UserError "${message}"`).toBeInstanceOf(UserError);
  expect((thrown as Error).message).toBe(message);
}

describe('npy: bytes numpy writes', () => {
  it('np.zeros((2, 3), "<f4"): the exact 128-byte header, then 24 zero bytes', () => {
    // Written out from the format spec and numpy's _write_array_header: magic, version 1.0,
    // u16 header length 118 ('v'), the dict, 21 - len('2') = 20 growth spaces, then spaces up to
    // byte 127 and '\n' at byte 127.
    const dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
    const header = '\x93NUMPY\x01\x00v\x00' + dict + ' '.repeat(20) + ' '.repeat(128 - 10 - dict.length - 20 - 1) + '\n';
    expect(header.length).toBe(128);
    const expected = concat(ascii(header), new Uint8Array(24));

    const out = writeNpy({ dtype: 'float32', shape: [2, 3], data: new Float32Array(6) });
    expect(out).toEqual(expected);
    const back = parseNpy(expected);
    expect(back.dtype).toBe('float32');
    expect(back.shape).toEqual([2, 3]);
    expect(back.data).toEqual(new Float32Array(6));
  });

  it('a scalar has shape () and no growth spaces; a 1-D shape is written (5,)', () => {
    const scalar = writeNpy({ dtype: 'float64', shape: [], data: Float64Array.of(-2.5) });
    const dict0 = "{'descr': '<f8', 'fortran_order': False, 'shape': (), }";
    expect(scalar).toEqual(concat(ascii('\x93NUMPY\x01\x00v\x00' + dict0.padEnd(117) + '\n'), bytesOf(Float64Array.of(-2.5))));

    const vec = writeNpy({ dtype: 'uint8', shape: [5], data: Uint8Array.of(1, 2, 3, 4, 5) });
    const dict1 = "{'descr': '|u1', 'fortran_order': False, 'shape': (5,), }";
    expect(vec).toEqual(concat(ascii('\x93NUMPY\x01\x00v\x00' + dict1.padEnd(117) + '\n'), Uint8Array.of(1, 2, 3, 4, 5)));
  });

  it('a header that would end exactly on a 64-byte boundary gets 64 more spaces, as numpy pads', () => {
    // numpy: padlen = 64 - ((10 + len(dict) + 1) % 64), so 64 (not 0) when already aligned.
    const shape = [5, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 10, 10];
    const dict = "{'descr': '|u1', 'fortran_order': False, 'shape': (5, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 10, 10), }";
    expect(10 + dict.length + 20 + 1).toBe(128);
    const header = '\x93NUMPY\x01\x00\xb6\x00' + dict + ' '.repeat(20) + ' '.repeat(64) + '\n';
    expect(writeNpy({ dtype: 'uint8', shape, data: new Uint8Array(500) })).toEqual(concat(ascii(header), new Uint8Array(500)));
  });

  // Each file: what it holds (restated from the generator), and writeNpy must give back its bytes.
  const roundTrip: [string, NpyDtype, number[], NpyArray['data']][] = [
    ['f4_2x3.npy', 'float32', [2, 3], Float32Array.of(0, -0, 1.5, NaN, Infinity, -Infinity)],
    ['f8_scalar.npy', 'float64', [], Float64Array.of(-2.5)],
    ['i4_4.npy', 'int32', [4], Int32Array.of(-(2 ** 31), -1, 0, 2 ** 31 - 1)],
    ['i8_2x2.npy', 'int64', [2, 2], BigInt64Array.of(-(2n ** 63n), -1n, 0n, 2n ** 63n - 1n)],
    ['u1_3.npy', 'uint8', [3], Uint8Array.of(0, 127, 255)],
    ['u1_2x0x3.npy', 'uint8', [2, 0, 3], new Uint8Array(0)],
    ['f4_ones20.npy', 'float32', new Array(20).fill(1), Float32Array.of(7)],
  ];
  for (const [name, dtype, shape, data] of roundTrip) {
    it(`${name}: parsed as ${dtype} [${shape.join(', ')}] and rewritten byte for byte`, () => {
      const file = fixture(name);
      const a = parseNpy(file);
      expect(a.dtype).toBe(dtype);
      expect(a.shape).toEqual(shape);
      expect(a.data.constructor).toBe(data.constructor);
      expect(bytesOf(a.data)).toEqual(bytesOf(data)); // bitwise: -0 and NaN included
      expect(writeNpy(a)).toEqual(file);
    });
  }

  it('numpy NaN is the quiet NaN 0x7fc00000 and -0 keeps its sign bit', () => {
    const a = parseNpy(fixture('f4_2x3.npy'));
    const bits = new Uint32Array(a.data.buffer as ArrayBuffer, a.data.byteOffset, 6);
    expect(bits[1]).toBe(0x80000000);
    expect(bits[3]).toBe(0x7fc00000);
  });

  it('reads big-endian floats, converting to host order', () => {
    const f4 = parseNpy(fixture('f4_be_3.npy'));
    expect(f4).toEqual({ dtype: 'float32', shape: [3], data: Float32Array.of(1, -2, 0.5) });
    const f8 = parseNpy(fixture('f8_be_2.npy'));
    expect(f8.dtype).toBe('float64');
    expect(Array.from(f8.data as Float64Array)).toEqual([1e300, -0]);
    expect(Object.is((f8.data as Float64Array)[1], -0)).toBe(true);
  });

  it('reads format versions 2.0 and 3.0 (u32 header length)', () => {
    for (const name of ['f4_v2_2x2.npy', 'f4_v3_2x2.npy']) {
      expect(parseNpy(fixture(name))).toEqual({ dtype: 'float32', shape: [2, 2], data: Float32Array.of(1, 2, 3, 4) });
    }
  });
});

describe('npy: headers other writers produce', () => {
  it('no alignment padding: the data starts at an odd offset and is still read', () => {
    const file = npyFile("{'descr': '<f8', 'fortran_order': False, 'shape': (2,)}", bytesOf(Float64Array.of(1.25, -3)));
    expect((file.length - 16) % 8).not.toBe(0);
    expect(parseNpy(file).data).toEqual(Float64Array.of(1.25, -3));
  });

  it('double quotes, keys in any order, no trailing comma, Python 2 long integers', () => {
    const file = npyFile('{"shape": (2L, 1L), "fortran_order": False, "descr": "<i4"}', bytesOf(Int32Array.of(5, -6)));
    expect(parseNpy(file)).toEqual({ dtype: 'int32', shape: [2, 1], data: Int32Array.of(5, -6) });
  });

  it('an unaligned view into a larger buffer', () => {
    const file = fixture('i8_2x2.npy');
    const big = new Uint8Array(file.length + 3);
    big.set(file, 3);
    const a = parseNpy(big.subarray(3));
    expect(a.data).toEqual(BigInt64Array.of(-(2n ** 63n), -1n, 0n, 2n ** 63n - 1n));
  });
});

describe('npy: round trips', () => {
  const ITEMSIZE: Record<NpyDtype, number> = { float32: 4, float64: 8, int32: 4, int64: 8, uint8: 1 };
  const make = (dtype: NpyDtype, bytes: Uint8Array): NpyArray['data'] => {
    const buf = bytes.slice().buffer;
    const n = bytes.length / ITEMSIZE[dtype];
    switch (dtype) {
      case 'float32': return new Float32Array(buf, 0, n);
      case 'float64': return new Float64Array(buf, 0, n);
      case 'int32': return new Int32Array(buf, 0, n);
      case 'int64': return new BigInt64Array(buf, 0, n);
      case 'uint8': return new Uint8Array(buf, 0, n);
    }
  };

  // Random bytes reach every bit pattern: NaNs with payloads, signalling NaNs, -0, subnormals.
  const arrays = fc
    .record({
      dtype: fc.constantFrom<NpyDtype>('float32', 'float64', 'int32', 'int64', 'uint8'),
      shape: fc.array(fc.integer({ min: 0, max: 5 }), { maxLength: 5 }),
    })
    .chain(({ dtype, shape }) => {
      const n = shape.reduce((a, d) => a * d, 1) * ITEMSIZE[dtype];
      return fc.uint8Array({ minLength: n, maxLength: n }).map((bytes) => ({ dtype, shape, bytes }));
    });

  it('parseNpy(writeNpy(a)) is the same array bit for bit, with the data 64-byte aligned', () => {
    fc.assert(
      fc.property(arrays, ({ dtype, shape, bytes }) => {
        const file = writeNpy({ dtype, shape, data: make(dtype, bytes) });
        const headerEnd = file.length - bytes.length;
        expect(headerEnd % 64).toBe(0);
        expect(file[headerEnd - 1]).toBe(0x0a);
        const back = parseNpy(file);
        expect(back.dtype).toBe(dtype);
        expect(back.shape).toEqual(shape);
        expect(bytesOf(back.data)).toEqual(bytes);
      }),
      { numRuns: 300 },
    );
  });

  it('special float values survive bit for bit', () => {
    const bits = Uint32Array.of(0x80000000, 0x7fc00000, 0x7fc12345, 0xffc00001, 0x7f800001, 0x7f800000, 0xff800000, 0x00000001);
    const a = parseNpy(writeNpy({ dtype: 'float32', shape: [8], data: new Float32Array(bits.buffer) }));
    expect(new Uint32Array(a.data.buffer as ArrayBuffer, a.data.byteOffset, 8)).toEqual(bits);
  });

  it('writes a shape whose first axis needs the full growth room, and one beyond it', () => {
    for (const first of [10 ** 15, 2 ** 53 - 1]) {
      const file = writeNpy({ dtype: 'uint8', shape: [first, 0], data: new Uint8Array(0) });
      expect(file.length % 64).toBe(0);
      expect(parseNpy(file).shape).toEqual([first, 0]);
    }
  });

  it('writeNpy refuses a mismatched dtype or shape (a bug in the caller, not a UserError)', () => {
    expect(() => writeNpy({ dtype: 'float64', shape: [2], data: new Float32Array(2) })).toThrow(/does not match data of type Float32Array/);
    expect(() => writeNpy({ dtype: 'float32', shape: [3], data: new Float32Array(2) })).toThrow(/shape \[3\] does not fit 2 elements/);
    expect(() => writeNpy({ dtype: 'float32', shape: [3], data: new Float32Array(2) })).not.toThrow(UserError);
  });
});

describe('npy: bad input', () => {
  const good = () => fixture('f4_2x3.npy'); // 128-byte header + 24 bytes of data

  it('bad magic', () => {
    expectUserError(() => parseNpy(ascii('PK\x03\x04 this is a zip')), 'not a .npy file (bad magic)');
    expectUserError(() => parseNpy(new Uint8Array(0)), 'not a .npy file (bad magic)');
    expectUserError(() => parseNpy(ascii('\x93NUMPX\x01\x00')), 'not a .npy file (bad magic)');
  });

  it('truncated files', () => {
    expectUserError(() => parseNpy(good().subarray(0, 7)), 'truncated .npy file: 7 bytes end inside the preamble');
    expectUserError(() => parseNpy(good().subarray(0, 9)), 'truncated .npy file: 9 bytes end inside the preamble');
    expectUserError(() => parseNpy(good().subarray(0, 100)), 'header length 118 runs past the end of the file (100 bytes)');
    expectUserError(() => parseNpy(good().subarray(0, 148)), 'header declares 24 bytes of data but the file has 20');
    expectUserError(() => parseNpy(good().subarray(0, 128)), 'header declares 24 bytes of data but the file has 0');
  });

  it('data beyond what the header declares', () => {
    expectUserError(() => parseNpy(concat(good(), new Uint8Array(4))), 'header declares 24 bytes of data but the file has 28');
  });

  it('unknown format version', () => {
    const file = good();
    file[6] = 4;
    expectUserError(() => parseNpy(file), 'unsupported .npy format version 4.0 (this reader knows 1.0, 2.0 and 3.0)');
  });

  it('Fortran order, from numpy', () => {
    expectUserError(() => parseNpy(fixture('f4_fortran_2x3.npy')), 'Fortran-order arrays are not supported; save with np.ascontiguousarray');
  });

  it('unsupported dtypes, named', () => {
    const supported = 'supported: <f4, <f8, <i4, <i8, |u1 and big-endian >f4, >f8';
    expectUserError(() => parseNpy(fixture('f2_2.npy')), `dtype '<f2' is not supported; ${supported}`);
    for (const descr of ['>i4', '|b1', '<c8', '<U5', '|i1', 'constructor']) {
      expectUserError(
        () => parseNpy(npyFile(`{'descr': '${descr}', 'fortran_order': False, 'shape': (0,), }`)),
        `dtype '${descr}' is not supported; ${supported}`,
      );
    }
    expectUserError(
      () => parseNpy(npyFile("{'descr': '|O', 'fortran_order': False, 'shape': (1,), }", new Uint8Array(8))),
      "dtype '|O' holds pickled Python objects, which are not supported",
    );
    expectUserError(
      () => parseNpy(npyFile("{'descr': '|O8', 'fortran_order': False, 'shape': (1,), }", new Uint8Array(8))),
      "dtype '|O8' holds pickled Python objects, which are not supported",
    );
    expectUserError(
      () => parseNpy(npyFile("{'descr': [('x', '<f4'), ('y', '<f4')], 'fortran_order': False, 'shape': (1,), }")),
      'structured dtypes (a list of fields as descr) are not supported',
    );
  });

  it('header dicts with missing, extra or ill-typed entries', () => {
    expectUserError(() => parseNpy(npyFile("{'descr': '<f4', 'fortran_order': False}")), "malformed .npy header: no 'shape' key");
    expectUserError(
      () => parseNpy(npyFile("{'descr': '<f4', 'fortran_order': False, 'shape': (), 'extra': 1}", new Uint8Array(4))),
      "malformed .npy header: unexpected key 'extra'",
    );
    expectUserError(() => parseNpy(npyFile("('descr', '<f4')")), 'malformed .npy header: not a dict');
    const shapeError = "malformed .npy header: 'shape' is not a tuple of non-negative integers";
    for (const shape of ['[2, 3]', '(2, -3)', '(5)', "('2',)", 'None']) {
      expectUserError(() => parseNpy(npyFile(`{'descr': '<f4', 'fortran_order': False, 'shape': ${shape}, }`)), shapeError);
    }
    expectUserError(
      () => parseNpy(npyFile("{'descr': '<f4', 'fortran_order': 0, 'shape': (), }")),
      "malformed .npy header: 'fortran_order' is not True or False",
    );
  });

  it('headers that are not Python literals, with the position of the problem', () => {
    const bad: [string, string][] = [
      ["{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3 }", "at character 57: expected ',' or ')'"],
      ["{'descr': '<f4', 'fortran_order': False, 'shape': np.zeros(3)}", 'at character 51: expected a value'],
      ["{'descr': '<f4, 'fortran_order': False}", "at character 18: expected ',' or '}'"],
      ["{'descr': '<f4', 'fortran_order': False, 'shape': ()}}", 'at character 54: unexpected text after the dict'],
      ["{'descr': '<f4', 'fortran_order': False, 'shape': (", "at character 53: expected ')'"],
      ["{'descr' '<f4'}", "at character 10: expected ':'"],
      ["{1: '<f4'}", 'at character 2: dict keys must be strings'],
      ["{'descr': '<f4", 'at character 11: unterminated string'],
      ["{'shape': (99999999999999999999,)}", 'at character 12: integer 99999999999999999999 is too large'],
    ];
    for (const [dict, where] of bad) expectUserError(() => parseNpy(npyFile(dict)), `malformed .npy header ${where}`);
  });

  it('a version 3.0 header that is not UTF-8', () => {
    const file = npyFile("{'descr': '<f4', 'fortran_order': False, 'shape': (), }", new Uint8Array(4), 3);
    file[12 + 3] = 0xff;
    expectUserError(() => parseNpy(file), 'malformed .npy header: not valid UTF-8 (required by format version 3.0)');
  });

  it('inFile names the file', () => {
    expectUserError(() => inFile('weights/conv1.npy', () => parseNpy(new Uint8Array(3))), 'weights/conv1.npy: not a .npy file (bad magic)');
  });
});

describe('parseNpy on a Node Buffer', () => {
  it('copies the data even though Buffer.prototype.slice returns a view', () => {
    // A Buffer carved out of a larger pool at a non-zero offset, as fs.readFileSync may return.
    const bytes = writeNpy({ dtype: 'float32', shape: [3], data: Float32Array.from([0.5, 1.5, -2]) });
    const pool = Buffer.alloc(bytes.length + 13);
    pool.set(bytes, 13);
    const a = parseNpy(pool.subarray(13));
    expect(Array.from(a.data as Float32Array)).toEqual([0.5, 1.5, -2]);
  });
});
