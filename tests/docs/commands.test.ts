/**
 * Every command shown in docs/ runs. Each ```sh block of every page is read line by line:
 *
 *   alexnet ...                runs in-process through main() (src/cli/main.ts), and must exit 0
 *   npx alexnet ...            the same (how a checkout runs it)
 *   npx tsx docs/<script>.ts   runs as a child process, and must exit 0
 *
 * Anything else in a ```sh block fails the test: write it as one of the above, or mark the block
 * ```sh no-test: <the reason it cannot run here>```. The commands of one page run in order in a
 * fresh working folder of their own (so `--out runs/tiny` lands there, and a later command can
 * read what an earlier one wrote), with `fixtures/` and `docs/` linked into it. Every PNG the
 * commands of a page write is then decoded and must be a real picture (opaque, not one flat colour).
 */
import { spawnSync } from 'node:child_process';
import { lstatSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { PNG } from 'pngjs';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { type Fence, parseMarkdown } from './markdown.js';

const ROOT = resolve('.');
const DOCS = join(ROOT, 'docs');
const TSX = join(ROOT, 'node_modules', '.bin', 'tsx');

function docsPages(dir = DOCS): string[] {
  return readdirSync(dir)
    .flatMap((name) => {
      const p = join(dir, name);
      return statSync(p).isDirectory() ? docsPages(p) : name.endsWith('.md') ? [p] : [];
    })
    .sort();
}

export interface Command {
  argv: string[];
  /** page:line, for messages. */
  where: string;
}

/** Splits a command line into words as a POSIX shell would for simple commands: quotes, no expansions. */
export function shellWords(line: string): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i];
    if (ch === "'" || ch === '"') {
      const end = line.indexOf(ch, i + 1);
      if (end < 0) throw new Error(`unclosed ${ch} quote`);
      word += line.slice(i + 1, end);
      inWord = true;
      i = end;
    } else if (/\s/.test(ch)) {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
    } else if ('|&;<>$`(){}*?'.includes(ch)) {
      throw new Error(`shell syntax "${ch}" is not supported in documented commands: one simple command per line`);
    } else {
      word += ch;
      inWord = true;
    }
  }
  if (inWord) words.push(word);
  return words;
}

/** The commands of a ```sh block: continuation lines joined, comments and blank lines dropped. */
export function commandsOf(fence: Fence, page: string): Command[] {
  const out: Command[] = [];
  let pending = '';
  let start = 0;
  fence.body.forEach((raw, i) => {
    const line = raw.trim();
    if (pending === '') start = fence.line + 1 + i;
    if (line.endsWith('\\')) {
      pending += line.slice(0, -1) + ' ';
      return;
    }
    const full = (pending + line).trim();
    pending = '';
    if (full === '' || full.startsWith('#')) return;
    out.push({ argv: shellWords(full), where: `${relative(ROOT, page)}:${start}` });
  });
  return out;
}

/** 'run', or the reason given after `no-test:`; throws for a no-test block without a reason. */
export function blockMode(info: string): 'run' | 'other' | { skip: string } {
  const m = /^sh(?:\s+(.*))?$/.exec(info);
  if (!m) return 'other';
  const rest = (m[1] ?? '').trim();
  if (rest === '') return 'run';
  const skip = /^no-test:\s*(\S.*)$/.exec(rest);
  if (!skip) throw new Error(`"\`\`\`${info}": a sh block is run, or marked "sh no-test: <reason>"`);
  return { skip: skip[1] };
}

/** PNG files under `dir`, not following the links to fixtures/ and docs/. */
function picturesIn(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    const s = lstatSync(p);
    if (s.isSymbolicLink()) return [];
    return s.isDirectory() ? picturesIn(p) : name.endsWith('.png') ? [p] : [];
  });
}

/** Decodes a PNG and checks that it is opaque and has more than two colours. */
function expectRealPicture(path: string): void {
  const png = PNG.sync.read(readFileSync(path));
  const colours = new Set<number>();
  for (let i = 0; i < png.data.length; i += 4) {
    if (png.data[i + 3] !== 255) throw new Error(`${path}: pixel ${i / 4} is not opaque`);
    colours.add((png.data[i] << 16) | (png.data[i + 1] << 8) | png.data[i + 2]);
  }
  expect(png.width * png.height, path).toBeGreaterThan(0);
  expect(colours.size, `${path}: distinct colours`).toBeGreaterThan(2);
}

