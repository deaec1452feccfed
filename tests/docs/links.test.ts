/**
 * Every code reference in docs/ points at something that exists:
 *
 *   - every relative link [text](path) resolves to a file or folder of the repository, and an
 *     anchor (#heading) to a heading of the linked page;
 *   - every `symbol` in the text of a link to a source file is defined in that file
 *     (function, class, interface, type, const/let, or re-exported), so
 *     [`lrnBackward`](../src/ops/lrn.ts) fails the day lrnBackward moves or is renamed;
 *     `Class.member` needs the class and a member of that name;
 *   - every path written in backticks in the prose (`tests/docs/links.test.ts`) exists.
 */
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type Markdown, parseMarkdown, slug } from './markdown.js';

const ROOT = resolve('.');
const DOCS = join(ROOT, 'docs');
const SOURCE = /\.(ts|mts|js|py)$/;

function docsPages(dir = DOCS): string[] {
  return readdirSync(dir)
    .flatMap((name) => {
      const p = join(dir, name);
      return statSync(p).isDirectory() ? docsPages(p) : name.endsWith('.md') ? [p] : [];
    })
    .sort();
}

const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Whether `name` is declared at any level of the file, or re-exported by it. */
export function defines(source: string, name: string): boolean {
  const n = escape(name);
  const declaration = new RegExp(`(^|[\\s;{])(export\\s+)?(default\\s+)?(declare\\s+)?(async\\s+)?(function\\*?|class|interface|type|enum|const|let|var)\\s+${n}\\b`, 'm');
  const reExport = new RegExp(`export\\s*(type\\s*)?\\{[^}]*\\b${n}\\b[^}]*\\}`, 'm');
  return declaration.test(source) || reExport.test(source);
}

/** `Class.member`: the class (or interface) is defined and has a member of that name. */
function definesMember(source: string, owner: string, member: string): boolean {
  if (!defines(source, owner)) return false;
  const m = escape(member);
  return new RegExp(`^\\s*(static\\s+|readonly\\s+|private\\s+|async\\s+|get\\s+)*${m}\\s*[(<:?]`, 'm').test(source);
}

interface Problem {
  where: string;
  what: string;
}

function checkPage(page: string, md: Markdown, pages: Map<string, Markdown>): Problem[] {
  const problems: Problem[] = [];
  const rel = relative(ROOT, page);
  for (const link of md.links) {
    const where = `${rel}:${link.line} [${link.text}](${link.target})`;
    if (/^[a-z]+:/i.test(link.target)) continue; // https:, mailto:
    const [pathPart, anchor] = link.target.split('#');
    const file = pathPart === '' ? page : resolve(dirname(page), pathPart);
    if (!existsSync(file)) {
      problems.push({ where, what: `${relative(ROOT, file)} does not exist` });
      continue;
    }
    if (!file.startsWith(ROOT + '/')) problems.push({ where, what: 'points outside the repository' });
    if (anchor !== undefined) {
      const target = pages.get(file) ?? (file.endsWith('.md') ? parseMarkdown(readFileSync(file, 'utf8')) : undefined);
      if (!target) problems.push({ where, what: 'an anchor into a file that is not Markdown' });
      else if (!target.headings.some((h) => slug(h) === anchor)) {
        problems.push({ where, what: `no heading with anchor #${anchor} in ${relative(ROOT, file)}` });
      }
    }
    const symbols = [...link.text.matchAll(/`([^`]+)`/g)].map((m) => m[1]);
    if (SOURCE.test(file) && statSync(file).isFile()) {
      const source = readFileSync(file, 'utf8');
      for (const symbol of symbols) {
        if (/\.(ts|mts|js|py|md|json)$/.test(symbol) || symbol.includes('/')) continue; // a file's name, not a symbol
        const name = symbol.replace(/\(\)$/, '');
        const parts = name.split('.');
        if (!parts.every((p) => /^[A-Za-z_$][\w$]*$/.test(p)) || parts.length > 2) {
          problems.push({ where, what: `\`${symbol}\` is not a symbol name (write identifiers, or Class.member)` });
        } else if (parts.length === 1 ? !defines(source, name) : !definesMember(source, parts[0], parts[1])) {
          problems.push({ where, what: `\`${symbol}\` is not defined in ${relative(ROOT, file)}` });
        }
      }
    }
  }
  // Paths in backticks in the prose: `src/ops/lrn.ts`, `tests/kernels/`.
  for (const { line, text } of md.prose) {
    for (const m of text.matchAll(/`((?:src|assembly|tests|bench|fixtures|docs)\/[\w./-]*)`/g)) {
      if (!existsSync(join(ROOT, m[1]))) problems.push({ where: `${rel}:${line}`, what: `\`${m[1]}\` does not exist` });
    }
  }
  return problems;
}

