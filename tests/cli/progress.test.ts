/**
 * Progress (src/cli/progress.ts) writes through the writer it is given: on a terminal one line
 * redrawn in place, elsewhere a line at most every 5 seconds (none for quick work).
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Progress, type Writer } from '../../src/cli/progress.js';

function writer(isTTY: boolean): Writer & { text: string[] } {
  const text: string[] = [];
  return Object.assign((s: string) => void text.push(s), { isTTY, text });
}

afterEach(() => {
  vi.useRealTimers();
});

describe('Progress', () => {
  it('on a terminal redraws one line and clears it when done', () => {
    const w = writer(true);
    const p = new Progress('train', w);
    p.update('1/3');
    p.update('2/3');
    p.done('finished');
    expect(w.text).toEqual(['\r\x1b[2Ktrain: 1/3', '\r\x1b[2Ktrain: 2/3', '\r\x1b[2K', 'train: finished\n']);
  });

  it('elsewhere prints whole lines, the first after 5 s, then at most one per 5 s', () => {
    vi.useFakeTimers();
    const w = writer(false);
    const p = new Progress('eval', w);
    p.update('quick work prints nothing');
    vi.advanceTimersByTime(5000);
    p.update('250/10000');
    vi.advanceTimersByTime(1000);
    p.update('500/10000');
    vi.advanceTimersByTime(4000);
    p.update('750/10000');
    p.done();
    expect(w.text).toEqual(['eval: 250/10000\n', 'eval: 750/10000\n']);
  });
});
