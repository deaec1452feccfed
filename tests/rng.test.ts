/**
 * The seeded counter-based generator (src/rng.ts): the documented formula, determinism, state
 * save/restore continuing the same stream, uniform in (0, 1) with the right moments, counters
 * beyond 2^32, normal/below/split, seed validation.
 */

import { describe, it, expect } from 'vitest';
import { Rng, mix32 } from '../src/rng.js';

const TWO32 = 2 ** 32;

/** Draw `i` of stream `seed`, straight from the formula in the doc comment. */
function bitsAt(seed: number, i: number): number {
  const key = mix32(seed ^ 0x9e3779b9);
  return mix32((i % TWO32) ^ mix32(Math.floor(i / TWO32) ^ key));
}

function draws(rng: Rng, n: number): number[] {
  return Array.from({ length: n }, () => rng.nextUint32());
}

describe('mix32', () => {
  it('is lowbias32 on unsigned 32-bit integers', () => {
    expect(mix32(0)).toBe(0);
    for (const x of [1, 2, 0x7fffffff, 0x80000000, 0xffffffff, 123456789]) {
      // the steps written out with BigInt arithmetic modulo 2^32
      let v = BigInt(x);
      const M = (1n << 32n) - 1n;
      v ^= v >> 16n;
      v = (v * 0x7feb352dn) & M;
      v ^= v >> 15n;
      v = (v * 0x846ca68bn) & M;
      v ^= v >> 16n;
      expect(mix32(x)).toBe(Number(v));
    }
  });

  it('has no collisions on 100000 consecutive inputs (it is a bijection)', () => {
    const seen = new Set<number>();
    for (let i = 0; i < 100_000; i++) seen.add(mix32(i));
    expect(seen.size).toBe(100_000);
  });
});

