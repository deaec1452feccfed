/**
 * PyTorch .pth / .pt files holding a state dict (`torch.save(model.state_dict(), path)`), read
 * without Python and without executing the pickle inside (see pickle.ts).
 *
 * Two container formats, told apart by their first bytes:
 *
 *   zip (torch 1.6 and later, the default): a zip archive (zip.ts) of stored records
 *     <archive>/data.pkl        the state dict, pickled (protocol 2 unless pickle_protocol= says otherwise)
 *     <archive>/data/<key>      one record per storage: its raw bytes
 *     <archive>/byteorder       "little" or "big" (written since torch 2.1; little when absent)
 *     <archive>/version         the format version
 *   where <archive> is the file's base name at save time ("archive" in torch 1.13), so any folder
 *   name is accepted. A tensor in data.pkl is `_rebuild_tensor_v2(storage, offset, size, stride,
 *   requires_grad, hooks)` whose storage is the persistent id ('storage', torch.FloatStorage, key,
 *   location, numel), numel counted in elements.
 *
 *   legacy (torch 0.1.10 to 1.5, and `_use_new_zipfile_serialization=False`): consecutive pickles
 *     magic number 0x1950a86a20f9469cfc6c, protocol version 1001, sys info {little_endian, ...},
 *     the state dict (storages as ('storage', type, key, location, numel, view_metadata)),
 *     the list of storage keys,
 *   then for each key in that order an int64 element count and the storage's raw little-endian
 *   bytes. view_metadata (view_key, offset, numel), written by torch < 0.4 for storage slices,
 *   makes the storage a slice of the root one. torch < 0.4 pickles tensors with
 *   `_rebuild_tensor(storage, offset, size, stride)`.
 *   (The even older tar format, torch < 0.1.10, is recognised and refused.)
 *
 * Reference: torch/serialization.py (_save, _legacy_save, _load, _legacy_load) and torch/_utils.py
 * of PyTorch 1.13.
 *
 * Every float tensor becomes a float32 Tensor in C order: a view on the file's bytes when the
 * tensor is float32, little-endian, contiguous and 4-byte aligned in memory (the zip format aligns
 * records to 64 bytes), otherwise a copy (strided, offset into a larger storage, float64, float16,
 * bfloat16, big-endian). Tensors sharing a storage share its bytes. Integer tensors (BatchNorm's
 * num_batches_tracked, say) are skipped with a note. The state dict may be the top-level object
 * or nested as {'state_dict': ...} (also 'model_state_dict', 'model'), and the `module.` prefix
 * that nn.DataParallel adds to every key is removed.
 */

import { UserError } from '../errors.js';
import { type Tensor, formatShape, sizeOf } from '../tensor.js';
import { type PickleCall, type PickleValue, RefusedGlobalError, isPickleCall, isPickleGlobal, isTuple, kindOf, readPickle } from './pickle.js';
import { looksLikeZip, readZip, zipEntryData, type ZipEntry } from './zip.js';

export type PthFormat = 'pth-zip' | 'pth-legacy';

export interface PthFile {
  format: PthFormat;
  /** Float tensors by state-dict key, as float32, in the order of the state dict. */
  weights: Map<string, Tensor<Float32Array>>;
  /** What was converted, skipped or renamed on the way, one sentence each. */
  notes: string[];
}

export interface PthOptions {
  /** Called as tensors are produced, with bytes of tensor data done and in total. */
  onProgress?: (done: number, total: number) => void;
}

/** The state dict's float tensors (see readPth for the notes and the format). */
export function parsePth(bytes: Uint8Array): Map<string, Tensor<Float32Array>> {
  return readPth(bytes).weights;
}

/** The legacy format's first pickle: PROTO 2, LONG1 of 10 bytes, 0x1950a86a20f9469cfc6c little-endian. */
const LEGACY_PREFIX = [0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19];
const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;
const LEGACY_PROTOCOL = 1001;

