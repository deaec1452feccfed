/** Facts about the machine a benchmark ran on, recorded with every result. */
import { readFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';

export function machineDescription(): string {
  let model = cpus()[0]?.model ?? 'unknown CPU';
  try {
    const info = readFileSync('/proc/cpuinfo', 'utf8');
    const flags = /^flags\s*:(.*)$/m.exec(info)?.[1] ?? '';
    const simd = ['avx2', 'avx512f', 'fma'].filter((f) => flags.split(' ').includes(f));
    model += simd.length ? ` (${simd.join(', ')})` : '';
  } catch {
    // not Linux: the CPU model alone
  }
  return `${model}, ${cpus().length} cores, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}`;
}

export function today(): string {
  return new Date().toISOString().slice(0, 10);
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}
