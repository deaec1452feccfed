/**
 * Weight files read straight into the wasm backend's memory (Backend.allocateResident): which
 * formats are, that their tensors are then views on that memory (no second copy), and that the
 * network computes the same bits from them as from ordinary arrays.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createWasmBackendSync } from '../../src/backend/wasm/node-backend.js';
import { classifyImages, modelFromBytes } from '../../src/classify.js';
import { readsInPlace } from '../../src/formats/load.js';
import { readBytes, readHead, readWeightBytes } from '../../src/formats/node-fs.js';
import { loadImage } from '../../src/image/node-image.js';
import { loadWeightsFile } from '../../src/node.js';

const backend = createWasmBackendSync({ threads: 2 });
const dir = mkdtempSync(join(tmpdir(), 'alexnet-resident-'));
afterAll(() => {
  backend.dispose();
  rmSync(dir, { recursive: true, force: true });
});

describe('reading weight files into the backend memory', () => {
  it('readsInPlace: safetensors and zip .pth yes; ONNX, Caffe, legacy .pth no', () => {
    const head = (f: string) => readHead(`fixtures/weights/${f}`, 16);
    for (const f of ['tv.safetensors', 'caffe.safetensors', 'tv.pth', 'tricky.pth']) expect(readsInPlace(head(f)), f).toBe(true);
    for (const f of ['tv-opset13.onnx', 'caffe.onnx', 'caffe.caffemodel', 'tv-legacy.pth']) expect(readsInPlace(head(f)), f).toBe(false);
  });

  it('readBytes into a given array, with progress; readHead of a short file; errors name the file', () => {
    const path = join(dir, 'five.bin');
    writeFileSync(path, Uint8Array.of(1, 2, 3, 4, 5));
    const target = new Uint8Array(16);
    const seen: [number, number][] = [];
    const got = readBytes(path, { into: (n) => target.subarray(3, 3 + n), onProgress: (d, t) => seen.push([d, t]) });
    expect(Array.from(target.subarray(0, 9))).toEqual([0, 0, 0, 1, 2, 3, 4, 5, 0]);
    expect(got.byteOffset).toBe(3);
    expect(seen.at(-1)).toEqual([5, 5]);
    expect(Array.from(readHead(path, 16))).toEqual([1, 2, 3, 4, 5]);
    expect(() => readBytes(join(dir, 'missing.bin'), { into: (n) => new Uint8Array(n) })).toThrow(/missing\.bin: no such file/);
    expect(() => readHead(join(dir, 'missing.bin'), 16)).toThrow(/missing\.bin: no such file/);
  });

  for (const file of ['tv.safetensors', 'tv.pth']) {
    it(`${file}: every tensor is a view on the backend's memory, and classify gives the same bits as from a plain read`, () => {
      const path = `fixtures/weights/${file}`;
      let region: Uint8Array | undefined;
      const bytes = readWeightBytes(path, { into: (n) => (region = backend.allocateResident(n)) });
      expect(region).toBeDefined();
      expect(bytes).toBe(region);
      const resident = modelFromBytes(bytes, file);
      for (const [key, t] of resident.weights) {
        expect(t.data.buffer, key).toBe(region!.buffer);
        expect(t.data.byteOffset >= region!.byteOffset && t.data.byteOffset + t.data.byteLength <= region!.byteOffset + region!.length, key).toBe(true);
      }
      const plain = modelFromBytes(readBytes(path), file);
      const image = loadImage('fixtures/images/png/rgb_500x375.png');
      const a = classifyImages(resident, [image], { top: 10, backend });
      const b = classifyImages(plain, [image], { top: 10, backend });
      expect(a).toEqual(b);
    });
  }

  it('an ONNX file is read into an ordinary buffer (its parser copies), even when asked for the backend memory', () => {
    let asked = false;
    const { weights } = loadWeightsFile('fixtures/weights/tv-opset13.onnx', { into: (n) => { asked = true; return backend.allocateResident(n); } });
    expect(asked).toBe(false);
    expect(weights.size).toBeGreaterThan(0);
  });
});
