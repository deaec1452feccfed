/**
 * A pickle *reader*: it walks the opcodes of a Python pickle as a stack machine and builds plain
 * JavaScript values. It never calls anything. Python's unpickler imports whatever module and
 * calls whatever function the pickle names (that is how `os.system` gets run from a .pth file);
 * this reader knows a short allow-list of names, refuses every other name the moment the pickle
 * asks for it, and turns a "call" of an allowed name into an inert record for the caller
 * (pth.ts) to interpret.
 *
 * Values:
 *   None -> null, True/False -> boolean, int -> number (bigint beyond 2^53), float -> number,
 *   str -> string, bytes -> Uint8Array (a view), list -> array, tuple -> frozen array,
 *   dict and collections.OrderedDict -> Map, an allowed global -> PickleGlobal,
 *   calling an allowed global (REDUCE) -> PickleCall { global, args }, and a persistent id
 *   (BINPERSID) -> whatever the caller's persistentLoad returns for it.
 *
 * Opcodes (Python's Lib/pickletools.py documents each): everything torch.save writes with its
 * default protocol 2, in both the zip and the legacy format, by Python 3 and by Python 2:
 *   PROTO STOP MARK  EMPTY_TUPLE TUPLE TUPLE1 TUPLE2 TUPLE3  EMPTY_LIST LIST APPEND APPENDS
 *   EMPTY_DICT DICT SETITEM SETITEMS  BINUNICODE SHORT_BINSTRING BINSTRING BINBYTES SHORT_BINBYTES
 *   BININT BININT1 BININT2 LONG1  NONE NEWTRUE NEWFALSE BINFLOAT  BINPUT LONG_BINPUT BINGET
 *   LONG_BINGET  GLOBAL REDUCE BUILD BINPERSID
 * plus what protocols 3 to 5 add for the same data (torch.save(..., pickle_protocol=4)):
 *   FRAME SHORT_BINUNICODE BINUNICODE8 MEMOIZE STACK_GLOBAL.
 * Every other opcode is refused by name: the object-building ones (INST, OBJ, NEWOBJ, EXT1...)
 * because they, too, import and call, the rest because no state dict needs them.
 *
 * BUILD (Python's `__setstate__`) only annotates: on an OrderedDict it carries PyTorch's
 * `_metadata` (module versions), which we drop; on a PickleCall it is kept as `state`.
 */

import { UserError } from '../errors.js';

export type PickleValue = unknown;

/** A global the pickle named (GLOBAL / STACK_GLOBAL) that is on the allow-list. */
export interface PickleGlobal {
  readonly kind: 'global';
  /** `module.name`, e.g. `torch.FloatStorage`. */
  readonly name: string;
}

/** What `global(*args)` would have returned in Python; here only a record of the call. */
export interface PickleCall {
  readonly kind: 'call';
  readonly global: string;
  readonly args: readonly PickleValue[];
  /** The argument of a BUILD applied to the result, if any. */
  state?: PickleValue;
}

/**
 * The only globals a pickle may name: what PyTorch state dicts need, in the zip format (torch
 * 1.6+) and the legacy format (0.1.10 to 1.5, `_rebuild_tensor` before 0.4).
 */
export const ALLOWED_GLOBALS: ReadonlySet<string> = new Set([
  'collections.OrderedDict',
  'torch._utils._rebuild_tensor',
  'torch._utils._rebuild_tensor_v2',
  'torch._utils._rebuild_parameter',
  'torch._utils._rebuild_parameter_with_state',
  ...['Float', 'Double', 'Half', 'BFloat16', 'Long', 'Int', 'Short', 'Char', 'Byte', 'Bool'].map((t) => `torch.${t}Storage`),
]);

export interface PickleOptions {
  /** Byte offset of the pickle's first opcode in `bytes` (legacy .pth files hold several). */
  start?: number;
  /** Resolves a persistent id (BINPERSID), e.g. PyTorch's ('storage', type, key, location, numel). */
  persistentLoad?: (pid: PickleValue) => PickleValue;
}

export interface PickleResult {
  value: PickleValue;
  /** Offset just past the STOP opcode. */
  end: number;
}

export function isPickleGlobal(v: PickleValue): v is PickleGlobal {
  return typeof v === 'object' && v !== null && (v as PickleGlobal).kind === 'global';
}

export function isPickleCall(v: PickleValue): v is PickleCall {
  return typeof v === 'object' && v !== null && (v as PickleCall).kind === 'call';
}

/** Tuples are frozen arrays, lists are ordinary ones. */
export function isTuple(v: PickleValue): v is readonly PickleValue[] {
  return Array.isArray(v) && Object.isFrozen(v);
}

