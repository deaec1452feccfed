import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { afterAll, describe, expect, it } from 'vitest';
import { UserError } from '../../src/errors.js';
import type { EpochRecord } from '../../src/train/checkpoint.js';
import { createCanvas, setPixel } from '../../src/viz/canvas.js';
import { parseMetrics, readMetrics, writePng, writeTrainingCurves } from '../../src/viz/node-viz.js';
import { expectRealPicture } from './picture.js';

const dir = mkdtempSync(join(tmpdir(), 'alexnet-viz-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const record = (epoch: number): EpochRecord => ({
  epoch, step: 100 * epoch, lr: 0.01, trainLoss: 1 / epoch, trainAccuracy: 0.8, testLoss: 1.1 / epoch, testAccuracy: 0.82, imagesPerSecond: 120, seconds: 50,
});

function userError(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(UserError);
    return (e as Error).message;
  }
  throw new Error('expected a UserError');
}

describe('writePng', () => {
  it('writes the canvas as a PNG file, leaving no temporary file behind', () => {
    const c = createCanvas(5, 4, [9, 9, 9]);
    setPixel(c, 4, 3, [200, 100, 0]);
    const path = join(dir, 'sub', 'a.png');
    writePng(path, c);
    const png = PNG.sync.read(readFileSync(path));
    expect([png.width, png.height]).toEqual([5, 4]);
    expect(new Uint8Array(png.data)).toEqual(c.data);
    expect(readdirSync(join(dir, 'sub'))).toEqual(['a.png']);
  });
});

describe('metrics.jsonl', () => {
  it('reads the lines the trainer writes (JSON.stringify per line), skipping blank lines', () => {
    const path = join(dir, 'metrics.jsonl');
    const records = [record(1), { ...record(2), testTop5: 0.97 }];
    writeFileSync(path, records.map((r) => JSON.stringify(r)).join('\n') + '\n\n');
    expect(readMetrics(path)).toEqual(records);
  });

  it('reads a diverged loss (written by JSON as null) as NaN', () => {
    const line = JSON.stringify({ ...record(1), trainLoss: NaN });
    expect(line).toContain('"trainLoss":null');
    expect(parseMetrics(line, 'm.jsonl')[0].trainLoss).toBeNaN();
  });

  it('names the file and the line of what is wrong', () => {
    const path = join(dir, 'bad.jsonl');
    writeFileSync(path, [JSON.stringify(record(1)), JSON.stringify(record(2)), '{"epoch": 3, "step":', ''].join('\n'));
    expect(userError(() => readMetrics(path))).toBe(`${path} line 3: not JSON`);
    expect(userError(() => parseMetrics('[1, 2]', 'metrics.jsonl'))).toBe('metrics.jsonl line 1: expected an object with the epoch\'s metrics');
    const { testLoss: _, ...partial } = record(1);
    expect(userError(() => parseMetrics(`\n${JSON.stringify(partial)}`, 'metrics.jsonl'))).toBe('metrics.jsonl line 2: "testLoss" is missing or not a number');
    expect(userError(() => parseMetrics(JSON.stringify({ ...record(1), epoch: '1' }), 'metrics.jsonl'))).toBe('metrics.jsonl line 1: "epoch" is missing or not a number');
    expect(userError(() => readMetrics(join(dir, 'nope.jsonl')))).toBe(`${join(dir, 'nope.jsonl')}: no such file`);
    const empty = join(dir, 'empty.jsonl');
    writeFileSync(empty, '\n');
    expect(userError(() => readMetrics(empty))).toBe(`${empty}: no epochs recorded yet`);
  });

  it('redraws the training curves into a PNG file', () => {
    const path = join(dir, 'run', 'curves.png');
    writeTrainingCurves(path, [record(1), record(2), record(3)]);
    const png = PNG.sync.read(readFileSync(path));
    expectRealPicture({ width: png.width, height: png.height, data: new Uint8Array(png.data) }, 1280, 440);
  });
});
