/**
 * `alexnet viz`: pictures of what a network learned and what it computed, as PNG files.
 *
 *   viz filters       the first convolution's kernels as colour tiles, as in the paper's Figure 3
 *   viz activations   one image through the network: each conv and pool layer's feature maps as a
 *                     grid of gray tiles, the input crop, and (--top-classes) a top-5 bar chart
 *   viz curves        a training run's metrics.jsonl redrawn as curves.png (what `alexnet train`
 *                     draws after every epoch)
 *
 * The drawing is src/viz/'s; this file loads weights of any format (loadModel: safetensors, .pth,
 * ONNX, .caffemodel, with the class labels and preprocessing that come with them), picks what to
 * draw, and writes the files.
 */

import { basename, join } from 'node:path';
import { UserError } from '../../errors.js';
import type { Preset } from '../../image/preprocess.js';
import { preprocess } from '../../image/preprocess.js';
import { loadImage } from '../../image/node-image.js';
import { forward } from '../../model/network.js';
import { ARCH_NAMES } from '../../model/architectures.js';
import type { Tensor } from '../../tensor.js';
import { type Canvas, createCanvas, setPixel } from '../../viz/canvas.js';
import { featureMapGrid, featureMapLayers, topClassesChart } from '../../viz/activations.js';
import { type FilterGridLayout, type FilterNormalisation, filterGrid, filterGridLayout, firstLayerKernels } from '../../viz/filters.js';
import { GRID_BORDER } from '../../viz/grid.js';
import { readMetrics, writePng, writeTrainingCurves } from '../../viz/node-viz.js';
import type { CommandSpec, ParsedOptions } from '../args.js';
import { ARCH_OPTION, BACKEND_OPTION, THREADS_OPTION, backendFromOption } from '../common.js';
import { Progress } from '../progress.js';
import { loadModel } from './classify.js';

export const FILTER_LAYOUTS = ['stacked', 'side-by-side', 'grid'] as const;
export type FilterLayout = (typeof FILTER_LAYOUTS)[number];

/** The options each subcommand accepts (the spec below is their union, so parseArgs knows them all). */
const SUBCOMMAND_OPTIONS: Record<string, readonly string[]> = {
  filters: ['weights', 'arch', 'out', 'layout', 'normalisation', 'scale'],
  activations: ['weights', 'arch', 'out', 'top-classes', 'layers', 'labels', 'backend', 'threads'],
  curves: ['out'],
};

function lowerFirst(s: string): string {
  return s.charAt(0).toLowerCase() + s.slice(1);
}

export const vizSpec: CommandSpec = {
  name: 'viz',
  summary: 'Draw first-layer filters, feature maps of an image, or training curves as PNG files.',
  usage: [
    'alexnet viz filters --weights FILE [--arch A] --out FILE.png [--layout L] [--normalisation N] [--scale S]',
    '       alexnet viz activations IMAGE --weights FILE [--arch A] --out DIR [--top-classes] [--layers L,...]',
    '       alexnet viz curves METRICS.jsonl --out FILE.png',
  ].join('\n'),
  options: {
    weights: { type: 'string', arg: 'FILE', help: 'filters, activations: weights of any format (default: the bundled Fashion-MNIST model)' },
    arch: { ...ARCH_OPTION, help: `filters, activations: architecture (default: from the file, else inferred): ${ARCH_NAMES.join(', ')}` },
    out: { type: 'string', arg: 'PATH', help: 'The PNG file to write (filters, curves), or the folder (activations)', required: true },
    layout: {
      type: 'string', arg: 'L', choices: FILTER_LAYOUTS,
      help: 'filters: the two GPU groups one above the other as in Figure 3, side by side, or one grid [default: stacked]',
    },
    normalisation: {
      type: 'string', arg: 'N', choices: ['per-filter', 'symmetric'],
      help: 'filters: each kernel stretched to full contrast, or one range centred on zero for all [default: per-filter]',
    },
    scale: { type: 'integer', arg: 'S', help: 'filters: pixels per kernel weight (default: 4 for 11x11 kernels)' },
    'top-classes': { type: 'boolean', help: 'activations: also draw a bar chart of the top-5 classes (top-classes.png)' },
    layers: { type: 'string', arg: 'L,...', help: 'activations: layer names, or "all" for every layer with feature maps (default: the conv and pool layers)' },
    labels: { type: 'string', arg: 'FILE', help: 'activations: class names, one per line (default: from the weights, else ImageNet\'s)' },
    // No defaults here: a default would count as given to every subcommand (runActivations applies it).
    backend: { ...BACKEND_OPTION, default: undefined, help: `activations: ${lowerFirst(BACKEND_OPTION.help)} [default: ${String(BACKEND_OPTION.default)}]` },
    threads: { ...THREADS_OPTION, help: `activations: ${lowerFirst(THREADS_OPTION.help)}` },
  },
  epilog: [
    'filters draws the first convolution\'s kernels: colour tiles for RGB input (BGR weights such as',
    'Caffe\'s are shown in true colour), gray for the mini network. Weights whose second convolution is',
    'grouped (caffe, caffenet, paper, mini) are drawn as two blocks, one per GPU of the paper.',
    '',
    'activations writes DIR/input.png (the crop the network sees), DIR/<layer>.png per layer (a conv',
    'layer\'s output is before its ReLU; each map is stretched to its own range) and, with',
    '--top-classes, DIR/top-classes.png.',
    '',
    'Examples:',
    '  alexnet viz filters --weights alexnet-owt-7be5be79.pth --out conv1.png',
    '  alexnet viz activations fixtures/images/fashion-mnist/0-ankle-boot.png --out acts/ --top-classes',
    '  alexnet viz curves runs/mini/metrics.jsonl --out curves.png',
  ].join('\n'),
};

