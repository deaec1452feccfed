import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { UserError, inFile } from '../../errors.js';
import { readBytes, writeAtomic } from '../../formats/node-fs.js';
import { weightsToSafetensors } from '../../formats/weights.js';
import { INIT_SCHEMES, initWeights, type InitScheme } from '../../model/init.js';
import { checkWeights } from '../../model/network.js';
import { decodeCheckpoint, encodeCheckpoint, type TrainState } from '../../train/checkpoint.js';
import { type TrainConfig, type TrainData, batchesPerEpoch, newTrainState, train } from '../../train/loop.js';
import { FASHION_MNIST_DIR, loadFashionMnist } from '../../train/node-data.js';
import { residentTrainingState, type UpdateForm } from '../../train/optimizer.js';
import { FASHION_MNIST_NORMALISATION, trainDefaults } from '../../train/presets.js';
import { loadImageFolder, presetNormalisation } from '../../train/folder-data.js';
import { rgbPca } from '../../train/augment.js';
import { presetFor } from '../../image/preprocess.js';
import { architecture } from '../../model/architectures.js';
import type { CommandSpec, ParsedOptions } from '../args.js';
import { ARCH_OPTION, BACKEND_OPTION, THREADS_OPTION, archFromOption, backendFromOption } from '../common.js';
import { Progress } from '../progress.js';
import { writeTrainingCurves } from '../../viz/node-viz.js';

export const trainSpec: CommandSpec = {
  name: 'train',
  summary: 'Train an AlexNet with SGD, momentum and weight decay; resumable, deterministic.',
  usage: 'alexnet train --arch A --data fashion-mnist --out DIR [options]',
  options: {
    arch: { ...ARCH_OPTION, required: true },
    data: { type: 'string', arg: 'SOURCE', help: 'fashion-mnist, or a folder with one sub-folder of images per class (see below)', required: true },
    'data-dir': { type: 'string', arg: 'DIR', help: `Where the Fashion-MNIST IDX files are [default: ${FASHION_MNIST_DIR}]` },
    out: { type: 'string', arg: 'DIR', help: 'Run folder: checkpoint, metrics.jsonl, model.safetensors', required: true },
    epochs: { type: 'integer', arg: 'E', help: 'Epochs (default: 20 for mini, 90 otherwise)' },
    'max-steps': { type: 'integer', arg: 'S', help: 'Stop after S optimiser steps in all' },
    batch: { type: 'integer', arg: 'B', help: 'Batch size [default: 128]' },
    lr: { type: 'number', arg: 'LR', help: 'Learning rate (default: 0.03 for mini, 0.01 otherwise)' },
    momentum: { type: 'number', arg: 'M', help: 'Momentum [default: 0.9]' },
    'weight-decay': { type: 'number', arg: 'WD', help: 'Weight decay [default: 5e-4]' },
    'lr-drop-every': { type: 'integer', arg: 'E', help: 'Divide the learning rate by 10 every E epochs (default: 8 for mini)' },
    'lr-plateau': { type: 'boolean', help: 'Divide it by 10 when test accuracy stops improving (default for full-size nets)' },
    update: { type: 'string', arg: 'FORM', choices: ['paper', 'pytorch'], help: 'Momentum update form (default: pytorch for mini, paper otherwise)' },
    init: { type: 'string', arg: 'SCHEME', choices: INIT_SCHEMES, help: 'Initialisation (default: he for mini, paper otherwise)' },
    seed: { type: 'integer', arg: 'S', help: 'Seed of every random choice', default: 1 },
    resume: { type: 'boolean', help: 'Continue the run in --out from its checkpoint' },
    'checkpoint-minutes': { type: 'number', arg: 'N', help: 'Also checkpoint every N minutes within an epoch', default: 10 },
    backend: BACKEND_OPTION,
    threads: THREADS_OPTION,
  },
  epilog: [
    'A folder DIR of images trains any architecture: DIR/<class>/*.png|jpg (every 10th image of a class is',
    'held out for testing) or DIR/train/<class>/ with DIR/val/<class>/. Images are resized as the',
    'architecture\'s weights expect (torchvision: shorter side 256; caffe: 256x256) and cut into random',
    '224/227 crops with flips and PCA colour noise (paper, section 4.1).',
    '',
    'Files in the run folder:',
    '  checkpoint.safetensors  weights, momentum, step, data order, generator state (atomic writes)',
    '  metrics.jsonl           one line per epoch: epoch, step, loss, accuracy, lr, images/s',
    '  curves.png              loss and accuracy per epoch, train and test (redrawn every epoch)',
    '  model.safetensors       the final weights, with the architecture and class names as metadata',
    '',
    'Example:',
    '  alexnet train --arch mini --data fashion-mnist --out runs/mini',
  ].join('\n'),
};