/** The pickle named a global outside ALLOWED_GLOBALS; nothing after that opcode was read. */
export class RefusedGlobalError extends UserError {
  constructor(readonly global: string) {
    super(
      `pickle asks for global "${global}", which is not allowed: refusing to load ` +
        '(pickle files can run code; only PyTorch state dicts are accepted)',
    );
  }
}

// Opcode bytes, as in CPython's Lib/pickle.py.
const OP = {
  MARK: 0x28, STOP: 0x2e, POP: 0x30, POP_MARK: 0x31, DUP: 0x32, FLOAT: 0x46, INT: 0x49, BININT: 0x4a,
  BININT1: 0x4b, LONG: 0x4c, BININT2: 0x4d, NONE: 0x4e, PERSID: 0x50, BINPERSID: 0x51, REDUCE: 0x52,
  STRING: 0x53, BINSTRING: 0x54, SHORT_BINSTRING: 0x55, UNICODE: 0x56, BINUNICODE: 0x58, APPEND: 0x61,
  BUILD: 0x62, GLOBAL: 0x63, DICT: 0x64, EMPTY_DICT: 0x7d, APPENDS: 0x65, GET: 0x67, BINGET: 0x68,
  INST: 0x69, LONG_BINGET: 0x6a, LIST: 0x6c, EMPTY_LIST: 0x5d, OBJ: 0x6f, PUT: 0x70, BINPUT: 0x71,
  LONG_BINPUT: 0x72, SETITEM: 0x73, TUPLE: 0x74, EMPTY_TUPLE: 0x29, SETITEMS: 0x75, BINFLOAT: 0x47,
  PROTO: 0x80, NEWOBJ: 0x81, EXT1: 0x82, EXT2: 0x83, EXT4: 0x84, TUPLE1: 0x85, TUPLE2: 0x86, TUPLE3: 0x87,
  NEWTRUE: 0x88, NEWFALSE: 0x89, LONG1: 0x8a, LONG4: 0x8b, BINBYTES: 0x42, SHORT_BINBYTES: 0x43,
  SHORT_BINUNICODE: 0x8c, BINUNICODE8: 0x8d, BINBYTES8: 0x8e, EMPTY_SET: 0x8f, ADDITEMS: 0x90,
  FROZENSET: 0x91, NEWOBJ_EX: 0x92, STACK_GLOBAL: 0x93, MEMOIZE: 0x94, FRAME: 0x95, BYTEARRAY8: 0x96,
  NEXT_BUFFER: 0x97, READONLY_BUFFER: 0x98,
} as const;

const OP_NAMES = new Map<number, string>(Object.entries(OP).map(([name, code]) => [code, name]));

function opName(code: number): string {
  const hex = `0x${code.toString(16).padStart(2, '0')}`;
  const name = OP_NAMES.get(code);
  return name ? `${hex} (${name})` : hex;
}

const utf8 = new TextDecoder('utf-8');

/**
 * Reads one pickle starting at `options.start` (default 0) and returns its value and where it
 * ended. Throws UserError for a refused global, an unsupported opcode, or damaged data.
 */