export function runViz(options: ParsedOptions, out: (s: string) => void, err: (s: string) => void, positionals: string[]): void {
  const [sub, ...rest] = positionals;
  if (sub === undefined || !(sub in SUBCOMMAND_OPTIONS)) {
    const what = sub === undefined ? 'name what to draw' : `unknown picture "${sub}"`;
    throw new UserError(`viz: ${what}: filters, activations or curves (see 'alexnet viz --help')`);
  }
  for (const name of Object.keys(options)) {
    if (options[name] !== undefined && !SUBCOMMAND_OPTIONS[sub].includes(name)) {
      const owners = Object.keys(SUBCOMMAND_OPTIONS).filter((s) => SUBCOMMAND_OPTIONS[s].includes(name));
      throw new UserError(`viz ${sub}: --${name} is an option of 'viz ${owners.join("' and 'viz ")}'`);
    }
  }
  const outPath = options.out as string;
  if (sub === 'filters') {
    if (rest.length > 0) throw new UserError(`viz filters: unexpected argument "${rest[0]}" (the weights go after --weights)`);
    runFilters(options, outPath, out, err);
  } else if (sub === 'activations') {
    if (rest.length !== 1) throw new UserError("viz activations: name one image (see 'alexnet viz --help')");
    runActivations(rest[0], options, outPath, out, err);
  } else {
    if (rest.length !== 1) throw new UserError("viz curves: name one metrics.jsonl file (see 'alexnet viz --help')");
    const records = readMetrics(rest[0]);
    writeTrainingCurves(outPath, records);
    out(`${outPath}: loss and accuracy over ${records.length} epoch${records.length === 1 ? '' : 's'} from ${rest[0]}\n`);
  }
}

// ---------------------------------------------------------------------------------------------
// viz filters

/** Where each part of a filter picture is, so tests can check pixels against the kernels. */
export interface FilterPicture {
  canvas: Canvas;
  /** Tile of kernel o, in the picture as written. */
  tiles: FilterGridLayout['tiles'];
  /** One box per group, in the picture as written. */
  groups: FilterGridLayout['groups'];
  groupCount: number;
  channelOrder: 'rgb' | 'bgr';
  caption: string;
}

/**
 * The first layer's kernels of a model as a picture. Groups come from the next convolution
 * (firstLayerKernels); BGR-trained weights get channelOrder 'bgr' so that the tiles are in true colour.
 */