describe('Rng', () => {
  it('draw i of seed s is the documented function of (s, i)', () => {
    for (const seed of [0, 1, 42, 0xffffffff]) {
      const rng = new Rng(seed);
      for (let i = 0; i < 100; i++) expect(rng.nextUint32()).toBe(bitsAt(seed, i));
    }
  });

  it('is deterministic for a seed, and different seeds give different streams', () => {
    expect(draws(new Rng(42), 1000)).toEqual(draws(new Rng(42), 1000));
    const a = draws(new Rng(42), 1000);
    const b = draws(new Rng(43), 1000);
    expect(a.filter((v, i) => v === b[i]).length).toBeLessThan(3);
  });

  it('state save/restore continues the same stream; a saved state is a copy', () => {
    const rng = new Rng(2024);
    draws(rng, 37);
    rng.normal();
    const saved = rng.state();
    const expected = [...draws(rng, 50), rng.uniform(), rng.normal(), rng.below(1000)];
    expect(saved.counter).toBe(37 + 2); // normal() consumed two draws
    const restored = Rng.fromState(saved);
    expect([...draws(restored, 50), restored.uniform(), restored.normal(), restored.below(1000)]).toEqual(expected);
    expect(restored.state()).toEqual(rng.state());
    // and the state survives a JSON round trip (checkpoints)
    const viaJson = Rng.fromState(JSON.parse(JSON.stringify(saved)));
    expect(draws(viaJson, 50)).toEqual(expected.slice(0, 50));
  });

  it('starting at counter i equals skipping i draws', () => {
    const skipped = new Rng(5);
    draws(skipped, 1234);
    expect(draws(new Rng(5, 1234), 20)).toEqual(draws(skipped, 20));
  });

  it('uniform is ((bits >>> 8) + 0.5) / 2^24, strictly inside (0, 1), with mean 1/2 and variance 1/12', () => {
    const bits = new Rng(9);
    const rng = new Rng(9);
    const n = 200_000;
    let sum = 0;
    let sumSq = 0;
    let min = 1;
    let max = 0;
    const bins = new Array(16).fill(0);
    for (let i = 0; i < n; i++) {
      const u = rng.uniform();
      if (i < 1000) expect(u).toBe(((bits.nextUint32() >>> 8) + 0.5) / 2 ** 24);
      sum += u;
      sumSq += u * u;
      min = Math.min(min, u);
      max = Math.max(max, u);
      bins[Math.floor(u * 16)]++;
    }
    expect(min).toBeGreaterThan(0);
    expect(max).toBeLessThan(1);
    // the extreme values the formula can produce are still inside (0, 1)
    expect((0 + 0.5) / 2 ** 24).toBeGreaterThan(0);
    expect((2 ** 24 - 1 + 0.5) / 2 ** 24).toBeLessThan(1);
    const mean = sum / n;
    expect(Math.abs(mean - 0.5)).toBeLessThan(5 * Math.sqrt(1 / 12 / n));
    expect(Math.abs(sumSq / n - mean * mean - 1 / 12)).toBeLessThan(0.002);
    // chi-square with 15 degrees of freedom: 40 is far in the tail (p < 0.001)
    const e = n / 16;
    const chi2 = bins.reduce((acc, o) => acc + (o - e) ** 2 / e, 0);
    expect(chi2).toBeLessThan(40);
  });

  it('counters beyond 2^32 work: no wrap-around, exact increments across 2^32', () => {
    const seed = 77;
    // the draw at 2^32 + i is the formula's, and differs from the draw at i
    const high = new Rng(seed, TWO32 + 5);
    const v = high.nextUint32();
    expect(v).toBe(bitsAt(seed, TWO32 + 5));
    expect(draws(new Rng(seed, TWO32), 100)).not.toEqual(draws(new Rng(seed, 0), 100));
    // stepping over 2^32 - 1 -> 2^32 -> 2^32 + 1
    const edge = new Rng(seed, TWO32 - 1);
    const across = draws(edge, 3);
    expect(across).toEqual([bitsAt(seed, TWO32 - 1), bitsAt(seed, TWO32), bitsAt(seed, TWO32 + 1)]);
    expect(edge.counter).toBe(TWO32 + 2);
    expect(across[1]).toBe(new Rng(seed, TWO32).nextUint32());
    // far counters (2^45) stay exact and restorable
    const far = new Rng(seed, 2 ** 45 + 3);
    const farDraws = draws(far, 4);
    expect(farDraws[0]).toBe(bitsAt(seed, 2 ** 45 + 3));
    expect(far.state()).toEqual({ seed, counter: 2 ** 45 + 7 });
    expect(draws(Rng.fromState({ seed, counter: 2 ** 45 + 5 }), 2)).toEqual(farDraws.slice(2));
  });

  it('normal() is standard normal (moments with a fixed seed) and uses two draws', () => {
    const rng = new Rng(31);
    const n = 100_000;
    let s = 0;
    let s2 = 0;
    let s4 = 0;
    for (let i = 0; i < n; i++) {
      const z = rng.normal();
      s += z;
      s2 += z * z;
      s4 += z ** 4;
    }
    expect(rng.counter).toBe(2 * n);
    expect(Math.abs(s / n)).toBeLessThan(5 / Math.sqrt(n));
    expect(Math.abs(s2 / n - 1)).toBeLessThan(5 * Math.sqrt(2 / n));
    expect(Math.abs(s4 / n - 3)).toBeLessThan(5 * Math.sqrt(96 / n));
  });

  it('below(n) gives every integer in [0, n) about equally often', () => {
    const rng = new Rng(8);
    const counts = new Array(10).fill(0);
    let outside = 0;
    for (let i = 0; i < 50_000; i++) {
      const k = rng.below(10);
      if (Number.isInteger(k) && k >= 0 && k < 10) counts[k]++;
      else outside++;
    }
    expect(outside).toBe(0);
    for (const c of counts) expect(Math.abs(c - 5000)).toBeLessThan(5 * Math.sqrt(50_000 * 0.1 * 0.9));
  });

  it('split() seeds a child from the next draw, deterministically', () => {
    const parent = new Rng(3);
    const child = parent.split();
    expect(child.seed).toBe(bitsAt(3, 0));
    expect(parent.counter).toBe(1);
    expect(draws(child, 10)).toEqual(draws(new Rng(3).split(), 10));
    expect(draws(new Rng(3).split(), 10)).not.toEqual(draws(new Rng(3), 10));
  });

  it('rejects seeds that are not integers in [0, 2^32)', () => {
    for (const bad of [-1, TWO32, 1.5, NaN]) expect(() => new Rng(bad)).toThrow(/seed must be an integer in \[0, 2\^32\)/);
  });
});