export function readPickle(bytes: Uint8Array, options: PickleOptions = {}): PickleResult {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = options.start ?? 0;
  // The stack, and the stack of stacks saved by MARK (as CPython's _Unpickler keeps them).
  let stack: PickleValue[] = [];
  const metastack: PickleValue[][] = [];
  const memo = new Map<number, PickleValue>();
  let opStart = pos;
  let opCode = 0;

  const need = (n: number): void => {
    if (pos + n > bytes.length) {
      throw new UserError(
        `pickle is truncated: ${opName(opCode)} at byte ${opStart} needs ${n} more bytes, only ${bytes.length - pos} remain`,
      );
    }
  };
  const u8 = (): number => {
    need(1);
    return bytes[pos++];
  };
  const u16 = (): number => {
    need(2);
    const v = view.getUint16(pos, true);
    pos += 2;
    return v;
  };
  const u32 = (): number => {
    need(4);
    const v = view.getUint32(pos, true);
    pos += 4;
    return v;
  };
  /** A u64 length; one beyond 2^53 is inexact but still longer than any data, so take() refuses it. */
  const u64 = (): number => {
    need(8);
    const v = view.getBigUint64(pos, true);
    pos += 8;
    return Number(v);
  };
  const take = (n: number): Uint8Array => {
    need(n);
    const b = bytes.subarray(pos, pos + n);
    pos += n;
    return b;
  };
  /** A newline-terminated ASCII line (the module and name operands of GLOBAL). */
  const line = (): string => {
    const end = bytes.indexOf(0x0a, pos);
    if (end < 0) need(bytes.length - pos + 1);
    if (end - pos > 1000) throw corrupt('has an operand line over 1000 bytes long');
    const s = new TextDecoder('latin1').decode(bytes.subarray(pos, end));
    pos = end + 1;
    return s;
  };

  const corrupt = (what: string): UserError => new UserError(`corrupt pickle: ${opName(opCode)} at byte ${opStart} ${what}`);
  const pop = (): PickleValue => {
    if (stack.length === 0) throw corrupt('finds the stack empty');
    return stack.pop();
  };
  const top = (): PickleValue => {
    if (stack.length === 0) throw corrupt('finds the stack empty');
    return stack[stack.length - 1];
  };
  /** Everything pushed since the last MARK, restoring the stack from before it. */
  const popMark = (): PickleValue[] => {
    const items = stack;
    const saved = metastack.pop();
    if (!saved) throw corrupt('has no MARK to pop to');
    stack = saved;
    return items;
  };
  const tuple = (items: PickleValue[]): readonly PickleValue[] => Object.freeze(items);
  const globalRef = (module: string, name: string): PickleGlobal => {
    const full = `${module}.${name}`;
    if (!ALLOWED_GLOBALS.has(full)) throw new RefusedGlobalError(full);
    return { kind: 'global', name: full };
  };
  const setItems = (dict: PickleValue, items: PickleValue[]): void => {
    if (!(dict instanceof Map)) throw corrupt(`sets items on ${kindOf(dict)}, not a dict`);
    if (items.length % 2 !== 0) throw corrupt('has a key without a value');
    for (let i = 0; i < items.length; i += 2) dict.set(items[i], items[i + 1]);
  };
  const append = (list: PickleValue, items: PickleValue[]): void => {
    if (!Array.isArray(list) || Object.isFrozen(list)) throw corrupt(`appends to ${kindOf(list)}, not a list`);
    for (const item of items) list.push(item);
  };
  const number = (v: bigint): number | bigint =>
    v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;

  for (;;) {
    if (pos >= bytes.length) {
      throw new UserError(`pickle is truncated: no STOP opcode before the end of the data (byte ${bytes.length})`);
    }
    opStart = pos;
    opCode = bytes[pos++];
    switch (opCode) {
      case OP.PROTO: {
        const version = u8();
        if (version > 5) throw new UserError(`pickle protocol ${version} is not supported (at most 5)`);
        break;
      }
      case OP.FRAME:
        u64(); // a length hint for buffered readers; we have all the bytes already
        break;
      case OP.STOP:
        return { value: pop(), end: pos };

      case OP.MARK:
        metastack.push(stack);
        stack = [];
        break;
      case OP.EMPTY_TUPLE:
        stack.push(tuple([]));
        break;
      case OP.TUPLE: {
        // Pop first: `stack.push(f())` would look up `stack` before f() replaces it.
        const items = popMark();
        stack.push(tuple(items));
        break;
      }
      case OP.TUPLE1: {
        const a = pop();
        stack.push(tuple([a]));
        break;
      }
      case OP.TUPLE2: {
        const b = pop();
        const a = pop();
        stack.push(tuple([a, b]));
        break;
      }
      case OP.TUPLE3: {
        const c = pop();
        const b = pop();
        const a = pop();
        stack.push(tuple([a, b, c]));
        break;
      }
      case OP.EMPTY_LIST:
        stack.push([]);
        break;
      case OP.LIST: {
        const items = popMark();
        stack.push(items);
        break;
      }
      case OP.APPEND: {
        const item = pop();
        append(top(), [item]);
        break;
      }
      case OP.APPENDS: {
        const items = popMark();
        append(top(), items);
        break;
      }
      case OP.EMPTY_DICT:
        stack.push(new Map());
        break;
      case OP.DICT: {
        const dict = new Map();
        setItems(dict, popMark());
        stack.push(dict);
        break;
      }
      case OP.SETITEM: {
        const value = pop();
        const key = pop();
        setItems(top(), [key, value]);
        break;
      }
      case OP.SETITEMS: {
        const items = popMark();
        setItems(top(), items);
        break;
      }

      case OP.BINUNICODE:
        stack.push(utf8.decode(take(u32())));
        break;
      case OP.SHORT_BINUNICODE:
        stack.push(utf8.decode(take(u8())));
        break;
      case OP.BINUNICODE8:
        stack.push(utf8.decode(take(u64())));
        break;
      // Python 2's str: PyTorch 0.x files saved under Python 2 use it for keys and 'storage'.
      case OP.BINSTRING:
        stack.push(utf8.decode(take(u32())));
        break;
      case OP.SHORT_BINSTRING:
        stack.push(utf8.decode(take(u8())));
        break;
      case OP.BINBYTES:
        stack.push(take(u32()));
        break;
      case OP.SHORT_BINBYTES:
        stack.push(take(u8()));
        break;

      case OP.BININT: {
        need(4);
        stack.push(view.getInt32(pos, true));
        pos += 4;
        break;
      }
      case OP.BININT1:
        stack.push(u8());
        break;
      case OP.BININT2:
        stack.push(u16());
        break;
      case OP.LONG1: {
        // n bytes of little-endian two's complement.
        const b = take(u8());
        let v = 0n;
        for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]);
        if (b.length > 0 && b[b.length - 1] & 0x80) v -= 1n << BigInt(8 * b.length);
        stack.push(number(v));
        break;
      }
      case OP.NONE:
        stack.push(null);
        break;
      case OP.NEWTRUE:
        stack.push(true);
        break;
      case OP.NEWFALSE:
        stack.push(false);
        break;
      case OP.BINFLOAT: {
        need(8);
        stack.push(view.getFloat64(pos, false)); // big-endian, unlike everything else in pickle
        pos += 8;
        break;
      }

      case OP.BINPUT:
        memo.set(u8(), top());
        break;
      case OP.LONG_BINPUT:
        memo.set(u32(), top());
        break;
      case OP.MEMOIZE:
        memo.set(memo.size, top());
        break;
      case OP.BINGET:
      case OP.LONG_BINGET: {
        const index = opCode === OP.BINGET ? u8() : u32();
        if (!memo.has(index)) throw corrupt(`reads memo entry ${index}, which was never stored`);
        stack.push(memo.get(index));
        break;
      }

      case OP.GLOBAL: {
        const module = line();
        const name = line();
        stack.push(globalRef(module, name));
        break;
      }
      case OP.STACK_GLOBAL: {
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') throw corrupt('needs two strings');
        stack.push(globalRef(module, name));
        break;
      }
      case OP.INST: {
        // INST imports and calls in one step: refuse the name as GLOBAL would, then the opcode.
        globalRef(line(), line());
        throw unsupported(opCode, opStart);
      }
      case OP.REDUCE: {
        const args = pop();
        const callable = pop();
        if (!isPickleGlobal(callable)) throw corrupt(`calls ${kindOf(callable)}, not a global`);
        if (!Array.isArray(args)) throw corrupt(`calls ${callable.name} with ${kindOf(args)}, not a tuple of arguments`);
        stack.push(call(callable.name, args, corrupt));
        break;
      }
      case OP.BUILD: {
        const state = pop();
        const obj = top();
        if (isPickleCall(obj)) obj.state = state;
        else if (!(obj instanceof Map)) throw corrupt(`sets the state of ${kindOf(obj)}`);
        break;
      }
      case OP.BINPERSID: {
        const pid = pop();
        if (!options.persistentLoad) throw corrupt('refers to external data (a persistent id), which this pickle may not do');
        stack.push(options.persistentLoad(pid));
        break;
      }

      default:
        throw unsupported(opCode, opStart);
    }
  }
}

