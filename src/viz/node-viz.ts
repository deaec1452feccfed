/**
 * The Node-only edge of viz/: writing pictures to PNG files and reading a run's metrics.jsonl.
 * Everything else in viz/ works on canvases and records in memory.
 */

import { UserError } from '../errors.js';
import { readBytes, writeAtomic } from '../formats/node-fs.js';
import type { EpochRecord } from '../train/checkpoint.js';
import type { Canvas } from './canvas.js';
import { trainingCurves } from './chart.js';
import { encodePng } from './png.js';

/**
 * Writes the canvas as a PNG file, atomically (temporary file, fsync, rename): a viewer watching
 * the file, e.g. curves.png redrawn after every epoch, never sees half a picture.
 */
export function writePng(path: string, canvas: Canvas): void {
  writeAtomic(path, encodePng(canvas));
}

/** The fields every metrics line must have, as numbers (testTop5 is optional). */
const REQUIRED: readonly (keyof EpochRecord)[] = [
  'epoch', 'step', 'lr', 'trainLoss', 'trainAccuracy', 'testLoss', 'testAccuracy', 'imagesPerSecond', 'seconds',
];

/**
 * Parses the text of a metrics.jsonl file (one EpochRecord as JSON per line; blank lines are
 * skipped). `name` is used in errors: `metrics.jsonl line 3: not JSON`.
 */
export function parseMetrics(text: string, name: string): EpochRecord[] {
  const records: EpochRecord[] = [];
  for (const [i, line] of text.split('\n').entries()) {
    if (line.trim() === '') continue;
    const where = `${name} line ${i + 1}`;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      throw new UserError(`${where}: not JSON`);
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw new UserError(`${where}: expected an object with the epoch's metrics`);
    }
    const r = value as Record<string, unknown>;
    for (const key of REQUIRED) {
      // JSON has no NaN or Infinity: JSON.stringify writes a diverged loss as null.
      if (r[key] === null) r[key] = NaN;
      if (typeof r[key] !== 'number') throw new UserError(`${where}: "${key}" is missing or not a number`);
    }
    if (r.testTop5 !== undefined && typeof r.testTop5 !== 'number') throw new UserError(`${where}: "testTop5" is not a number`);
    records.push(r as unknown as EpochRecord);
  }
  return records;
}

/** Reads a metrics.jsonl file; a missing file, a bad line or an empty file is a UserError naming it. */
export function readMetrics(path: string): EpochRecord[] {
  const text = new TextDecoder().decode(readBytes(path));
  const records = parseMetrics(text, path);
  if (records.length === 0) throw new UserError(`${path}: no epochs recorded yet`);
  return records;
}

/** Redraws a run's learning curves (trainingCurves) into a PNG file, e.g. DIR/curves.png after each epoch. */
export function writeTrainingCurves(path: string, records: readonly EpochRecord[]): void {
  writePng(path, trainingCurves(records));
}
