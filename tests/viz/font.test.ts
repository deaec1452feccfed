import { describe, expect, it } from 'vitest';
import { GLYPH_ASCENT, GLYPH_HEIGHT, GLYPH_WIDTH, REPLACEMENT_CHAR, glyphInk, glyphOf, hasGlyph } from '../../src/viz/font.js';

const PRINTABLE = Array.from({ length: 126 - 32 + 1 }, (_, i) => String.fromCharCode(32 + i));

function picture(ch: string): string[] {
  const g = glyphOf(ch);
  return Array.from({ length: GLYPH_HEIGHT }, (_, y) =>
    Array.from({ length: GLYPH_WIDTH }, (_, x) => (glyphInk(g, x, y) ? '#' : '.')).join(''),
  );
}

describe('bitmap font', () => {
  it('defines every printable ASCII character, 32 to 126', () => {
    expect(PRINTABLE.length).toBe(95);
    for (const ch of PRINTABLE) expect(hasGlyph(ch), JSON.stringify(ch)).toBe(true);
  });

  it('draws every character differently', () => {
    const seen = new Map<string, string>();
    for (const ch of PRINTABLE) {
      const key = picture(ch).join('/');
      expect(seen.get(key), `"${ch}" looks like "${seen.get(key)}"`).toBeUndefined();
      seen.set(key, ch);
    }
  });

  it('leaves the space blank and puts ink in every other glyph', () => {
    expect(picture(' ').join('')).toBe('.'.repeat(GLYPH_WIDTH * GLYPH_HEIGHT));
    for (const ch of PRINTABLE.slice(1)) expect(picture(ch).join(''), ch).toContain('#');
  });

  it('keeps capitals and digits above the baseline and lets only descenders below it', () => {
    const below = PRINTABLE.filter((ch) => picture(ch).slice(GLYPH_ASCENT).some((row) => row.includes('#')));
    expect(below.join('')).toBe(',;_gjpqy|');
    for (const ch of 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789') {
      const rows = picture(ch);
      expect(rows[0], `${ch} reaches the cap height`).toContain('#');
      expect(rows[GLYPH_ASCENT - 1], `${ch} sits on the baseline`).toContain('#');
    }
  });

  it('reads like its picture: A', () => {
    expect(picture('A')).toEqual(['.###.', '#...#', '#...#', '#####', '#...#', '#...#', '#...#', '.....', '.....']);
  });

  it(`draws characters outside printable ASCII as "${REPLACEMENT_CHAR}"`, () => {
    for (const ch of ['é', '\n', '\u00a0', '→']) {
      expect(hasGlyph(ch)).toBe(false);
      expect(glyphOf(ch)).toEqual(glyphOf(REPLACEMENT_CHAR));
    }
  });
});