/** True when the file starts with the legacy format's magic number (pickled with any protocol). */
export function looksLikeLegacyPth(bytes: Uint8Array): boolean {
  if (bytes.length >= LEGACY_PREFIX.length && LEGACY_PREFIX.every((b, i) => bytes[i] === b)) return true;
  if (bytes.length < 2 || bytes[0] !== 0x80) return false;
  // torch.save(..., pickle_protocol=4) frames the same number differently: read the first pickle.
  try {
    return readPickle(bytes.subarray(0, 64)).value === LEGACY_MAGIC;
  } catch {
    return false;
  }
}

/** A POSIX tar header: "ustar" at byte 257 (PyTorch's pre-0.1.10 format was a tar archive). */
function looksLikeTar(bytes: Uint8Array): boolean {
  return bytes.length >= 262 && String.fromCharCode(...bytes.subarray(257, 262)) === 'ustar';
}

export function readPth(bytes: Uint8Array, options: PthOptions = {}): PthFile {
  if (looksLikeZip(bytes)) return readZipPth(bytes, options);
  if (looksLikeLegacyPth(bytes)) return readLegacyPth(bytes, options);
  if (looksLikeTar(bytes)) {
    throw new UserError("this is PyTorch's tar format from before version 0.1.10, which is not supported: load and re-save it with a newer torch");
  }
  throw new UserError('not a PyTorch file: it starts neither like a zip archive (torch >= 1.6) nor with the legacy magic number');
}

// ---------------------------------------------------------------------------------------------
// Storages and tensors as the pickle describes them

type StorageDtype = 'float32' | 'float64' | 'float16' | 'bfloat16' | 'int64' | 'int32' | 'int16' | 'int8' | 'uint8' | 'bool';

const STORAGE_TYPES: Record<string, { dtype: StorageDtype; itemsize: number }> = {
  'torch.FloatStorage': { dtype: 'float32', itemsize: 4 },
  'torch.DoubleStorage': { dtype: 'float64', itemsize: 8 },
  'torch.HalfStorage': { dtype: 'float16', itemsize: 2 },
  'torch.BFloat16Storage': { dtype: 'bfloat16', itemsize: 2 },
  'torch.LongStorage': { dtype: 'int64', itemsize: 8 },
  'torch.IntStorage': { dtype: 'int32', itemsize: 4 },
  'torch.ShortStorage': { dtype: 'int16', itemsize: 2 },
  'torch.CharStorage': { dtype: 'int8', itemsize: 1 },
  'torch.ByteStorage': { dtype: 'uint8', itemsize: 1 },
  'torch.BoolStorage': { dtype: 'bool', itemsize: 1 },
};

const FLOAT_DTYPES: ReadonlySet<StorageDtype> = new Set(['float32', 'float64', 'float16', 'bfloat16']);

/** One storage: `numel` elements of `dtype`, whose bytes are attached once found. */
interface Storage {
  key: string;
  dtype: StorageDtype;
  itemsize: number;
  numel: number;
  bytes?: Uint8Array;
  littleEndian: boolean;
  /** The whole storage as float32, once a tensor needed it converted (shared by every tensor on it). */
  converted?: Float32Array;
}

/** A storage as a tensor sees it: the whole root storage, or (legacy) a slice of it. */
interface StorageRef {
  kind: 'storage';
  storage: Storage;
  /** Elements of the root storage before this slice, and the slice's length. */
  offset: number;
  numel: number;
}

interface TensorRef {
  kind: 'tensor';
  ref: StorageRef;
  offset: number;
  size: number[];
  stride: number[];
}

function isStorageRef(v: PickleValue): v is StorageRef {
  return typeof v === 'object' && v !== null && (v as StorageRef).kind === 'storage';
}

/**
 * Turns a persistent id into a StorageRef, creating the storage the first time its key is seen
 * (so that tensors sharing a storage share one Storage object).
 */
