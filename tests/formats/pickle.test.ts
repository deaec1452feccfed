import { describe, expect, it } from 'vitest';
import { UserError } from '../../src/errors.js';
import { type PickleValue, ALLOWED_GLOBALS, RefusedGlobalError, isPickleCall, isTuple, readPickle } from '../../src/formats/pickle.js';
import { expectUserError, weightFixture } from '../helpers/formats.js';

const fixture = weightFixture;


/** Pickle bytes by hand: numbers are single bytes, strings their UTF-8 bytes, arrays spread. */
function P(...parts: (number | string | number[] | Uint8Array)[]): Uint8Array {
  const out: number[] = [];
  for (const p of parts) {
    if (typeof p === 'number') out.push(p);
    else if (typeof p === 'string') out.push(...new TextEncoder().encode(p));
    else out.push(...p);
  }
  return Uint8Array.from(out);
}
const u32 = (n: number) => [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff];
const PROTO2 = [0x80, 2];
const STOP = 0x2e;
const read = (bytes: Uint8Array, persistentLoad?: (pid: PickleValue) => PickleValue) => readPickle(bytes, { persistentLoad }).value;

/** Pickled values in a form toEqual compares strictly: dicts, tuples, bytes and bigints marked. */
function plain(v: PickleValue): unknown {
  if (v instanceof Map) return { dict: [...v].map(([k, x]) => [plain(k), plain(x)]) };
  if (isTuple(v)) return { tuple: v.map(plain) };
  if (Array.isArray(v)) return v.map(plain);
  if (v instanceof Uint8Array) return { bytes: [...v] };
  if (typeof v === 'bigint') return { bigint: v.toString() };
  return v;
}

describe('pickle: values Python pickled (fixtures/weights/values-p{2,4}.pkl)', () => {
  // The object of make_weight_fixtures.py, written out.
  const expected = {
    dict: [
      ['ints', [0, 1, 255, 256, 65535, 65536, -1, -(2 ** 31), 2 ** 31 - 1, 2 ** 31,
        { bigint: (2n ** 53n + 1n).toString() }, { bigint: (-(2n ** 63n)).toString() }, { bigint: (2n ** 64n).toString() }]],
      ['floats', [0, -0, 1.5, -2.25e-300, 1e300, Infinity]],
      ['strings', ['', 'abc', '\u00e9\u20ac\u{1f600}', 'x'.repeat(300)]],
      ['bytes', { bytes: [0, 1, 255] }],
      ['tuples', { tuple: [{ tuple: [] }, { tuple: [1] }, { tuple: [1, 2] }, { tuple: [1, 2, 3] }, { tuple: [1, 2, 3, 4] }] }],
      ['consts', [null, true, false]],
      ['shared', [[1], [1]]],
      ['dict', { dict: [['a', 1], ['b', [2, 3]]] }],
      ['nested', { dict: [['k', { dict: [['x', 1]] }]] }],
    ],
  };

  for (const protocol of [2, 4]) {
    it(`protocol ${protocol}: every value, in order, with memoised objects shared`, () => {
      const bytes = fixture(`values-p${protocol}.pkl`);
      const { value, end } = readPickle(bytes);
      expect(end).toBe(bytes.length);
      // Protocol 2 writes bytes as a call of _codecs.encode, which we refuse: the fixture leaves them out.
      const want = protocol > 2 ? expected : { dict: expected.dict.filter(([k]) => k !== 'bytes') };
      expect(plain(value)).toEqual(want);
      const shared = (value as Map<string, PickleValue[]>).get('shared') as PickleValue[];
      expect(shared[0]).toBe(shared[1]); // BINPUT/BINGET (MEMOIZE) give the same object, as in Python
    });
  }
});

