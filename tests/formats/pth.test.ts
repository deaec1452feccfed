import { describe, expect, it } from 'vitest';
import { halfToFloat, parsePth, readPth } from '../../src/formats/pth.js';
import { weightsFromSafetensors } from '../../src/formats/weights.js';
import { readZip } from '../../src/formats/zip.js';
import type { Tensor } from '../../src/tensor.js';
import { expectSameWeights, expectUserError, weightFixture } from '../helpers/formats.js';

const fixture = weightFixture;



// ---------------------------------------------------------------------------------------------
// Hand-written .pth files: a pickle as torch.save writes it and a stored zip around it.

const enc = (s: string) => [...new TextEncoder().encode(s)];
const i32 = (n: number) => [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff];
const str = (s: string) => [0x58, ...i32(enc(s).length), ...enc(s)]; // BINUNICODE
const int = (n: number) => [0x4a, ...i32(n)]; // BININT
const tuple = (items: number[][]) => [0x28, ...items.flat(), 0x74]; // MARK ... TUPLE
const global = (module: string, name: string) => [0x63, ...enc(`${module}\n${name}\n`)];
const orderedDict = [...global('collections', 'OrderedDict'), 0x29, 0x52];

interface TensorSpec { storage: string; type?: string; numel: number; offset?: number; size: number[]; stride: number[] }

/** data.pkl for an OrderedDict of tensors, each _rebuild_tensor_v2(storage, offset, size, stride, False, OrderedDict()). */
function statePickle(tensors: Record<string, TensorSpec>): Uint8Array {
  const items = Object.entries(tensors).map(([key, t]) => [
    ...str(key), ...global('torch._utils', '_rebuild_tensor_v2'),
    ...tuple([
      [...tuple([str('storage'), global('torch', t.type ?? 'FloatStorage'), str(t.storage), str('cpu'), int(t.numel)]), 0x51],
      int(t.offset ?? 0), tuple(t.size.map(int)), tuple(t.stride.map(int)), [0x89], orderedDict,
    ]),
    0x52,
  ]);
  return Uint8Array.from([0x80, 2, ...orderedDict, 0x28, ...items.flat(), 0x75, 0x2e]);
}

/** A stored zip (no CRCs: the reader does not check them). */
function makeZip(entries: [string, Uint8Array][]): Uint8Array {
  const out: number[] = [];
  const u16 = (v: number) => out.push(v & 0xff, (v >>> 8) & 0xff);
  const u32 = (v: number) => { u16(v & 0xffff); u16(v >>> 16); };
  const offsets: number[] = [];
  for (const [name, data] of entries) {
    offsets.push(out.length);
    u32(0x04034b50); u16(20); u16(0); u16(0); u16(0); u16(0); u32(0); u32(data.length); u32(data.length);
    u16(enc(name).length); u16(0); out.push(...enc(name), ...data);
  }
  const cd = out.length;
  entries.forEach(([name, data], i) => {
    u32(0x02014b50); u16(20); u16(20); u16(0); u16(0); u16(0); u16(0); u32(0); u32(data.length); u32(data.length);
    u16(enc(name).length); u16(0); u16(0); u16(0); u16(0); u32(0); u32(offsets[i]); out.push(...enc(name));
  });
  const size = out.length - cd;
  u32(0x06054b50); u16(0); u16(0); u16(entries.length); u16(entries.length); u32(size); u32(cd); u16(0);
  return Uint8Array.from(out);
}

const f32le = (...values: number[]) => new Uint8Array(Float32Array.from(values).buffer);

// ---------------------------------------------------------------------------------------------