async function run(command: Command, cwd: string): Promise<{ status: number; stdout: string; stderr: string }> {
  const argv = command.argv[0] === 'npx' && command.argv[1] === 'alexnet' ? command.argv.slice(1) : command.argv;
  const [program, ...args] = argv;
  if (program === 'alexnet') {
    let stdout = '';
    let stderr = '';
    const previous = process.cwd();
    process.chdir(cwd);
    try {
      const status = await main(args, { out: (s) => void (stdout += s), err: (s) => void (stderr += s) });
      return { status, stdout, stderr };
    } finally {
      process.chdir(previous);
    }
  }
  if (program === 'npx' && args[0] === 'tsx' && args.length === 2 && /^docs\/[\w./-]+\.ts$/.test(args[1])) {
    const r = spawnSync(TSX, [args[1]], { cwd: ROOT, encoding: 'utf8' });
    return { status: r.status ?? 1, stdout: r.stdout, stderr: r.stderr };
  }
  throw new Error(`${command.where}: "${command.argv.join(' ')}" is neither an alexnet command (alexnet ... or npx alexnet ...) nor npx tsx docs/<script>.ts; mark its block "sh no-test: <reason>" if it cannot run in a test`);
}

const pages = docsPages();

describe('commands in docs/', () => {
  it('finds commands to run, and every no-test block gives its reason', () => {
    let runnable = 0;
    const skipped: string[] = [];
    for (const page of pages) {
      for (const fence of parseMarkdown(readFileSync(page, 'utf8')).fences) {
        const mode = blockMode(fence.info);
        if (mode === 'run') runnable += commandsOf(fence, page).length;
        else if (mode !== 'other') skipped.push(`${relative(ROOT, page)}:${fence.line}: ${mode.skip}`);
      }
    }
    expect(runnable).toBeGreaterThan(10);
    // Sparingly: each one is a command a reader cannot trust to work.
    expect(skipped.length, skipped.join('\n')).toBeLessThanOrEqual(10);
  });

  for (const page of pages) {
    const md = parseMarkdown(readFileSync(page, 'utf8'));
    const commands = md.fences.filter((f) => blockMode(f.info) === 'run').flatMap((f) => commandsOf(f, page));
    if (commands.length === 0) continue;
    it(`${relative(ROOT, page)}: every command exits with status 0`, async () => {
      const cwd = mkdtempSync(join(tmpdir(), 'alexnet-docs-'));
      try {
        symlinkSync(join(ROOT, 'fixtures'), join(cwd, 'fixtures'));
        symlinkSync(join(ROOT, 'docs'), join(cwd, 'docs'));
        for (const command of commands) {
          const r = await run(command, cwd);
          if (r.status !== 0) {
            throw new Error(`${command.where}: ${command.argv.join(' ')}\nexited with ${r.status}\n${r.stderr.trim()}`);
          }
        }
        for (const picture of picturesIn(cwd)) expectRealPicture(picture);
      } finally {
        rmSync(cwd, { recursive: true, force: true });
      }
    }, 180_000);
  }
});

describe('reading commands out of Markdown', () => {
  it('splits words, keeps quoted spaces, refuses pipes and redirections', () => {
    expect(shellWords(`alexnet viz activations 'my photo.png' --out "a b/"  --top-classes`)).toEqual(['alexnet', 'viz', 'activations', 'my photo.png', '--out', 'a b/', '--top-classes']);
    expect(() => shellWords('alexnet summary --arch caffe > table.txt')).toThrow(/one simple command per line/);
    expect(() => shellWords('alexnet summary --arch caffe | head')).toThrow(/not supported/);
  });

  it('joins continued lines and drops comments', () => {
    const fence: Fence = { info: 'sh', line: 10, body: ['# a comment', 'alexnet train --arch mini \\', '  --out runs/x', '', 'alexnet summary --arch mini'] };
    expect(commandsOf(fence, join(DOCS, 'x.md'))).toEqual([
      { argv: ['alexnet', 'train', '--arch', 'mini', '--out', 'runs/x'], where: 'docs/x.md:12' },
      { argv: ['alexnet', 'summary', '--arch', 'mini'], where: 'docs/x.md:15' },
    ]);
  });

  it('tells runnable blocks from skipped ones, which need a reason', () => {
    expect(blockMode('sh')).toBe('run');
    expect(blockMode('text')).toBe('other');
    expect(blockMode('sh no-test: needs the ImageNet validation set')).toEqual({ skip: 'needs the ImageNet validation set' });
    expect(() => blockMode('sh no-test')).toThrow(/reason/);
    expect(() => blockMode('sh skip')).toThrow(/reason/);
  });
});
