import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { Rng } from '../../src/rng.js';
import { sha256Hex } from '../../src/oracle/sha256.js';

const node = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

describe('sha256Hex', () => {
  it('FIPS 180-4 examples', () => {
    expect(sha256Hex(new Uint8Array(0))).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    expect(sha256Hex(new TextEncoder().encode('abc'))).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(sha256Hex(new TextEncoder().encode('abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq'))).toBe(
      '248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1',
    );
  });

  it('equals Node\'s crypto at every length around the padding boundaries, and on a view into a bigger buffer', () => {
    const rng = new Rng(1);
    const bytes = Uint8Array.from({ length: 5000 }, () => rng.nextUint32() & 255);
    for (const n of [1, 54, 55, 56, 57, 63, 64, 65, 119, 120, 127, 128, 129, 1000, 4999]) {
      expect(sha256Hex(bytes.subarray(0, n)), `length ${n}`).toBe(node(bytes.subarray(0, n)));
    }
    expect(sha256Hex(bytes.subarray(3, 3000))).toBe(node(bytes.subarray(3, 3000)));
  });
});
