import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { describe, expect, it } from 'vitest';
import { Rng } from '../../src/rng.js';
import { decodeCheckpoint } from '../../src/train/checkpoint.js';
import { runCli } from '../helpers/cli.js';
import { shortNumber } from '../../src/cli/commands/train.js';
import { tempDir } from '../helpers/tmp.js';

/** A folder dataset: stripes (class "h") and checks (class "v"), noisy 32x32 grey PNGs. */
function textureFolder(perClass: number): string {
  const dir = tempDir('alexnet-folder-');
  const rng = new Rng(9);
  for (const [name, pattern] of [['h', (y: number) => (y >> 1) & 1], ['v', (_: number, x: number) => (x >> 1) & 1]] as const) {
    mkdirSync(join(dir, name));
    for (let i = 0; i < perClass; i++) {
      const png = new PNG({ width: 32, height: 32 });
      for (let p = 0; p < 32 * 32; p++) {
        const v = Math.floor(rng.uniform() * 90 + 140 * pattern(p >> 5, p & 31));
        png.data.set([v, v, v, 255], p * 4);
      }
      writeFileSync(join(dir, name, `${String(i).padStart(3, '0')}.png`), PNG.sync.write(png));
    }
  }
  return dir;
}

describe('alexnet train: how it prints', () => {
  it('shows learning rates as written by hand, not with the float noise of repeated division', () => {
    expect(shortNumber(0.03 * 0.1 * 0.1)).toBe('0.0003');
    expect(String(0.03 * 0.1 * 0.1)).not.toBe('0.0003'); // what it replaces
    expect(shortNumber(0.01)).toBe('0.01');
    expect(shortNumber(1e-7)).toBe('1e-7');
  });
});

describe('alexnet train on a folder of images', { timeout: 120_000 }, () => {
  it('trains mini, holds out every 10th image, writes model, checkpoint, metrics and curves', async () => {
    const data = textureFolder(20);
    writeFileSync(join(data, 'h', 'broken.png'), 'not a png');
    const out = join(tempDir('alexnet-run-'), 'run');
    const r = await runCli('train', '--arch', 'mini', '--data', data, '--out', out, '--epochs', '2', '--batch', '8', '--lr', '0.01');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/skipped .*broken\.png: not a PNG or JPEG image/);
    expect(r.stderr).toMatch(/36 training and 4 test images in 2 classes/);
    const summary = JSON.parse(r.stdout);
    expect(summary.epochs).toBe(2);
    expect(readdirSync(out).sort()).toEqual(['checkpoint.safetensors', 'curves.png', 'metrics.jsonl', 'model.safetensors']);
    const metrics = readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(metrics.map((m) => m.epoch)).toEqual([1, 2]);
    for (const key of ['epoch', 'step', 'trainLoss', 'testAccuracy', 'lr', 'imagesPerSecond']) expect(metrics[1]).toHaveProperty(key);
    // the model classifies with its own class names
    const c = await runCli('classify', join(data, 'v', '000.png'), '--weights', join(out, 'model.safetensors'), '--json', '--top', '2');
    expect(c.status, c.stderr).toBe(0);
    expect(JSON.parse(c.stdout).top.map((t: { label: string }) => t.label).sort()).toEqual(['h', 'v']);
  });

  it('refuses to overwrite a run without --resume, and a checkpoint of another architecture on --resume', async () => {
    const data = textureFolder(10);
    const out = join(tempDir('alexnet-run-'), 'run');
    expect((await runCli('train', '--arch', 'mini', '--data', data, '--out', out, '--max-steps', '1', '--batch', '8')).status).toBe(0);
    const before = readFileSync(join(out, 'checkpoint.safetensors'));
    const again = await runCli('train', '--arch', 'mini', '--data', data, '--out', out, '--max-steps', '1', '--batch', '8');
    expect(again.status).toBe(2);
    expect(again.stderr).toMatch(/already holds a run \(checkpoint\.safetensors\): add --resume/);
    const other = await runCli('train', '--arch', 'caffe', '--data', data, '--out', out, '--resume', '--batch', '8');
    expect(other.status).toBe(2);
    expect(other.stderr).toMatch(/checkpoint is of architecture mini, not caffe/);
    expect(readFileSync(join(out, 'checkpoint.safetensors')).equals(before)).toBe(true);
  });

  it('resumes a run and ends where an uninterrupted one ends, byte for byte', async () => {
    const data = textureFolder(10);
    const base = tempDir('alexnet-run-');
    const args = ['--arch', 'mini', '--data', data, '--epochs', '2', '--batch', '8', '--seed', '3'];
    expect((await runCli('train', ...args, '--out', join(base, 'a'))).status).toBe(0);
    expect((await runCli('train', ...args, '--out', join(base, 'b'), '--max-steps', '2')).status).toBe(0);
    expect(decodeCheckpoint(readFileSync(join(base, 'b', 'checkpoint.safetensors'))).progress.step).toBe(2);
    const resumed = await runCli('train', ...args, '--out', join(base, 'b'), '--resume');
    expect(resumed.status, resumed.stderr).toBe(0);
    expect(resumed.stderr).toMatch(/resuming .* at epoch 1, step 2/);
    expect(readFileSync(join(base, 'a', 'model.safetensors')).equals(readFileSync(join(base, 'b', 'model.safetensors')))).toBe(true);
  });

  it.each([
    [['--data', '/nonexistent/folder'], /\/nonexistent\/folder: no such folder/],
    [['--data', 'fashion-mnist', '--data-dir', '/nonexistent'], /no such file\. Fashion-MNIST is not installed there: run 'apt-get install dataset-fashion-mnist'/],
  ])('bad data %# is one line, status 2', async (extra, message) => {
    const out = join(tempDir('alexnet-run-'), 'run');
    const r = await runCli('train', '--arch', 'mini', '--out', out, ...(extra as string[]));
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(message as RegExp);
    expect(existsSync(out)).toBe(false);
  });

  it('an empty class folder is named', async () => {
    const data = textureFolder(10);
    mkdirSync(join(data, 'empty'));
    const r = await runCli('train', '--arch', 'mini', '--data', data, '--out', join(data, 'run'));
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/empty: no PNG or JPEG images \(every class needs at least one\)/);
  });
});