function storageLoader(storages: Map<string, Storage>, littleEndian: boolean) {
  return (pid: PickleValue): StorageRef => {
    if (!isTuple(pid) || pid[0] !== 'storage' || (pid.length !== 5 && pid.length !== 6)) {
      throw new UserError(`the pickle refers to external data ${describe(pid)}, which is not a PyTorch storage`);
    }
    const [, type, key, , numel, view] = pid;
    if (!isPickleGlobal(type) || !Object.hasOwn(STORAGE_TYPES, type.name)) {
      throw new UserError(`a storage has type ${kindOf(type)}, expected one of torch.FloatStorage, torch.DoubleStorage, ...`);
    }
    if (typeof key !== 'string' || !isCount(numel)) throw new UserError(`a storage is described as ${describe(pid)}`);
    const { dtype, itemsize } = STORAGE_TYPES[type.name];
    let storage = storages.get(key);
    if (!storage) {
      storage = { key, dtype, itemsize, numel, littleEndian };
      storages.set(key, storage);
    } else if (storage.dtype !== dtype || storage.numel !== numel) {
      throw new UserError(`storage "${key}" is described twice, as ${storage.numel} ${storage.dtype} and as ${numel} ${dtype}`);
    }
    if (view === undefined || view === null) return { kind: 'storage', storage, offset: 0, numel };
    // Legacy storage views: (view_key, offset, view_size) into the root storage.
    if (!isTuple(view) || view.length !== 3 || !isCount(view[1]) || !isCount(view[2]) || view[1] + view[2] > numel) {
      throw new UserError(`storage "${key}" has a view ${describe(view)} that does not fit its ${numel} elements`);
    }
    return { kind: 'storage', storage, offset: view[1], numel: view[2] };
  };
}

/** The tensor a pickled value stands for, or undefined if it is not one. */
function asTensor(v: PickleValue): TensorRef | undefined {
  if (!isPickleCall(v)) return undefined;
  switch (v.global) {
    case 'torch._utils._rebuild_parameter':
    case 'torch._utils._rebuild_parameter_with_state':
      // (data, requires_grad, backward_hooks[, state]): a Parameter is its data.
      return asTensor(v.args[0]) ?? badCall(v);
    case 'torch._utils._rebuild_tensor':
    case 'torch._utils._rebuild_tensor_v2': {
      // (storage, storage_offset, size, stride[, requires_grad, backward_hooks[, metadata]])
      const [ref, offset, size, stride] = v.args;
      if (!isStorageRef(ref) || !isCount(offset) || !isCountTuple(size) || !isCountTuple(stride) || size.length !== stride.length) {
        return badCall(v);
      }
      return { kind: 'tensor', ref, offset, size: [...size], stride: [...stride] };
    }
    default:
      return undefined;
  }
}

function badCall(v: PickleCall): never {
  throw new UserError(`${v.global} is called with ${describe(v.args)}, not the arguments PyTorch writes`);
}

// ---------------------------------------------------------------------------------------------
// The two containers

