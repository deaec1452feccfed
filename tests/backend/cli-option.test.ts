/**
 * --backend and --threads (src/cli/common.ts): wasm by default, one backend per thread count per
 * process (its packed weights dropped when handed out again), refusals as UserErrors.
 */

import { describe, expect, it } from 'vitest';
import { BACKEND_OPTION, THREADS_OPTION, backendFromOption } from '../../src/cli/common.js';
import { UserError } from '../../src/errors.js';
import { referenceBackend } from '../../src/backend/reference.js';
import type { WasmBackend } from '../../src/backend/wasm/backend.js';
import { defaultThreads } from '../../src/backend/wasm/node-pool.js';

describe('--backend and --threads', () => {
  it('default to wasm on every core; reference on request or when a command leaves the option unset', () => {
    expect(BACKEND_OPTION.default).toBe('wasm');
    expect(BACKEND_OPTION.choices).toEqual(['reference', 'wasm']);
    expect(THREADS_OPTION.type).toBe('integer');
    const wasm = backendFromOption('wasm') as WasmBackend;
    expect([wasm.name, wasm.threads]).toEqual(['wasm', defaultThreads()]);
    expect(backendFromOption('reference')).toBe(referenceBackend);
    expect(backendFromOption(undefined)).toBe(referenceBackend);
  });

  it('keeps one wasm backend per thread count, dropping the weights it packed for the last caller', () => {
    const a = backendFromOption('wasm', 1) as WasmBackend;
    expect(a.threads).toBe(1);
    const x = { data: new Float32Array([1, 2]), shape: [1, 2] }, w = { data: new Float32Array([1, 1]), shape: [1, 2] };
    expect(a.linearForward(x, w, null).y.data[0]).toBe(3);
    w.data[0] = 2; // another command's weights may reuse nothing, but in-place changes must show
    const b = backendFromOption('wasm', 1);
    expect(b).toBe(a);
    expect(b.linearForward(x, w, null).y.data[0]).toBe(4);
  });

  it('refuses bad values with a UserError naming the flag', () => {
    expect(() => backendFromOption('webgpu')).toThrow(UserError);
    expect(() => backendFromOption('webgpu')).toThrow(/unknown backend "webgpu": choose wasm or reference/);
    expect(() => backendFromOption('wasm', 0)).toThrow(/--threads must be an integer from 1 to 256, got 0/);
    expect(() => backendFromOption('wasm', 2.5)).toThrow(UserError);
    expect(() => backendFromOption('reference', 2)).toThrow(/--threads is for --backend wasm/);
  });
});