describe('pth: files torch.save wrote', () => {
  const tv = weightsFromSafetensors(fixture('tv.safetensors'));

  it('zip format (tv.pth): exact tensors, all views on the file bytes', () => {
    const bytes = fixture('tv.pth');
    const file = readPth(bytes);
    expect(file.format).toBe('pth-zip');
    expect(file.notes).toEqual([]);
    expectSameWeights(file.weights, tv);
    for (const [key, t] of file.weights) expect(t.data.buffer, key).toBe(bytes.buffer);
    expectSameWeights(parsePth(bytes), tv);
  });

  it('legacy format (tv-legacy.pth): exact tensors', () => {
    const file = readPth(fixture('tv-legacy.pth'));
    expect(file.format).toBe('pth-legacy');
    expect(file.notes).toEqual([]);
    expectSameWeights(file.weights, tv);
  });

  const trickyNotes = [
    `the state dict is the checkpoint's "state_dict" entry`,
    'skipped 1 entries that are not float tensors: "module.bn.num_batches_tracked" (int64)',
    'removed the "module." prefix (nn.DataParallel) from every key',
    'converted the float64, float16, bfloat16 tensors to float32',
  ];
  for (const [name, format] of [['tricky.pth', 'pth-zip'], ['tricky-legacy.pth', 'pth-legacy'], ['tricky-proto4.pth', 'pth-zip'], ['tricky-legacy-proto4.pth', 'pth-legacy']]) {
    it(`${name}: strides, offsets, shared storages, dtypes, nesting and prefixes`, () => {
      const file = readPth(fixture(name));
      expect(file.format).toBe(format);
      expect(file.notes).toEqual(trickyNotes);
      expectSameWeights(file.weights, weightsFromSafetensors(fixture('tricky.safetensors')));
      expect(file.weights.get('scalar')?.shape).toEqual([]);
      expect(file.weights.get('empty')?.shape).toEqual([0, 3]);
    });
  }

  it('tensors on one storage share its memory when contiguous; strided ones are copied', () => {
    const bytes = fixture('tricky.pth');
    const w = readPth(bytes).weights;
    const big = w.get('big') as Tensor<Float32Array>;
    const row = w.get('row') as Tensor<Float32Array>;
    expect(big.data.buffer).toBe(bytes.buffer);
    expect(row.data.buffer).toBe(bytes.buffer);
    expect(row.data.byteOffset).toBe(big.data.byteOffset + 16 * 4); // big[2] starts at element 16
    expect(w.get('transposed')?.data.buffer).not.toBe(bytes.buffer);
  });

  it('reports progress in bytes of tensor data', () => {
    const calls: [number, number][] = [];
    readPth(fixture('tv.pth'), { onProgress: (done, total) => calls.push([done, total]) });
    expect(calls.length).toBe(16);
    const total = calls[0][1];
    expect(calls.every(([, t], i) => t === total && (i === 0 || calls[i - 1][0] < calls[i][0]))).toBe(true);
    expect(calls[15][0]).toBe(total);
  });
});

describe('pth: refusing files that run code', () => {
  const refusal =
    'pickle asks for global "posix.system", which is not allowed: refusing to load (pickle files can run code; only PyTorch state dicts are accepted)';
  it('zip .pth whose data.pkl calls os.system (posix.system)', () => {
    expectUserError(() => readPth(fixture('malicious.pth')), refusal);
  });
  it('legacy .pth whose object pickle calls os.system (posix.system)', () => {
    expectUserError(() => readPth(fixture('malicious-legacy.pth')), refusal);
  });
  it('a whole pickled module (torch.save(model)) names its class and is refused', () => {
    const pkl = Uint8Array.from([0x80, 2, ...global('torchvision.models.alexnet', 'AlexNet'), 0x29, 0x81, 0x2e]);
    expectUserError(() => readPth(makeZip([['m/data.pkl', pkl]])), /^pickle asks for global "torchvision.models.alexnet.AlexNet", which is not allowed/);
  });
});

describe('pth: hand-written state dicts', () => {
  it('any archive folder name; storage offsets and strides into a shared storage', () => {
    const pkl = statePickle({
      a: { storage: '0', numel: 6, size: [2, 3], stride: [3, 1] },
      t: { storage: '0', numel: 6, size: [3, 2], stride: [1, 3] },
      s: { storage: '0', numel: 6, offset: 4, size: [2], stride: [1] },
    });
    const zip = makeZip([['my model/data.pkl', pkl], ['my model/data/0', f32le(0, 1, 2, 3, 4, 5)], ['my model/version', Uint8Array.of(0x33)]]);
    const w = parsePth(zip);
    expect([...(w.get('a')?.data ?? [])]).toEqual([0, 1, 2, 3, 4, 5]);
    expect([...(w.get('t')?.data ?? [])]).toEqual([0, 3, 1, 4, 2, 5]);
    expect([...(w.get('s')?.data ?? [])]).toEqual([4, 5]);
  });

  it('byteorder "big": storages are read big-endian', () => {
    const pkl = statePickle({ w: { storage: '0', numel: 2, size: [2], stride: [1] }, d: { storage: '1', type: 'DoubleStorage', numel: 1, size: [], stride: [] } });
    const be = new Uint8Array(8);
    new DataView(be.buffer).setFloat32(0, 1.5, false);
    new DataView(be.buffer).setFloat32(4, -2, false);
    const d = new Uint8Array(8);
    new DataView(d.buffer).setFloat64(0, 0.1, false);
    const zip = makeZip([['a/data.pkl', pkl], ['a/byteorder', Uint8Array.from(enc('big'))], ['a/data/0', be], ['a/data/1', d]]);
    const w = parsePth(zip);
    expect([...(w.get('w')?.data ?? [])]).toEqual([1.5, -2]);
    expect(w.get('d')?.data[0]).toBe(Math.fround(0.1));
  });

  it('refuses a tensor that reaches past its storage', () => {
    const pkl = statePickle({ x: { storage: '0', numel: 6, offset: 4, size: [2, 3], stride: [3, 1] } });
    const zip = makeZip([['a/data.pkl', pkl], ['a/data/0', f32le(0, 1, 2, 3, 4, 5)]]);
    expectUserError(() => parsePth(zip), 'tensor "x" [2, 3] with offset 4 and strides [3, 1] reaches element 9 of a storage of 6');
  });

  it('refuses a missing or short storage record', () => {
    const pkl = statePickle({ x: { storage: '7', numel: 4, size: [4], stride: [1] } });
    expectUserError(() => parsePth(makeZip([['a/data.pkl', pkl]])), 'storage "7" has no record "a/data/7" in the archive');
    expectUserError(
      () => parsePth(makeZip([['a/data.pkl', pkl], ['a/data/7', f32le(1, 2)]])),
      'record "a/data/7" has 8 bytes, but its storage needs 4 float32 (16 bytes)',
    );
  });

  it('refuses a zip without data.pkl, and a pickle that is not a state dict', () => {
    expectUserError(() => parsePth(makeZip([['a/readme.txt', Uint8Array.of(1)]])), 'zip archive has no data.pkl record, so it is not a PyTorch file (it holds 1 records: "a/readme.txt")');
    const list = Uint8Array.from([0x80, 2, 0x5d, 0x2e]);
    expectUserError(() => parsePth(makeZip([['a/data.pkl', list]])), 'the file holds a list, not a state dict (a dict of tensors): save model.state_dict()');
    const ints = statePickle({ n: { storage: '0', type: 'LongStorage', numel: 1, size: [], stride: [] } });
    expectUserError(() => parsePth(makeZip([['a/data.pkl', ints], ['a/data/0', new Uint8Array(8)]])), 'the state dict has no float tensors (1 entries)');
  });

  it('refuses persistent ids that are not storages', () => {
    const pkl = Uint8Array.from([0x80, 2, ...tuple([str('module'), str('x')]), 0x51, 0x2e]);
    expectUserError(() => parsePth(makeZip([['a/data.pkl', pkl]])), 'the pickle refers to external data ("module", "x"), which is not a PyTorch storage');
  });
});

