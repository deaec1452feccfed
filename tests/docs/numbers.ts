/**
 * The generated parts of docs/numbers.md, computed from summarize() (src/model/summary.ts), the
 * same function behind `alexnet summary`. The page marks each part
 *
 *   <!-- generated: ID -->
 *   ...
 *   <!-- end generated -->
 *
 * and tests/docs/numbers.test.ts checks that what is between the markers is exactly what
 * generate(ID) returns, so the page cannot drift from the code. To rewrite the page after a change:
 *
 *   UPDATE_DOCS=1 npx vitest run tests/docs/numbers.test.ts
 */

import { type ArchName, architecture, isArchName } from '../../src/model/architectures.js';
import { type Summary, summarize } from '../../src/model/summary.js';

const int = (n: number): string => n.toLocaleString('en-US');
const kib = (bytes: number): string => `${(bytes / 1024).toFixed(1)} KiB`;
const mib = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(1)} MiB`;
const pct = (part: number, whole: number): string => `${((100 * part) / whole).toFixed(1)}%`;

function summaryOf(name: string, size: string): Summary {
  if (!isArchName(name)) throw new Error(`unknown architecture ${name}`);
  return summarize(architecture(name as ArchName), Number(size));
}

function split(s: Summary): { convParams: number; fcParams: number; convMacs: number; fcMacs: number } {
  const sum = (op: string, key: 'params' | 'macs'): number => s.layers.filter((l) => l.op === op).reduce((t, l) => t + l[key], 0);
  return { convParams: sum('conv', 'params'), fcParams: sum('linear', 'params'), convMacs: sum('conv', 'macs'), fcMacs: sum('linear', 'macs') };
}

/** One row per architecture at its own input size: the totals and where they are. */
function totals(): string {
  const rows = [
    '| `--arch` | input | parameters | in conv layers | MACs per image | in conv layers | weights (float32) | activations per image | at batch 128 |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const name of ['torchvision', 'caffe', 'caffenet', 'paper', 'mini'] as const) {
    const arch = architecture(name);
    const s = summarize(arch);
    const p = split(s);
    rows.push(
      `| \`${name}\` | ${s.inputShape.join('×')} | ${int(s.totalParams)} | ${pct(p.convParams, s.totalParams)} | ${int(s.totalMacs)} | ${pct(p.convMacs, s.totalMacs)} | ` +
        `${mib(4 * s.totalParams)} | ${mib(s.totalActivationBytes)} | ${mib(128 * s.totalActivationBytes)} |`,
    );
  }
  return rows.join('\n');
}

/** Every layer of one architecture, as `alexnet summary` prints it, with each layer's share of the MACs. */
function layers(name: string, size: string): string {
  const s = summaryOf(name, size);
  const rows = ['| layer | op | output | parameters | MACs | share of MACs | activations |', '|---|---|---|---:|---:|---:|---:|'];
  for (const l of s.layers) {
    rows.push(`| ${l.name} | ${l.op} | ${l.outShape.join('×')} | ${int(l.params)} | ${int(l.macs)} | ${l.macs ? pct(l.macs, s.totalMacs) : ''} | ${kib(l.activationBytes)} |`);
  }
  rows.push(`| **total** | | | **${int(s.totalParams)}** | **${int(s.totalMacs)}** | | **${kib(s.totalActivationBytes)}** |`);
  return rows.join('\n');
}

/** The formulas applied to Caffe's AlexNet, with the numbers they give. */
function worked(name: string, size: string): string {
  const arch = architecture(name as ArchName);
  const s = summaryOf(name, size);
  const row = (layer: string) => s.layers.find((l) => l.name === layer)!;
  const spec = (layer: string) => arch.layers.find((l) => l.name === layer)!;
  const conv = (layer: string): string => {
    const l = row(layer);
    const c = spec(layer);
    if (c.kind !== 'conv') throw new Error(`${layer} is not a convolution`);
    const index = arch.layers.indexOf(c);
    const inC = index === 0 ? s.inputShape[0] : s.layers[index - 1].outShape[0];
    const fanIn = (inC / c.groups) * c.kernel * c.kernel;
    const [OC, OH, OW] = l.outShape;
    return (
      `- ${layer}: ${OC} kernels of ${inC / c.groups}×${c.kernel}×${c.kernel}${c.groups > 1 ? ` (${c.groups} groups of ${inC / c.groups} input channels)` : ''}: ` +
      `parameters ${OC}·${fanIn} + ${OC} = ${int(l.params)}; MACs ${OC}·${OH}·${OW}·${fanIn} = ${int(l.macs)}`
    );
  };
  const fc6 = row('fc6');
  const [fcIn] = s.layers[s.layers.indexOf(fc6) - 1].outShape;
  const maps = s.layers[s.layers.findIndex((l) => l.op === 'flatten') - 1].outShape;
  const neurons = s.layers.filter((l) => l.op === 'conv' || l.op === 'linear').map((l) => int(l.outShape.reduce((a, b) => a * b, 1)));
  const p = split(s);
  return [
    conv('conv1'),
    conv('conv2'),
    conv('conv3'),
    `- fc6: ${int(fc6.outShape[0])} outputs from ${int(fcIn)} inputs (${maps.join('×')}): parameters ${int(fc6.outShape[0])}·${int(fcIn)} + ${int(fc6.outShape[0])} = ${int(fc6.params)}, ` +
      `${pct(fc6.params, s.totalParams)} of the network's; MACs ${int(fc6.macs)}, ${pct(fc6.macs, s.totalMacs)} of its MACs`,
    `- the fully connected layers together: ${pct(p.fcParams, s.totalParams)} of the parameters, ${pct(p.fcMacs, s.totalMacs)} of the MACs; ` +
      `the convolutions: ${pct(p.convParams, s.totalParams)} of the parameters, ${pct(p.convMacs, s.totalMacs)} of the MACs`,
    `- units per layer (conv1 ... fc8 outputs, one image): ${neurons.join(' – ')}`,
  ].join('\n');
}

/** The text between the markers of part `id`, without the surrounding newlines. */
export function generate(id: string): string {
  const [kind, ...args] = id.split(':');
  switch (kind) {
    case 'totals':
      return totals();
    case 'layers':
      return layers(args[0], args[1]);
    case 'worked':
      return worked(args[0], args[1]);
    default:
      throw new Error(`docs/numbers.md: unknown generated part "${id}"`);
  }
}

export const MARKER = /<!-- generated: (\S+) -->\n([\s\S]*?)\n?<!-- end generated -->/g;

/** The page with every generated part recomputed. */
export function regenerate(page: string): string {
  return page.replace(MARKER, (_, id: string) => `<!-- generated: ${id} -->\n${generate(id)}\n<!-- end generated -->`);
}