describe('checkpoints survive a kill during writing', () => {
  it('a process killed while rewriting a checkpoint leaves the previous one whole', async () => {
    const dir = tempDir('alexnet-kill-');
    const target = join(dir, 'checkpoint.bin');
    const script = join(dir, 'writer.mts');
    // Writes a 1 MB file of byte 1, signals, then keeps rewriting 200 MB files of byte 2.
    writeFileSync(script, `
      import { writeAtomic } from ${JSON.stringify(join(process.cwd(), 'src/formats/node-fs.ts'))};
      writeAtomic(${JSON.stringify(target)}, new Uint8Array(1 << 20).fill(1));
      process.stdout.write('ready\\n');
      for (;;) writeAtomic(${JSON.stringify(target)}, new Uint8Array(200 << 20).fill(2));
    `);
    const child = spawn(process.execPath, ['--import', 'tsx', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
    await new Promise((r) => setTimeout(r, 150)); // mid-write of the big file
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    const bytes = readFileSync(target);
    // either the old file or a complete new one: never a mix, never truncated
    const whole = (bytes.length === 1 << 20 && bytes.every((b) => b === 1)) || (bytes.length === 200 << 20 && bytes[0] === 2 && bytes[bytes.length - 1] === 2);
    expect(whole).toBe(true);
  }, 60_000);
});

describe('Ctrl-C during training', () => {
  it('checkpoints after the current step, exits 130, and the run resumes', async () => {
    const data = textureFolder(20);
    const out = join(tempDir('alexnet-sigint-'), 'run');
    // The built command (npm test builds first), as a user runs it.
    const child = spawn(process.execPath, ['bin/alexnet.js', 'train', '--arch', 'mini', '--data', data, '--out', out, '--epochs', '50', '--batch', '4', '--backend', 'reference'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    // wait until the first training images are loaded and a step or two has run
    await new Promise((r) => setTimeout(r, 4000));
    child.kill('SIGINT');
    const status = await new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    expect(status, stderr).toBe(130);
    expect(stderr).toMatch(/stopped at step \d+; continue with the same command and --resume/);
    const step = decodeCheckpoint(readFileSync(join(out, 'checkpoint.safetensors'))).progress.step;
    expect(step).toBeGreaterThan(0);
    const resumed = await runCli('train', '--arch', 'mini', '--data', data, '--out', out, '--epochs', '1', '--batch', '4', '--backend', 'reference', '--resume');
    // --epochs differs from the stopped run's, which is allowed: only batch, seed and the optimiser must match
    expect(resumed.status, resumed.stderr).toBe(0);
    expect(resumed.stderr).toMatch(new RegExp(`resuming .* step ${step}`));
  }, 120_000);
});