export function filterPicture(
  arch: Parameters<typeof firstLayerKernels>[0],
  weights: Parameters<typeof firstLayerKernels>[1],
  preset: Preset,
  options: { layout?: FilterLayout; normalisation?: FilterNormalisation; scale?: number } = {},
): FilterPicture {
  const kernels = firstLayerKernels(arch, weights);
  const layout = options.layout ?? 'stacked';
  const groups = layout === 'grid' ? 1 : kernels.groups;
  const [OC, C, KH, KW] = kernels.weight.shape;
  const channelOrder = preset.color === 'bgr' ? 'bgr' : 'rgb';
  const caption = `${kernels.layer} of ${arch.name}: ${OC} kernels ${KH}x${KW}x${C}${groups > 1 ? `, ${groups} groups` : ''}`;
  const gridOptions = { groups, normalisation: options.normalisation, scale: options.scale, channelOrder, caption } as const;
  const stacked = filterGrid(kernels.weight, gridOptions);
  const L = filterGridLayout(kernels.weight.shape, gridOptions);
  if (layout !== 'side-by-side' || groups === 1) {
    return { canvas: stacked, tiles: L.tiles, groups: L.groups, groupCount: groups, channelOrder, caption };
  }
  return { ...sideBySide(stacked, L), groupCount: groups, channelOrder, caption };
}

/** Gap between group blocks placed side by side, as filterGrid's default gap between stacked ones. */
const GROUP_GAP = 8;

/**
 * Moves the group blocks of a stacked filter picture next to each other (the caption stays on top).
 * The pixels are copied, not redrawn, so both layouts show the very same tiles.
 */
function sideBySide(stacked: Canvas, L: FilterGridLayout): Pick<FilterPicture, 'canvas' | 'tiles' | 'groups'> {
  const top = L.groups[0].y;
  const blocksWidth = L.groups.reduce((s, g) => s + g.width, 0) + GROUP_GAP * (L.groups.length - 1);
  const captionWidth = L.caption ? L.caption.x + L.caption.width + 1 : 0;
  const width = Math.max(blocksWidth, captionWidth);
  const height = top + Math.max(...L.groups.map((g) => g.height));
  const canvas = createCanvas(width, height, GRID_BORDER);
  copyRect(stacked, { x: 0, y: 0, width: Math.min(width, stacked.width), height: top }, canvas, 0, 0);
  const perGroup = L.tiles.length / L.groups.length;
  const tiles: FilterGridLayout['tiles'] = [];
  const groups: FilterGridLayout['groups'] = [];
  let x = 0;
  L.groups.forEach((g, i) => {
    copyRect(stacked, g, canvas, x, top);
    const dx = x - g.x;
    const dy = top - g.y;
    groups.push({ ...g, x, y: top });
    for (const t of L.tiles.slice(i * perGroup, (i + 1) * perGroup)) tiles.push({ ...t, x: t.x + dx, y: t.y + dy });
    x += g.width + GROUP_GAP;
  });
  return { canvas, tiles, groups };
}

function copyRect(src: Canvas, r: { x: number; y: number; width: number; height: number }, dst: Canvas, x: number, y: number): void {
  for (let row = 0; row < r.height; row++) {
    const from = 4 * ((r.y + row) * src.width + r.x);
    dst.data.set(src.data.subarray(from, from + 4 * r.width), 4 * ((y + row) * dst.width + x));
  }
}

function runFilters(options: ParsedOptions, outPath: string, out: (s: string) => void, err: (s: string) => void): void {
  const scale = options.scale as number | undefined;
  if (scale !== undefined && (scale < 1 || scale > 64)) throw new UserError(`--scale must be between 1 and 64, got ${scale}`);
  const progress = new Progress('viz', err);
  const model = loadModel(options.weights as string | undefined, options.arch, undefined, progress);
  for (const note of model.notes) err(`viz: ${note}\n`);
  const picture = filterPicture(model.arch, model.weights, model.preset, {
    layout: options.layout as FilterLayout | undefined,
    normalisation: options.normalisation as FilterNormalisation | undefined,
    scale,
  });
  writePng(outPath, picture.canvas);
  const { canvas, groupCount } = picture;
  const [OC, C, KH, KW] = firstLayerKernels(model.arch, model.weights).weight.shape;
  const source = basename((options.weights as string | undefined) ?? 'the bundled model');
  const groups = groupCount > 1 ? `, ${groupCount} groups ${options.layout ?? 'stacked'}` : '';
  out(`${outPath}: ${OC} first-layer kernels ${KH}x${KW}x${C} of ${source} (${model.arch.name})${groups}, ${canvas.width}x${canvas.height} pixels\n`);
}

