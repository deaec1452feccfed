import { describe, expect, it } from 'vitest';
import { summarize } from '../../src/model/summary.js';
import { architecture } from '../../src/model/architectures.js';
import { runCli } from '../helpers/cli.js';

const MINI_FLOP = 2 * summarize(architecture('mini'), 28).totalMacs;

describe('alexnet bench', { timeout: 120_000 }, () => {
  for (const backend of ['wasm', 'reference']) {
    it(`times the forward pass on the ${backend} backend and reports the GFLOP/s that means`, async () => {
      const threads = backend === 'wasm' ? ['--threads', '2'] : [];
      const r = await runCli('bench', '--arch', 'mini', '--batch', '3', '--runs', '2', '--backend', backend, ...threads, '--json');
      expect(r.status, r.stderr).toBe(0);
      const j = JSON.parse(r.stdout);
      expect(Object.keys(j).sort()).toEqual(['arch', 'backend', 'batch', 'gflops', 'msPerImage', 'runs', 'threads', 'train']);
      expect(j).toMatchObject({ arch: 'mini', batch: 3, backend, train: false, runs: 2, threads: backend === 'wasm' ? 2 : 1 });
      expect(j.msPerImage).toBeGreaterThan(0);
      expect(j.gflops).toBeCloseTo(MINI_FLOP / (j.msPerImage * 1e6), 6);
    });
  }

  it('with --train times a training step, counted as 3 x the forward FLOPs', async () => {
    const r = await runCli('bench', '--arch', 'mini', '--batch', '4', '--runs', '1', '--train', '--json');
    expect(r.status, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.train).toBe(true);
    expect(j.gflops).toBeCloseTo((3 * MINI_FLOP) / (j.msPerImage * 1e6), 6);
  });

  it('prints a readable line without --json, and one-line errors for bad options', async () => {
    const r = await runCli('bench', '--arch', 'mini', '--runs', '1');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^mini forward, batch 1, wasm backend on \d+ thread\(s\)\n  [\d.]+ ms per image \(median of 1 runs: [\d.]+ ms per batch\), [\d.]+ GFLOP\/s\n$/);
    for (const [args, message] of [
      [['--arch', 'mini', '--batch', '0'], /--batch must be at least 1/],
      [['--arch', 'nope'], /unknown architecture "nope"/],
      [['--batch', '2'], /--arch/],
    ] as const) {
      const bad = await runCli('bench', ...args);
      expect(bad.status).toBe(2);
      expect(bad.stderr.trim().split('\n')).toHaveLength(1);
      expect(bad.stderr).toMatch(message);
    }
  });
});