describe('pickle: opcodes by hand', () => {
  it('LONG_BINPUT / LONG_BINGET, BINUNICODE8, BINBYTES, SHORT_BINBYTES', () => {
    const bytes = P(PROTO2, 0x28, 0x8d, [3, 0, 0, 0, 0, 0, 0, 0], 'abc', 0x72, u32(70000), 0x6a, u32(70000),
      0x42, u32(2), [9, 8], 0x43, 1, [7], 0x74, STOP);
    expect(plain(read(bytes))).toEqual({ tuple: ['abc', 'abc', { bytes: [9, 8] }, { bytes: [7] }] });
  });

  it("Python 2's str (SHORT_BINSTRING, BINSTRING) and OrderedDict pickled as a list of [key, value] pairs", () => {
    // ccollections\nOrderedDict\n ( ] ( U'a' K1 l ( U'b' T'xy' l e ) ... as Python 2.7 writes it
    const bytes = P(PROTO2, 'c', 'collections\nOrderedDict\n', 0x5d, 0x28, 0x28, 0x55, 1, 'a', 0x4b, 1, 0x6c,
      0x28, 0x55, 1, 'b', 0x54, u32(2), 'xy', 0x6c, 0x65, 0x85, 0x52, STOP);
    expect(plain(read(bytes))).toEqual({ dict: [['a', 1], ['b', 'xy']] });
  });

  it('DICT and LIST from a MARK, BININT negative, LONG1 of zero length, BINFLOAT big-endian', () => {
    const bytes = P(PROTO2, 0x28, 'X', u32(1), 'k', 0x28, 0x4a, u32(-5 >>> 0), 0x8a, 0, 0x47, [0x3f, 0xf8, 0, 0, 0, 0, 0, 0], 0x6c, 0x64, STOP);
    expect(plain(read(bytes))).toEqual({ dict: [['k', [-5, 0, 1.5]]] });
  });

  it('allowed globals: OrderedDict() is a Map, a torch function call is an inert record, BUILD keeps its state', () => {
    const bytes = P(PROTO2, 0x28, 'c', 'collections\nOrderedDict\n', 0x29, 0x52, 0x7d, 0x62,
      'c', 'torch._utils\n_rebuild_parameter\n', 0x4b, 1, 0x88, 0x86, 0x52, 'X', u32(2), 'st', 0x62, 0x74, STOP);
    const [dict, call] = read(bytes) as PickleValue[];
    expect(dict).toEqual(new Map());
    expect(isPickleCall(call)).toBe(true);
    expect(call).toEqual({ kind: 'call', global: 'torch._utils._rebuild_parameter', args: [1, true], state: 'st' });
  });

  it('BINPERSID hands the persistent id to the callback and pushes what it returns', () => {
    const seen: PickleValue[] = [];
    const bytes = P(PROTO2, 'X', u32(7), 'storage', 'c', 'torch\nFloatStorage\n', 0x86, 0x51, STOP);
    const value = read(bytes, (pid) => {
      seen.push(pid);
      return 'loaded';
    });
    expect(value).toBe('loaded');
    expect(plain(seen[0])).toEqual({ tuple: ['storage', { kind: 'global', name: 'torch.FloatStorage' }] });
  });

  it('reads one pickle of several from `start` and says where it ended', () => {
    const first = P(PROTO2, 0x4b, 1, STOP);
    const second = P(PROTO2, 0x4b, 2, STOP);
    const both = P(first, second);
    expect(readPickle(both)).toEqual({ value: 1, end: first.length });
    expect(readPickle(both, { start: first.length })).toEqual({ value: 2, end: both.length });
  });

  it('FRAME is skipped; tuples are frozen, lists are not', () => {
    const bytes = P(0x80, 4, 0x95, [5, 0, 0, 0, 0, 0, 0, 0], 0x29, 0x5d, 0x86, STOP);
    const [t, l] = read(bytes) as PickleValue[];
    expect(isTuple(t)).toBe(true);
    expect(isTuple(l)).toBe(false);
  });
});

describe('pickle: refusing globals before anything runs', () => {
  const refusal = (name: string) =>
    `pickle asks for global "${name}", which is not allowed: refusing to load (pickle files can run code; only PyTorch state dicts are accepted)`;

  it('refuses os.system at its GLOBAL, before the opcodes after it are read', () => {
    // GLOBAL os.system, then what would follow in an attack, then bytes that are not even pickle.
    let called = false;
    const bytes = P(PROTO2, 'c', 'os\nsystem\n', 'X', u32(2), 'id', 0x85, 0x52, 0x51, 0xff, 0xff);
    const e = expectUserError(() => read(bytes, () => { called = true; return null; }), refusal('os.system'));
    expect(e).toBeInstanceOf(RefusedGlobalError);
    expect((e as RefusedGlobalError).global).toBe('os.system');
    expect(called).toBe(false);
    // Cut right after the GLOBAL: still the refusal, not "truncated".
    expectUserError(() => read(P(PROTO2, 'c', 'os\nsystem\n')), refusal('os.system'));
  });

  it('refuses builtins.eval named by STACK_GLOBAL (protocol 4) and subprocess.Popen by INST', () => {
    expectUserError(() => read(P(0x80, 4, 0x8c, 8, 'builtins', 0x8c, 4, 'eval', 0x93, 0xff)), refusal('builtins.eval'));
    expectUserError(() => read(P(0x28, 'i', 'subprocess\nPopen\n', STOP)), refusal('subprocess.Popen'));
  });

  it('refuses names close to allowed ones', () => {
    for (const name of ['torch.load', 'torch._utils._rebuild_device_tensor_from_numpy', 'collections.OrderedDictX', 'torch.nn.Module', '__builtin__.eval']) {
      const dot = name.lastIndexOf('.');
      expectUserError(() => read(P(PROTO2, 'c', `${name.slice(0, dot)}\n${name.slice(dot + 1)}\n`, STOP)), refusal(name));
    }
  });

  it('refuses the os.system pickle Python writes for a __reduce__ (posix.system on Linux)', () => {
    // fixtures/weights/malicious.pth: a stored zip, so data.pkl's bytes appear as they are.
    const file = fixture('malicious.pth');
    const start = file.indexOf(0x80);
    expectUserError(() => readPickle(file, { start }), refusal('posix.system'));
  });

  it('allows exactly the names PyTorch state dicts need', () => {
    expect([...ALLOWED_GLOBALS].sort()).toEqual([
      'collections.OrderedDict',
      'torch.BFloat16Storage', 'torch.BoolStorage', 'torch.ByteStorage', 'torch.CharStorage', 'torch.DoubleStorage',
      'torch.FloatStorage', 'torch.HalfStorage', 'torch.IntStorage', 'torch.LongStorage', 'torch.ShortStorage',
      'torch._utils._rebuild_parameter', 'torch._utils._rebuild_parameter_with_state',
      'torch._utils._rebuild_tensor', 'torch._utils._rebuild_tensor_v2',
    ]);
  });
});