describe('pth: damaged and foreign files', () => {
  it('truncated zip .pth', () => {
    const bytes = fixture('tv.pth');
    expectUserError(() => readPth(bytes.subarray(0, bytes.length >> 1)), /^zip archive is truncated or damaged: no end-of-central-directory record in its last \d+ bytes \(was the download cut short\?\)$/);
  });

  it('truncated legacy .pth, in the storages and in the pickle', () => {
    const bytes = fixture('tv-legacy.pth');
    expectUserError(() => readPth(bytes.subarray(0, bytes.length - 100)), /^legacy \.pth is truncated: storage "\d+" needs bytes \d+\.\.\d+, the file has \d+$/);
    expectUserError(() => readPth(bytes.subarray(0, 400)), /^legacy \.pth, state dict: pickle is truncated: /);
  });

  it('a repacked (compressed) .pth is refused with what to do', () => {
    const bytes = fixture('tv.pth').slice();
    const entry = readZip(bytes).entries[0];
    // Mark data.pkl as deflated in its central directory header (method at +10).
    const view = new DataView(bytes.buffer);
    for (let at = 0; at + 46 < bytes.length; at++) {
      if (view.getUint32(at, true) === 0x02014b50 && view.getUint32(at + 42, true) === entry.localHeaderOffset) {
        view.setUint16(at + 10, 8, true);
        break;
      }
    }
    expectUserError(() => readPth(bytes), /^zip record "tv\/data.pkl" is compressed \(deflate\); PyTorch stores its records uncompressed/);
  });

  it('files that are not PyTorch files', () => {
    expectUserError(() => readPth(Uint8Array.of(1, 2, 3, 4)), 'not a PyTorch file: it starts neither like a zip archive (torch >= 1.6) nor with the legacy magic number');
    const tar = new Uint8Array(1024);
    tar.set(enc('ustar'), 257);
    expectUserError(() => readPth(tar), "this is PyTorch's tar format from before version 0.1.10, which is not supported: load and re-save it with a newer torch");
  });
});

describe('pth: float16', () => {
  it('halfToFloat decodes every class of binary16 exactly', () => {
    expect(halfToFloat(0x3c00)).toBe(1);
    expect(halfToFloat(0xc000)).toBe(-2);
    expect(halfToFloat(0x7bff)).toBe(65504);
    expect(halfToFloat(0x0001)).toBe(2 ** -24);
    expect(halfToFloat(0x03ff)).toBe(1023 * 2 ** -24);
    expect(halfToFloat(0x0400)).toBe(2 ** -14);
    expect(Object.is(halfToFloat(0x8000), -0)).toBe(true);
    expect(halfToFloat(0x7c00)).toBe(Infinity);
    expect(halfToFloat(0xfc00)).toBe(-Infinity);
    expect(halfToFloat(0x7e00)).toBeNaN();
    expect(halfToFloat(0x3555)).toBe(Math.fround(0.333251953125));
  });
});
