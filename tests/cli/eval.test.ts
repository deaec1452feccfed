import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { classifyImages, modelFromBytes, parseLabels } from '../../src/classify.js';
import { readBytes } from '../../src/formats/node-fs.js';
import { loadImage } from '../../src/image/node-image.js';
import { runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';

const WEIGHTS = 'fixtures/weights/tv.pth';
const PHOTO = 'fixtures/images/png/rgb_500x375.png';

describe('alexnet eval DIR', () => {
  // What the 1/64-width fixture network predicts for the photo, computed by the library.
  const model = modelFromBytes(readBytes(WEIGHTS), WEIGHTS);
  const [ranked] = classifyImages(model, [loadImage(PHOTO)], { top: 10 });
  const first = ranked[0].index;
  const fifth = ranked[4].index;
  const last = ranked[9].index;

  function folder(classes: Record<string, number>): string {
    const dir = tempDir('alexnet-eval-');
    for (const [name, copies] of Object.entries(classes)) {
      mkdirSync(join(dir, name), { recursive: true });
      for (let i = 0; i < copies; i++) copyFileSync(PHOTO, join(dir, name, `img${i}.png`));
    }
    return dir;
  }

  it('counts top-1 and top-5 errors over class folders named by index', async () => {
    // 2 images labelled with the top class, 1 with the 5th (top-1 miss, top-5 hit), 1 with the 10th (both miss)
    const dir = folder({ [String(first)]: 2, [String(fifth)]: 1, [String(last)]: 1 });
    const r = await runCli('eval', dir, '--weights', WEIGHTS, '--json');
    expect(r.status, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.images).toBe(4);
    expect(j.top1Error).toBe(2 / 4);
    expect(j.top5Error).toBe(1 / 4);
  });

  it('maps folders by label and by synset id from a synset_words-style labels file', async () => {
    const dirLabels = tempDir('alexnet-eval-labels-');
    const labels = join(dirLabels, 'synset_words.txt');
    const lines = Array.from({ length: 10 }, (_, i) => `n${String(1000000 + i).padStart(8, '0')} thing ${i}, other name`);
    writeFileSync(labels, lines.join('\n') + '\n');
    expect(parseLabels(lines.join('\n')).synsets?.[3]).toBe('n01000003');
    const dir = folder({ [`n${String(1000000 + first).padStart(8, '0')}`]: 1, [`Thing_${fifth}`]: 1 });
    const r = await runCli('eval', dir, '--weights', WEIGHTS, '--labels', labels, '--json');
    expect(r.status, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout);
    expect([j.images, j.top1Error, j.top5Error]).toEqual([2, 0.5, 0]);
  });

  it('prints the paper-style table', async () => {
    const dir = folder({ [String(first)]: 1 });
    const r = await runCli('eval', dir, '--weights', WEIGHTS, '--ten-crop');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/Model\s+Top-1 error\s+Top-5 error/);
    expect(r.stdout).toMatch(/tv\.pth \(10 crops\)\s+\d+\.\d\d%\s+\d+\.\d\d%/);
  });

  it('names a folder that matches no class, and exits 2', async () => {
    const dir = folder({ zebra: 1 });
    const r = await runCli('eval', dir, '--weights', WEIGHTS);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/zebra: the folder name matches no class index, synset id or label/);
  });

  it('leaves out unreadable images, reports them, exits 2', async () => {
    const dir = folder({ [String(first)]: 1 });
    copyFileSync('fixtures/images/bad/truncated.jpg', join(dir, String(first), 'bad.jpg'));
    const r = await runCli('eval', dir, '--weights', WEIGHTS, '--json');
    expect(r.status).toBe(2);
    expect(JSON.parse(r.stdout).images).toBe(1);
    expect(r.stderr).toMatch(/bad\.jpg: truncated or corrupt JPEG/);
  });
});