describe('pickle: refusing other opcodes and damaged data', () => {
  it('refuses object-building and text opcodes by name', () => {
    expectUserError(() => read(P(PROTO2, 0x81, STOP)), 'pickle opcode 0x81 (NEWOBJ) at byte 2 is not supported (only the opcodes of PyTorch state dicts are)');
    expectUserError(() => read(P(PROTO2, 0x82, 1, STOP)), /^pickle opcode 0x82 \(EXT1\) at byte 2 is not supported/);
    expectUserError(() => read(P(0x28, 0x6f, STOP)), /^pickle opcode 0x6f \(OBJ\) at byte 1 is not supported/);
    expectUserError(() => read(P('I42\n.')), /^pickle opcode 0x49 \(INT\) at byte 0 is not supported/);
    expectUserError(() => read(P(PROTO2, 0xff)), /^pickle opcode 0xff at byte 2 is not supported/);
    expectUserError(() => read(P(0x80, 6, STOP)), 'pickle protocol 6 is not supported (at most 5)');
  });

  it('refuses truncated pickles', () => {
    const whole = fixture('values-p2.pkl');
    expectUserError(() => read(whole.subarray(0, whole.length - 1)), `pickle is truncated: no STOP opcode before the end of the data (byte ${whole.length - 1})`);
    expectUserError(() => read(P(PROTO2, 'X', u32(1000), 'abc')), 'pickle is truncated: 0x58 (BINUNICODE) at byte 2 needs 1000 more bytes, only 3 remain');
    expectUserError(() => read(P(PROTO2, 0x4a, 1, 2)), 'pickle is truncated: 0x4a (BININT) at byte 2 needs 4 more bytes, only 2 remain');
    expectUserError(() => read(P(PROTO2, 'c', 'torch\nFloatSto')), /^pickle is truncated: 0x63 \(GLOBAL\) at byte 2 needs/);
    for (let n = 0; n < whole.length; n += 37) expect(() => read(whole.subarray(0, n))).toThrow(UserError);
  });

  it('refuses corrupt pickles with a message naming the opcode and byte', () => {
    expectUserError(() => read(P(PROTO2, 0x61, STOP)), 'corrupt pickle: 0x61 (APPEND) at byte 2 finds the stack empty');
    expectUserError(() => read(P(PROTO2, 0x68, 5, STOP)), 'corrupt pickle: 0x68 (BINGET) at byte 2 reads memo entry 5, which was never stored');
    expectUserError(() => read(P(PROTO2, 0x4b, 1, 0x74, STOP)), 'corrupt pickle: 0x74 (TUPLE) at byte 4 has no MARK to pop to');
    expectUserError(() => read(P(PROTO2, 'X', u32(1), 'f', 0x29, 0x52, STOP)), 'corrupt pickle: 0x52 (REDUCE) at byte 9 calls a string, not a global');
    expectUserError(() => read(P(PROTO2, 0x5d, 0x4b, 1, 0x4b, 2, 0x73, STOP)), 'corrupt pickle: 0x73 (SETITEM) at byte 7 sets items on a list, not a dict');
    expectUserError(() => read(P(PROTO2, 0x29, 0x4b, 1, 0x61, STOP)), 'corrupt pickle: 0x61 (APPEND) at byte 5 appends to a tuple, not a list');
    expectUserError(() => read(P(PROTO2, 0x29, 0x51, STOP)), 'corrupt pickle: 0x51 (BINPERSID) at byte 3 refers to external data (a persistent id), which this pickle may not do');
    expectUserError(() => read(P(PROTO2, 0x29, 0x4b, 1, 0x62, STOP)), 'corrupt pickle: 0x62 (BUILD) at byte 5 sets the state of a tuple');
  });
});
