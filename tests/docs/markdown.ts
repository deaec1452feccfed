/**
 * Just enough Markdown for the docs tests: fenced code blocks (with their info string) and inline
 * links outside them, each with its line number.
 */

export interface Fence {
  /** The info string after the opening ```, e.g. "sh" or "sh no-test: why". */
  info: string;
  /** Line number (1-based) of the opening fence. */
  line: number;
  /** The lines between the fences. */
  body: string[];
}

export interface Link {
  text: string;
  target: string;
  line: number;
  image: boolean;
}

export interface Markdown {
  fences: Fence[];
  links: Link[];
  /** Headings outside code blocks, as written (without the #s). */
  headings: string[];
  /** The lines outside code blocks, with their line numbers. */
  prose: { line: number; text: string }[];
}

export function parseMarkdown(text: string): Markdown {
  const fences: Fence[] = [];
  const links: Link[] = [];
  const headings: string[] = [];
  const prose: { line: number; text: string }[] = [];
  const lines = text.split('\n');
  let open: Fence | null = null;
  for (const [i, line] of lines.entries()) {
    const fence = /^```(.*)$/.exec(line);
    if (open) {
      if (fence && fence[1].trim() === '') {
        fences.push(open);
        open = null;
      } else {
        open.body.push(line);
      }
      continue;
    }
    if (fence) {
      open = { info: fence[1].trim(), line: i + 1, body: [] };
      continue;
    }
    prose.push({ line: i + 1, text: line });
    const heading = /^#{1,6}\s+(.*)$/.exec(line);
    if (heading) headings.push(heading[1].trim());
    // [text](target) and ![alt](target); the text may contain `code` but no brackets.
    for (const m of line.matchAll(/(!?)\[([^\]]*)\]\(([^)\s]+)\)/g)) {
      links.push({ image: m[1] === '!', text: m[2], target: m[3], line: i + 1 });
    }
  }
  if (open) throw new Error(`unclosed code block opened at line ${open.line}`);
  return { fences, links, headings, prose };
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens. */
export function slug(heading: string): string {
  return heading
    .replace(/`/g, '')
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}
