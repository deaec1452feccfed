/**
 * The model that ships in fixtures/models/ (trained by `alexnet train --arch mini --data
 * fashion-mnist`, see fixtures/models/README.md): what a user gets from `alexnet classify` and
 * `alexnet eval` without --weights.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { describe, expect, it, vi } from 'vitest';
import { DEFAULT_MODEL_PATH } from '../../src/cli/default-model.js';
import { readBytes } from '../../src/formats/node-fs.js';
import { parseSafetensors } from '../../src/formats/safetensors.js';
import { FASHION_MNIST_CLASSES } from '../../src/train/dataset.js';
import { runCli } from '../helpers/cli.js';

const SAMPLES = 'fixtures/images/fashion-mnist';
const history = readFileSync('fixtures/models/metrics.jsonl', 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { epoch: number; testAccuracy: number });

describe('the shipped Fashion-MNIST model', () => {
  it('is a mini AlexNet with the ten class names and the training normalisation in its metadata', () => {
    const file = parseSafetensors(readBytes(DEFAULT_MODEL_PATH));
    expect(file.metadata.arch).toBe('mini');
    expect(JSON.parse(file.metadata.classes)).toEqual(FASHION_MNIST_CLASSES);
    expect(JSON.parse(file.metadata.normalisation)).toEqual({ mean: [0.2860406], std: [0.3530242] });
    expect(readFileSync('fixtures/models/classes.txt', 'utf8').trim().split('\n')).toEqual(FASHION_MNIST_CLASSES);
  });

  it('reached at least 92% test accuracy in training (metrics.jsonl, last epoch)', () => {
    expect(history.at(-1)!.testAccuracy).toBeGreaterThanOrEqual(0.92);
  });

  it('`alexnet eval --data fashion-mnist` measures at least 92% on the 10,000 test images, as training recorded', async () => {
    // Progress goes to the writer main() was given: nothing to the process's own stderr.
    const stderr = vi.spyOn(process.stderr, 'write');
    const r = await runCli('eval', '--data', 'fashion-mnist', '--json');
    expect(stderr).not.toHaveBeenCalled();
    stderr.mockRestore();
    expect(r.status, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout) as { images: number; top1Error: number; weights: string };
    expect(j.images).toBe(10_000);
    expect(j.weights).toBe('bundled model');
    expect(1 - j.top1Error).toBeGreaterThanOrEqual(0.92);
    // The training run's kernels summed fc layers in another order than today's: a few borderline
    // images may flip, no more.
    expect(Math.abs(1 - j.top1Error - history.at(-1)!.testAccuracy)).toBeLessThanOrEqual(0.002);
  }, 300_000);

  it('`alexnet classify` without --weights names the sample images\' classes (file names carry the truth)', async () => {
    const files = readdirSync(SAMPLES).filter((f) => f.endsWith('.png')).sort();
    const r = await runCli('classify', ...files.map((f) => `${SAMPLES}/${f}`), '--json', '--top', '1');
    expect(r.status, r.stderr).toBe(0);
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { file: string; top: { label: string; prob: number }[] });
    expect(lines).toHaveLength(files.length);
    const slug = (label: string) => label.toLowerCase().replace(/[^a-z]+/g, '-');
    const right = lines.filter((l) => l.file.endsWith(`-${slug(l.top[0].label)}.png`));
    expect(right.length, lines.map((l) => `${l.file}: ${l.top[0].label}`).join('; ')).toBeGreaterThanOrEqual(9);
  });
});