function readZipPth(bytes: Uint8Array, options: PthOptions): PthFile {
  const archive = readZip(bytes);
  const byName = new Map<string, ZipEntry>(archive.entries.map((e) => [e.name, e]));
  const pickles = archive.entries.filter((e) => e.name === 'data.pkl' || e.name.endsWith('/data.pkl'));
  if (pickles.length === 0) {
    const names = archive.entries.slice(0, 5).map((e) => `"${e.name}"`).join(', ');
    throw new UserError(`zip archive has no data.pkl record, so it is not a PyTorch file (it holds ${archive.entries.length} records: ${names}${archive.entries.length > 5 ? ', ...' : ''})`);
  }
  // torch.save writes one `<archive>/data.pkl`; take the least nested one if there are several.
  pickles.sort((a, b) => a.name.split('/').length - b.name.split('/').length);
  const pkl = pickles[0];
  const prefix = pkl.name.slice(0, pkl.name.length - 'data.pkl'.length);

  let littleEndian = true;
  const byteorder = byName.get(`${prefix}byteorder`);
  if (byteorder) {
    const order = new TextDecoder().decode(zipEntryData(bytes, byteorder)).trim();
    if (order !== 'little' && order !== 'big') throw new UserError(`record "${byteorder.name}" says "${order}", expected "little" or "big"`);
    littleEndian = order === 'little';
  }

  const storages = new Map<string, Storage>();
  const { value } = readPickle(zipEntryData(bytes, pkl), { persistentLoad: storageLoader(storages, littleEndian) });
  for (const storage of storages.values()) {
    const entry = byName.get(`${prefix}data/${storage.key}`);
    if (!entry) throw new UserError(`storage "${storage.key}" has no record "${prefix}data/${storage.key}" in the archive`);
    const data = zipEntryData(bytes, entry);
    if (data.length < storage.numel * storage.itemsize) {
      throw new UserError(`record "${entry.name}" has ${data.length} bytes, but its storage needs ${storage.numel} ${storage.dtype} (${storage.numel * storage.itemsize} bytes)`);
    }
    storage.bytes = data;
  }
  return { format: 'pth-zip', ...stateDict(value, options) };
}

function readLegacyPth(bytes: Uint8Array, options: PthOptions): PthFile {
  let at = 0;
  const next = (what: string, persistentLoad?: (pid: PickleValue) => PickleValue): PickleValue => {
    try {
      const r = readPickle(bytes, { start: at, persistentLoad });
      at = r.end;
      return r.value;
    } catch (e) {
      // A refused global keeps its own message, the same in every format.
      if (e instanceof UserError && !(e instanceof RefusedGlobalError)) throw new UserError(`legacy .pth, ${what}: ${e.message}`);
      throw e;
    }
  };
  if (next('magic number') !== LEGACY_MAGIC) throw new UserError('legacy .pth: wrong magic number');
  const protocol = next('protocol version');
  if (protocol !== LEGACY_PROTOCOL) throw new UserError(`legacy .pth: protocol version ${String(protocol)}, expected ${LEGACY_PROTOCOL}`);
  const sysInfo = next('system information');
  if (sysInfo instanceof Map && sysInfo.get('little_endian') === false) {
    throw new UserError('legacy .pth written on a big-endian machine, which is not supported: re-save it with torch.save on a little-endian one');
  }
  const storages = new Map<string, Storage>();
  const value = next('state dict', storageLoader(storages, true));
  const keys = next('storage keys');
  if (!Array.isArray(keys) || !keys.every((k) => typeof k === 'string')) {
    throw new UserError(`legacy .pth: expected the list of storage keys after the state dict, found ${kindOf(keys)}`);
  }

  // Then, per key: int64 element count, raw bytes.
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (const key of keys as string[]) {
    const storage = storages.get(key);
    if (!storage) throw new UserError(`legacy .pth: storage "${key}" is listed but no tensor uses it`);
    if (at + 8 > bytes.length) throw new UserError(`legacy .pth is truncated: storage "${key}" should start at byte ${at}, past the end (${bytes.length} bytes)`);
    const count = view.getBigInt64(at, true);
    if (count !== BigInt(storage.numel)) {
      throw new UserError(`legacy .pth: storage "${key}" has ${count} elements in the data but ${storage.numel} in the pickle`);
    }
    const start = at + 8;
    const end = start + storage.numel * storage.itemsize;
    if (end > bytes.length) throw new UserError(`legacy .pth is truncated: storage "${key}" needs bytes ${start}..${end}, the file has ${bytes.length}`);
    storage.bytes = bytes.subarray(start, end);
    at = end;
  }
  for (const storage of storages.values()) {
    if (!storage.bytes) throw new UserError(`legacy .pth: storage "${storage.key}" is used but its data is not in the file`);
  }
  return { format: 'pth-legacy', ...stateDict(value, options) };
}