// ---------------------------------------------------------------------------------------------
// viz activations

/** The layers drawn by default: every convolution and every pooling with feature maps. */
export function defaultActivationLayers(arch: Parameters<typeof featureMapLayers>[0]): string[] {
  const spatial = new Set(featureMapLayers(arch));
  return arch.layers.filter((l) => spatial.has(l.name) && (l.kind === 'conv' || l.kind === 'maxpool')).map((l) => l.name);
}

/**
 * The network's input tensor [1, C, S, S] turned back into the picture it was made from: the
 * preset's normalisation undone, its channel order put back to RGB, enlarged to at least ~112
 * pixels (the 28x28 Fashion-MNIST crops would be tiny).
 */
export function inputPicture(x: Tensor, preset: Preset): Canvas {
  const [, C, H, W] = x.shape;
  const scale = Math.max(1, Math.round(112 / Math.max(H, W)));
  const c = createCanvas(W * scale, H * scale);
  const byte = (ch: number, i: number): number => {
    const v = (x.data[ch * H * W + i] * preset.std[ch] + preset.mean[ch]) * preset.divisor;
    return Math.max(0, Math.min(255, Math.round(v)));
  };
  // Tensor channel of red, green, blue.
  const rgb = C === 1 ? [0, 0, 0] : preset.color === 'bgr' ? [2, 1, 0] : [0, 1, 2];
  for (let y = 0; y < H; y++) {
    for (let xx = 0; xx < W; xx++) {
      const i = y * W + xx;
      const color = [byte(rgb[0], i), byte(rgb[1], i), byte(rgb[2], i)] as const;
      for (let v = 0; v < scale; v++) for (let u = 0; u < scale; u++) setPixel(c, xx * scale + u, y * scale + v, color);
    }
  }
  return c;
}

function runActivations(imagePath: string, options: ParsedOptions, dir: string, out: (s: string) => void, err: (s: string) => void): void {
  const image = loadImage(imagePath);
  const progress = new Progress('viz', err);
  const model = loadModel(options.weights as string | undefined, options.arch, options.labels, progress);
  for (const note of model.notes) err(`viz: ${note}\n`);
  const backend = backendFromOption(options.backend ?? BACKEND_OPTION.default, options.threads);

  const available = featureMapLayers(model.arch);
  const asked = options.layers as string | undefined;
  let layers: string[];
  if (asked === undefined) layers = defaultActivationLayers(model.arch);
  else if (asked === 'all') layers = available;
  else {
    layers = asked.split(',').map((s) => s.trim()).filter((s) => s !== '');
    const unknown = layers.find((l) => !available.includes(l));
    if (unknown !== undefined || layers.length === 0) {
      throw new UserError(`--layers: ${unknown === undefined ? 'no layer named' : `"${unknown}" has no feature maps in ${model.arch.name}`}; choose from ${available.join(', ')} or "all"`);
    }
  }

  const x = preprocess(image, model.preset);
  const pass = forward(model.arch, model.weights, x, backend, {
    onLayer: (i, n, spec) => progress.update(`${spec.name} (${i + 1}/${n})`),
  });
  progress.done();

  const written: [string, string][] = [];
  const write = (name: string, canvas: Canvas, what: string): void => {
    const path = join(dir, name);
    writePng(path, canvas);
    written.push([path, what]);
  };
  write('input.png', inputPicture(x, model.preset), `the ${x.shape[2]}x${x.shape[3]} crop ${model.arch.name} sees (${model.preset.name} preprocessing)`);
  for (const name of layers) {
    const t = pass.outputs.get(name)!;
    const [, C, H, W] = t.shape;
    write(`${name}.png`, featureMapGrid(t, { caption: name }), `${name}: ${C} feature maps ${H}x${W}`);
  }
  if (options['top-classes']) {
    const probs = pass.probs.data;
    const k = Math.min(5, probs.length);
    write('top-classes.png', topClassesChart(probs, model.labels, k, { title: `top-${k} classes: ${basename(imagePath)}` }), `the ${k} most probable classes`);
  }
  const width = Math.max(...written.map(([p]) => p.length));
  for (const [path, what] of written) out(`${path.padEnd(width)}  ${what}\n`);
}