describe('docs/ links', () => {
  const files = docsPages();
  const pages = new Map(files.map((f) => [f, parseMarkdown(readFileSync(f, 'utf8'))]));

  it('finds the pages', () => {
    const names = files.map((f) => relative(DOCS, f));
    for (const page of ['README.md', 'paper-to-code.md', 'numbers.md', 'derivations.md', 'training.md', 'kernels.md']) {
      expect(names).toContain(page);
    }
  });

  it.each(files.map((f) => relative(ROOT, f)))('%s: every link resolves, every linked symbol is defined', (rel) => {
    const page = join(ROOT, rel);
    const problems = checkPage(page, pages.get(page)!, pages);
    expect(problems.map((p) => `${p.where}: ${p.what}`)).toEqual([]);
  });

  it('the pages link to code: each names functions in the files it links', () => {
    for (const page of ['paper-to-code.md', 'derivations.md', 'kernels.md', 'training.md']) {
      const md = pages.get(join(DOCS, page))!;
      const withSymbols = md.links.filter((l) => SOURCE.test(l.target.split('#')[0]) && /`[A-Za-z_$][\w$.]*(\(\))?`/.test(l.text));
      expect(withSymbols.length, page).toBeGreaterThan(5);
    }
  });

  it('the index links every page of the guided reading', () => {
    const index = pages.get(join(DOCS, 'README.md'))!;
    const targets = new Set(index.links.map((l) => l.target.split('#')[0]));
    for (const page of ['paper-to-code.md', 'numbers.md', 'derivations.md', 'training.md', 'kernels.md']) expect(targets).toContain(page);
  });
});

describe('the link checker', () => {
  it('knows a declaration from a mention', () => {
    const src = 'export function lrnBackward() {}\nconst LRN_X = 1;\n@inline function ukernel() {}\nexport { im2col, col2im } from "./x";\nclass K {\n  gemm(args: A): void {}\n}\n// mentions sgdStep\n';
    expect(['lrnBackward', 'LRN_X', 'ukernel', 'im2col', 'col2im', 'K'].every((s) => defines(src, s))).toBe(true);
    expect(defines(src, 'sgdStep')).toBe(false);
    expect(defines(src, 'lrn')).toBe(false);
    expect(definesMember(src, 'K', 'gemm')).toBe(true);
    expect(definesMember(src, 'K', 'pack')).toBe(false);
  });

  it('reports a missing file, a missing symbol and a missing anchor', () => {
    const page = join(DOCS, 'example.md');
    const md = parseMarkdown(
      ['[`lrnBackward`](../src/ops/lrn.ts)', '[`lrnBackwards`](../src/ops/lrn.ts)', '[gone](../src/ops/gone.ts)', '[x](numbers.md#no-such-heading)', '```sh', '[`notChecked`](../src/ops/lrn.ts)', '```', '`src/nowhere.ts`'].join('\n'),
    );
    const problems = checkPage(page, md, new Map());
    expect(problems.map((p) => p.what)).toEqual([
      '`lrnBackwards` is not defined in src/ops/lrn.ts',
      'src/ops/gone.ts does not exist',
      'no heading with anchor #no-such-heading in docs/numbers.md',
      '`src/nowhere.ts` does not exist',
    ]);
  });

  it('makes GitHub anchors', () => {
    expect(slug('3.3 Local response normalisation')).toBe('33-local-response-normalisation');
    expect(slug('The 4x8 micro-kernel')).toBe('the-4x8-micro-kernel');
    expect(slug('The mini AlexNet (`--arch mini`, 28×28), layer by layer')).toBe('the-mini-alexnet---arch-mini-2828-layer-by-layer');
    expect(slug("Caffe's AlexNet, layer by layer")).toBe('caffes-alexnet-layer-by-layer');
  });
});
