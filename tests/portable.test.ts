/**
 * The core (src/index.ts and everything it imports statically) uses no Node-only API, so the same
 * code can run in a browser; the file system, worker threads and the CLI stay at the edges.
 */
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

/** Static `import ... from '...'` and `export ... from '...'` specifiers of a TypeScript file. */
function staticImports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const specs: string[] = [];
  for (const m of text.matchAll(/^\s*(?:import|export)\s[^;]*?\sfrom\s+'([^']+)'/gms)) specs.push(m[1]);
  for (const m of text.matchAll(/^\s*import\s+'([^']+)'/gm)) specs.push(m[1]);
  return specs;
}

function closure(entry: string): Map<string, string[]> {
  const seen = new Map<string, string[]>();
  const visit = (file: string): void => {
    if (seen.has(file)) return;
    const specs = staticImports(file);
    seen.set(file, specs);
    for (const s of specs) if (s.startsWith('.')) visit(resolve(dirname(file), s.replace(/\.js$/, '.ts')));
  };
  visit(entry);
  return seen;
}

describe('the core is portable', () => {
  const graph = closure(resolve('src/index.ts'));

  it('reaches the ops, the model, the formats, the images and the backends', () => {
    const files = [...graph.keys()].map((f) => f.slice(resolve('src').length + 1));
    for (const f of ['ops/conv2d.ts', 'model/network.ts', 'formats/pth.ts', 'image/decode.ts', 'backend/wasm/backend.ts', 'classify.ts']) {
      expect(files).toContain(f);
    }
  });

  it('imports nothing from node: and no Node-only file', () => {
    const offending: string[] = [];
    for (const [file, specs] of graph) {
      for (const s of specs) {
        if (s.startsWith('node:') || ['fs', 'path', 'os', 'worker_threads', 'zlib', 'child_process', 'pngjs'].includes(s)) {
          offending.push(`${file}: ${s}`);
        }
      }
      if (/[/\\]node-[^/\\]*\.ts$/.test(file) || file.includes(join('src', 'cli'))) offending.push(`${file} is a Node edge`);
    }
    expect(offending).toEqual([]);
  });
});
