/**
 * docs/derivations.ts, the script that checks the backward passes derived in docs/derivations.md,
 * passes every check: imported (so its code is type-checked with the tests), and run as the page
 * tells the reader to run it.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatCheck, maxError, runChecks } from '../../docs/derivations.js';
import { parseMarkdown } from './markdown.js';

const ROOT = resolve('.');

describe('docs/derivations.ts', () => {
  const results = runChecks();

  it('every check passes', () => {
    expect(results.filter((r) => !r.ok).map(formatCheck)).toEqual([]);
  });

  it('checks each op against central differences and against src/ops', () => {
    for (const op of ['lrn', 'maxpool', 'conv2d'] as const) {
      const mine = results.filter((r) => r.op === op);
      expect(mine.some((r) => r.what.includes('central differences') && r.expect === 'agree'), op).toBe(true);
      expect(mine.some((r) => /vs (lrnBackward|maxPoolBackward|conv2dBackward)$/.test(r.what)), op).toBe(true);
    }
    // The deliberately wrong LRN gradient (no cross-channel term) is caught in every convention,
    // and Winograd's input gradient with the forward transform in place of its transpose.
    expect(results.filter((r) => r.op === 'lrn' && r.expect === 'differ' && r.ok)).toHaveLength(3);
    expect(results.filter((r) => r.op === 'winograd' && r.expect === 'differ' && r.ok)).toHaveLength(1);
    // Winograd's tile: the forward against the correlation, both gradients against central differences.
    for (const what of ['y: ', 'dd: ', 'dg: ']) {
      expect(results.some((r) => r.op === 'winograd' && r.expect === 'agree' && r.what.startsWith(what)), what).toBe(true);
    }
    // The conv checks cover dx, dW and db.
    for (const g of ['dx', 'dw', 'db']) expect(results.some((r) => r.op === 'conv2d' && r.what.startsWith(`${g}: `))).toBe(true);
  });

  it('measures errors as Caffe does: relative above 1, absolute below', () => {
    expect(maxError([100], [101])).toBeCloseTo(1 / 101, 12);
    expect(maxError([1e-3], [2e-3])).toBeCloseTo(1e-3, 12);
  });

  it('runs as the page says (npx tsx docs/derivations.ts), one line per check, and prints the lines the page quotes', () => {
    const r = spawnSync(join(ROOT, 'node_modules', '.bin', 'tsx'), ['docs/derivations.ts'], { cwd: ROOT, encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines).toHaveLength(results.length + 1);
    expect(lines.at(-1)).toBe(`all ${results.length} checks pass`);
    const page = parseMarkdown(readFileSync(join(ROOT, 'docs', 'derivations.md'), 'utf8'));
    expect(page.fences.some((f) => f.info === 'sh' && f.body.includes('npx tsx docs/derivations.ts'))).toBe(true);
    const quoted = page.fences.filter((f) => f.info === 'text').flatMap((f) => f.body).filter((l) => /^(ok|FAIL) {2}/.test(l));
    expect(quoted.length).toBeGreaterThan(0);
    for (const line of quoted) expect(lines).toContain(line);
  });
});