// ---------------------------------------------------------------------------------------------
// From the pickled object to float32 tensors

/** Keys under which training scripts commonly nest the state dict in a checkpoint. */
const NESTED_KEYS = ['state_dict', 'model_state_dict', 'model'];

function stateDict(value: PickleValue, options: PthOptions): { weights: Map<string, Tensor<Float32Array>>; notes: string[] } {
  const notes: string[] = [];
  let dict = value;
  if (dict instanceof Map && ![...dict.values()].some((v) => asTensor(v))) {
    const key = NESTED_KEYS.find((k) => dict instanceof Map && dict.get(k) instanceof Map);
    if (key !== undefined) {
      dict = (dict as Map<PickleValue, PickleValue>).get(key);
      notes.push(`the state dict is the checkpoint's "${key}" entry`);
    }
  }
  if (!(dict instanceof Map)) {
    throw new UserError(`the file holds ${kindOf(dict)}, not a state dict (a dict of tensors): save model.state_dict()`);
  }

  const tensors: [string, TensorRef][] = [];
  const skipped: string[] = [];
  for (const [key, v] of dict) {
    if (typeof key !== 'string') throw new UserError(`the state dict has a key that is ${kindOf(key)}, not a string`);
    const t = asTensor(v);
    if (!t) {
      skipped.push(`"${key}" (${kindOf(v)})`);
      continue;
    }
    if (!FLOAT_DTYPES.has(t.ref.storage.dtype)) {
      skipped.push(`"${key}" (${t.ref.storage.dtype})`);
      continue;
    }
    tensors.push([key, t]);
  }
  if (skipped.length > 0) notes.push(`skipped ${skipped.length} entries that are not float tensors: ${skipped.join(', ')}`);
  if (tensors.length === 0) throw new UserError(`the state dict has no float tensors (${dict.size} entries)`);

  // nn.DataParallel saves every key as module.<key>.
  let names = tensors.map(([k]) => k);
  if (names.every((k) => k.startsWith('module.'))) {
    names = names.map((k) => k.slice('module.'.length));
    notes.push('removed the "module." prefix (nn.DataParallel) from every key');
  }

  const converted = new Set<StorageDtype>();
  const total = tensors.reduce((n, [, t]) => n + sizeOf(t.size) * t.ref.storage.itemsize, 0);
  let done = 0;
  const weights = new Map<string, Tensor<Float32Array>>();
  tensors.forEach(([key, t], i) => {
    const data = materialise(key, t);
    if (t.ref.storage.dtype !== 'float32') converted.add(t.ref.storage.dtype);
    weights.set(names[i], { data, shape: t.size });
    done += data.length * t.ref.storage.itemsize;
    options.onProgress?.(done, total);
  });
  if (converted.size > 0) notes.push(`converted the ${[...converted].join(', ')} tensors to float32`);
  return { weights, notes };
}

const HOST_IS_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** The tensor's elements in C order as float32: a view when possible, else a copy. */
function materialise(key: string, t: TensorRef): Float32Array {
  const { ref, offset, size, stride } = t;
  const storage = ref.storage;
  const n = sizeOf(size);
  if (n === 0) return new Float32Array(0);
  // The last element a strided tensor reaches must lie inside its storage (slice).
  let last = offset;
  for (let d = 0; d < size.length; d++) last += (size[d] - 1) * stride[d];
  if (last >= ref.numel) {
    throw new UserError(
      `tensor "${key}" ${formatShape(size)} with offset ${offset} and strides [${stride.join(', ')}] reaches element ${last} ` +
        `of a storage of ${ref.numel}`,
    );
  }
  const start = ref.offset + offset; // in elements of the root storage
  const bytes = storage.bytes as Uint8Array;

  if (isContiguous(size, stride) && storage.dtype === 'float32' && storage.littleEndian && HOST_IS_LITTLE_ENDIAN) {
    const byteOffset = bytes.byteOffset + start * 4;
    if (byteOffset % 4 === 0) return new Float32Array(bytes.buffer, byteOffset, n);
  }
  const all = wholeStorage(storage);
  // Contiguous: a window on the (converted or viewed) storage, shared with the other tensors on it.
  if (isContiguous(size, stride)) return all.subarray(start, start + n);
  // Strided: walk the index space in C order.
  const out = new Float32Array(n);
  const rank = size.length;
  const index = new Array<number>(rank).fill(0);
  let src = start;
  for (let i = 0; i < n; i++) {
    out[i] = all[src];
    for (let d = rank - 1; d >= 0; d--) {
      index[d]++;
      src += stride[d];
      if (index[d] < size[d]) break;
      src -= size[d] * stride[d];
      index[d] = 0;
    }
  }
  return out;
}