export async function runTrain(options: ParsedOptions, out: (s: string) => void, err: (s: string) => void): Promise<number> {
  let arch = archFromOption(options.arch);
  const backend = backendFromOption(options.backend, options.threads);
  const dir = options.out as string;
  const checkpointPath = join(dir, 'checkpoint.safetensors');
  const d = trainDefaults(arch.name);
  const config: TrainConfig = {
    epochs: (options.epochs as number | undefined) ?? d.epochs,
    maxSteps: options['max-steps'] as number | undefined,
    batch: (options.batch as number | undefined) ?? d.batch,
    lr: (options.lr as number | undefined) ?? d.lr,
    momentum: (options.momentum as number | undefined) ?? d.momentum,
    weightDecay: (options['weight-decay'] as number | undefined) ?? d.weightDecay,
    update: ((options.update as string | undefined) ?? d.update) as UpdateForm,
    lrDropEvery: options['lr-plateau'] ? undefined : ((options['lr-drop-every'] as number | undefined) ?? d.lrDropEvery),
    lrPlateau: Boolean(options['lr-plateau']) || (options['lr-drop-every'] === undefined && d.lrPlateau),
    seed: options.seed as number,
  };
  if (options['lr-plateau'] && options['lr-drop-every'] !== undefined) throw new UserError('choose one of --lr-drop-every and --lr-plateau');
  if (config.batch < 1 || config.epochs < 1 || !(config.lr > 0)) throw new UserError('--batch and --epochs must be at least 1 and --lr positive');
  const init = ((options.init as string | undefined) ?? d.init) as InitScheme;

  const progress = new Progress('train', err);
  let data: TrainData;
  let inputShape: number[];
  if (options.data === 'fashion-mnist') {
    if (arch.inputChannels !== 1 || arch.numClasses !== 10) {
      throw new UserError(`--data fashion-mnist is 1x28x28 with 10 classes: train it with --arch mini`);
    }
    progress.update('loading Fashion-MNIST');
    const fm = loadFashionMnist((options['data-dir'] as string | undefined) ?? FASHION_MNIST_DIR);
    data = { train: fm.train, test: fm.test, batch: { crop: 28, pad: 2, normalisation: FASHION_MNIST_NORMALISATION } };
    inputShape = [1, 1, 28, 28];
  } else {
    const preset = presetFor(arch.name);
    const folder = loadImageFolder(options.data as string, preset, (done, total) => progress.update(`reading images ${done}/${total}`));
    progress.done();
    for (const reason of folder.skipped) err(`alexnet: skipped ${reason}\n`);
    if (folder.skipped.length > 0) err(`train: ${folder.skipped.length} images could not be read and were skipped\n`);
    const classes = folder.train.classNames.length;
    arch = architecture(arch.name, { numClasses: classes });
    data = {
      train: folder.train,
      test: folder.test,
      batch: {
        crop: preset.crop,
        pad: arch.name === 'mini' ? 2 : 0,
        normalisation: presetNormalisation(preset),
        ...(folder.train.channels === 3 ? { pca: rgbPca(folder.train) } : {}),
      },
    };
    inputShape = [1, arch.inputChannels, preset.crop, preset.crop];
    err(`train: ${folder.train.count} training and ${folder.test.count} test images in ${classes} classes from ${String(options.data)}\n`);
  }
  const trainSet = data.train;

  let state: TrainState;
  if (options.resume) {
    const bytes = readBytes(checkpointPath);
    state = inFile(checkpointPath, () => {
      const s = decodeCheckpoint(bytes);
      if (s.progress.arch !== arch.name) throw new UserError(`checkpoint is of architecture ${s.progress.arch}, not ${arch.name}`);
      checkWeights(arch, s.weights, inputShape);
      const saved = s.progress.config as Partial<TrainConfig>;
      for (const key of ['batch', 'seed', 'momentum', 'weightDecay', 'update', 'lr'] as const) {
        if (saved[key] !== config[key]) throw new UserError(`checkpoint was trained with ${key} ${String(saved[key])}, this run asks for ${String(config[key])}`);
      }
      return s;
    });
    err(`train: resuming ${dir} at epoch ${state.progress.epoch + 1}, step ${state.progress.step}\n`);
  } else {
    if (existsSync(checkpointPath)) {
      throw new UserError(`${dir} already holds a run (checkpoint.safetensors): add --resume to continue it, or choose another --out`);
    }
    state = newTrainState(arch, initWeights(arch, init, config.seed, inputShape[2]), config, trainSet.count);
  }

  // From here the weights and momenta live in the backend's memory, when it has such memory: the
  // update then works on them in place (a full-size network's 2 x 244 MB are not copied each step).
  Object.assign(state, residentTrainingState(backend, state.weights, state.momentum));

  const perEpoch = batchesPerEpoch(trainSet.count, config.batch);
  const checkpointMs = (options['checkpoint-minutes'] as number) * 60_000;
  let lastCheckpoint = Date.now();
  let stopRequested = false;
  const onSignal = (): void => {
    stopRequested = true;
    progress.update('stopping after this step (checkpointing)...');
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const started = Date.now();
  const startStep = state.progress.step;
  const writeMetrics = (s: TrainState): void => {
    writeAtomic(join(dir, 'metrics.jsonl'), s.progress.history.map((r) => JSON.stringify(r)).join('\n') + (s.progress.history.length ? '\n' : ''));
  };

  try {
    await train(arch, state, config, data, backend, {
      onStep: (i) => {
        const stepsLeft = (config.epochs - i.epoch) * perEpoch - i.batchInEpoch;
        const rate = (i.step - startStep) / ((Date.now() - started) / 1000);
        const eta = rate > 0 ? formatDuration(stepsLeft / rate) : '?';
        progress.update(`epoch ${i.epoch + 1}/${config.epochs} ${bar(i.batchInEpoch / i.batchesPerEpoch)} ${i.batchInEpoch}/${i.batchesPerEpoch} loss ${i.loss.toFixed(4)} lr ${shortNumber(i.lr)} ${i.imagesPerSecond.toFixed(0)} img/s, ${eta} left`);
      },
      onEvaluate: (done, total) => progress.update(`epoch ${state.progress.epoch + 1}: testing ${done}/${total}`),
      onEpoch: (r, s) => {
        writeTrainingCurves(join(dir, 'curves.png'), s.progress.history);
        progress.done();
        err(`epoch ${r.epoch}: train loss ${r.trainLoss.toFixed(4)} acc ${(100 * r.trainAccuracy).toFixed(2)}%, test loss ${r.testLoss.toFixed(4)} acc ${(100 * r.testAccuracy).toFixed(2)}%, lr ${shortNumber(r.lr)}, ${r.imagesPerSecond.toFixed(0)} img/s\n`);
      },
      wantCheckpoint: () => Date.now() - lastCheckpoint >= checkpointMs,
      checkpoint: (s) => {
        writeAtomic(checkpointPath, encodeCheckpoint(s));
        writeMetrics(s);
        lastCheckpoint = Date.now();
      },
      shouldStop: () => stopRequested,
    });
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  progress.done();
  if (stopRequested) {
    err(`train: stopped at step ${state.progress.step}; continue with the same command and --resume\n`);
    return 130;
  }
  writeAtomic(checkpointPath, encodeCheckpoint(state));
  writeMetrics(state);
  const modelPath = join(dir, 'model.safetensors');
  writeAtomic(
    modelPath,
    weightsToSafetensors(state.weights, {
      arch: arch.name,
      classes: JSON.stringify(trainSet.classNames),
      normalisation: JSON.stringify(data.batch.normalisation),
      inputSize: String(data.batch.crop),
      steps: String(state.progress.step),
    }),
  );
  const last = state.progress.history.at(-1);
  out(
    JSON.stringify({ model: modelPath, steps: state.progress.step, epochs: state.progress.history.length, testAccuracy: last?.testAccuracy ?? null }) + '\n',
  );
  return 0;
}

function bar(fraction: number, width = 20): string {
  const full = Math.round(fraction * width);
  return `[${'='.repeat(full)}${' '.repeat(width - full)}]`;
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h > 0 ? `${h}h${String(m).padStart(2, '0')}m` : `${m}m${String(s % 60).padStart(2, '0')}s`;
}

/** A learning rate as people write it: 0.0003, not the 0.00030000000000000003 that 0.03 * 0.1 * 0.1 is. */
export function shortNumber(x: number): string {
  return String(Number(x.toPrecision(6)));
}
