/** Shared by the format tests: fixture bytes, UserError expectations, weight comparison. */
import { readFileSync } from 'node:fs';
import { expect } from 'vitest';
import { UserError } from '../../src/errors.js';
import type { Tensor } from '../../src/tensor.js';

/** The bytes of fixtures/weights/<name>, as a Uint8Array. */
export const weightFixture = (name: string): Uint8Array =>
  new Uint8Array(readFileSync(new URL(`../../fixtures/weights/${name}`, import.meta.url)));

/** Runs fn, expects a UserError whose message is `message` (or matches it), and returns it. */
export function expectUserError(fn: () => unknown, message: string | RegExp): UserError {
  let thrown: unknown;
  try {
    fn();
  } catch (e) {
    thrown = e;
  }
  expect(thrown, `expected UserError ${message}`).toBeInstanceOf(UserError);
  if (typeof message === 'string') expect((thrown as Error).message).toBe(message);
  else expect((thrown as Error).message).toMatch(message);
  return thrown as UserError;
}

/** Same keys in the same order, same shapes, same float32 bit patterns. */
export function expectSameWeights(got: Map<string, Tensor>, want: Map<string, Tensor>): void {
  expect([...got.keys()]).toEqual([...want.keys()]);
  for (const [key, w] of want) {
    const g = got.get(key) as Tensor;
    expect(g.shape, key).toEqual(w.shape);
    expect(new Uint32Array(g.data.slice().buffer), key).toEqual(new Uint32Array(w.data.slice().buffer));
  }
}