/** Strides of a C-order tensor (dimensions of size 1 may have any stride). */
function isContiguous(size: number[], stride: number[]): boolean {
  let expected = 1;
  for (let d = size.length - 1; d >= 0; d--) {
    if (size[d] !== 1 && stride[d] !== expected) return false;
    expected *= size[d];
  }
  return true;
}

/** The whole root storage as float32 (a view when it already is, else converted once and kept). */
function wholeStorage(s: Storage): Float32Array {
  if (s.converted) return s.converted;
  const bytes = s.bytes as Uint8Array;
  const n = s.numel;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const le = s.littleEndian;
  let out: Float32Array;
  if (s.dtype === 'float32' && le && HOST_IS_LITTLE_ENDIAN) {
    // A view when aligned; otherwise (legacy files do not align) one memcpy into an aligned buffer.
    out = bytes.byteOffset % 4 === 0
      ? new Float32Array(bytes.buffer, bytes.byteOffset, n)
      : new Float32Array(Uint8Array.prototype.slice.call(bytes, 0, 4 * n).buffer, 0, n);
  } else {
    out = new Float32Array(n);
    switch (s.dtype) {
      case 'float32':
        for (let i = 0; i < n; i++) out[i] = view.getFloat32(4 * i, le);
        break;
      case 'float64':
        for (let i = 0; i < n; i++) out[i] = view.getFloat64(8 * i, le); // rounds to nearest float32
        break;
      case 'float16':
        for (let i = 0; i < n; i++) out[i] = halfToFloat(view.getUint16(2 * i, le));
        break;
      case 'bfloat16': {
        // bfloat16 is the top half of a float32.
        const bits = new Uint32Array(out.buffer);
        for (let i = 0; i < n; i++) bits[i] = view.getUint16(2 * i, le) << 16;
        break;
      }
      default:
        throw new Error(`wholeStorage: ${s.dtype} is not a float dtype`);
    }
  }
  s.converted = out;
  return out;
}

/** IEEE 754 binary16 to a number (exact: every half is a float32). */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const fraction = h & 0x3ff;
  if (exponent === 0) return sign * fraction * 2 ** -24; // zero and subnormals
  if (exponent === 0x1f) return fraction ? NaN : sign * Infinity;
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}

function isCount(v: PickleValue): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

function isCountTuple(v: PickleValue): v is number[] {
  return Array.isArray(v) && v.every(isCount);
}

/** A short Python-like rendering of a pickled value, for messages. */
function describe(v: PickleValue, depth = 0): string {
  if (v === null) return 'None';
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}...` : v);
  if (typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) {
    if (depth > 1) return Object.isFrozen(v) ? '(...)' : '[...]';
    const inner = v.slice(0, 6).map((x) => describe(x, depth + 1)).join(', ') + (v.length > 6 ? ', ...' : '');
    return Object.isFrozen(v) ? `(${inner}${v.length === 1 ? ',' : ''})` : `[${inner}]`;
  }
  if (isPickleGlobal(v)) return v.name;
  if (isStorageRef(v)) return `<${v.storage.dtype} storage "${v.storage.key}">`;
  return kindOf(v);
}