function unsupported(code: number, at: number): UserError {
  return new UserError(`pickle opcode ${opName(code)} at byte ${at} is not supported (only the opcodes of PyTorch state dicts are)`);
}

/** REDUCE of an allowed global: OrderedDict becomes a Map, anything else a PickleCall record. */
function call(name: string, args: readonly PickleValue[], corrupt: (what: string) => UserError): PickleValue {
  if (name === 'collections.OrderedDict') {
    const dict = new Map<PickleValue, PickleValue>();
    if (args.length === 0) return dict;
    // Python 2's OrderedDict.__reduce__ passes its items as a list of [key, value] pairs.
    const items = args[0];
    if (args.length === 1 && Array.isArray(items)) {
      for (const pair of items) {
        if (!Array.isArray(pair) || pair.length !== 2) throw corrupt('builds an OrderedDict from something that is not (key, value) pairs');
        dict.set(pair[0], pair[1]);
      }
      return dict;
    }
    throw corrupt('builds an OrderedDict from arguments it cannot take');
  }
  return { kind: 'call', global: name, args };
}

export function kindOf(v: PickleValue): string {
  if (v === null) return 'None';
  if (Array.isArray(v)) return Object.isFrozen(v) ? 'a tuple' : 'a list';
  if (v instanceof Map) return 'a dict';
  if (v instanceof Uint8Array) return 'bytes';
  if (isPickleGlobal(v)) return v.name;
  if (isPickleCall(v)) return `the result of ${v.global}(...)`;
  if (typeof v === 'object') return 'an object';
  return `a ${typeof v}`;
}
