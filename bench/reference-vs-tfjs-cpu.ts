/**
 * The readable reference's full-size forward pass, side by side in one run with
 * @tensorflow/tfjs-backend-cpu (plain JavaScript) computing the same network on the same weights.
 * The reference is written for reading, not speed; the bar is only that it is not slower than
 * the plain-JS peer.
 *
 *   npx tsx bench/reference-vs-tfjs-cpu.ts [--runs 3] [--batch 1]
 *
 * Validates before timing (max difference of the logits), then reports the median of the runs
 * and writes bench/results/reference-vs-tfjs-cpu-<date>.md.
 */

import { writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { referenceBackend } from '../src/backend/reference.js';
import { architecture } from '../src/model/architectures.js';
import { forward, type Weights } from '../src/model/network.js';
import { syntheticInput, syntheticWeights } from '../src/model/synthetic.js';
import type { Tensor } from '../src/tensor.js';
import { machineDescription, median, today } from './machine.js';

const args = process.argv.slice(2);
const flag = (name: string, dflt: number): number => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const runs = flag('runs', 3);
const batch = flag('batch', 1);

const arch = architecture('torchvision');
const weights = syntheticWeights(arch, 1000);
const x = syntheticInput(7, [batch, 3, 224, 224]);

/** torchvision AlexNet in tfjs ops: NHWC activations, HWIO filters, the same weights. */
function tfjsModel(w: Weights<Float32Array>): (input: Tensor<Float32Array>) => Float32Array {
  const get = (k: string): Tensor<Float32Array> => w.get(k)!;
  const filter = (k: string): tf.Tensor4D => {
    const t = get(k); // [OC, C, KH, KW] -> [KH, KW, C, OC]
    return tf.tidy(() => tf.transpose(tf.tensor4d(t.data, t.shape as [number, number, number, number]), [2, 3, 1, 0]));
  };
  const convs = [
    ['features.0', 4, 2], ['features.3', 1, 2], ['features.6', 1, 1], ['features.8', 1, 1], ['features.10', 1, 1],
  ] as const;
  const f = convs.map(([k, s, p]) => ({ w: filter(`${k}.weight`), b: tf.tensor1d(get(`${k}.bias`).data), s, p }));
  const fc = ['classifier.1', 'classifier.4', 'classifier.6'].map((k) => ({
    w: tf.tensor2d(get(`${k}.weight`).data, get(`${k}.weight`).shape as [number, number]),
    b: tf.tensor1d(get(`${k}.bias`).data),
  }));
  return (input) =>
    tf.tidy(() => {
      let h: tf.Tensor4D = tf.transpose(tf.tensor4d(input.data, input.shape as [number, number, number, number]), [0, 2, 3, 1]);
      f.forEach((c, i) => {
        h = tf.relu(tf.add(tf.conv2d(tf.pad(h, [[0, 0], [c.p, c.p], [c.p, c.p], [0, 0]]), c.w, c.s, 'valid'), c.b) as tf.Tensor4D);
        if (i === 0 || i === 1 || i === 4) h = tf.maxPool(h, 3, 2, 'valid');
      });
      // AdaptiveAvgPool(6, 6) is the identity at 224; flatten channel-major as PyTorch does.
      let v: tf.Tensor2D = tf.reshape(tf.transpose(h, [0, 3, 1, 2]), [input.shape[0], -1]);
      fc.forEach((l, i) => {
        v = tf.add(tf.matMul(v, l.w, false, true), l.b);
        if (i < 2) v = tf.relu(v);
      });
      return v.dataSync() as Float32Array;
    });
}

async function main(): Promise<void> {
  const loadAtStart = loadavg()[0];
  await tf.setBackend('cpu');
  const tfjs = tfjsModel(weights);

  // Validate before timing.
  const ours = forward(arch, weights, x, referenceBackend).logits.data;
  const theirs = tfjs(x);
  let maxAbs = 0;
  let scale = 0;
  for (let i = 0; i < ours.length; i++) {
    maxAbs = Math.max(maxAbs, Math.abs(ours[i] - theirs[i]));
    scale = Math.max(scale, Math.abs(ours[i]));
  }
  const relErr = maxAbs / scale;
  console.error(`logits agree: max |ours - tfjs| = ${maxAbs.toExponential(2)} (${relErr.toExponential(2)} of max |logit|)`);
  if (relErr > 1e-4) throw new Error('reference and tfjs-cpu disagree; not timing');

  const time = (fn: () => unknown): number => {
    const t0 = performance.now();
    fn();
    return performance.now() - t0;
  };
  const refTimes: number[] = [];
  const tfjsTimes: number[] = [];
  for (let r = 0; r < runs; r++) {
    // alternate so both see the same machine load
    refTimes.push(time(() => forward(arch, weights, x, referenceBackend)));
    tfjsTimes.push(time(() => tfjs(x)));
    console.error(`run ${r + 1}/${runs}: reference ${refTimes[r].toFixed(0)} ms, tfjs-cpu ${tfjsTimes[r].toFixed(0)} ms`);
  }
  const ref = median(refTimes) / batch;
  const tfc = median(tfjsTimes) / batch;
  const macs = 714_188_480;
  const line = (name: string, ms: number): string =>
    `| ${name} | ${ms.toFixed(0)} | ${((2 * macs) / (ms * 1e6)).toFixed(2)} |`;
  const report = [
    `# Reference forward vs tfjs-backend-cpu`,
    '',
    `- date: ${today()}`,
    `- machine: ${machineDescription()}; load average ${loadAtStart.toFixed(2)} at the start, ${loadavg()[0].toFixed(2)} at the end (the ratio is what compares: both engines ran alternately under the same load)`,
    `- network: torchvision AlexNet, 224x224, batch ${batch}, synthetic weights (seed 1000), 1 thread`,
    `- median of ${runs} runs, alternating; validated first: max logit difference ${relErr.toExponential(2)} relative`,
    `- command: \`npx tsx bench/reference-vs-tfjs-cpu.ts --runs ${runs} --batch ${batch}\``,
    '',
    '| engine | ms per image | GFLOP/s |',
    '|---|---|---|',
    line('reference (src/ops, plain loops)', ref),
    line('@tensorflow/tfjs-backend-cpu 4.22', tfc),
    '',
    `Ratio reference / tfjs-cpu: ${(ref / tfc).toFixed(2)}`,
    '',
  ].join('\n');
  process.stdout.write(report);
  writeFileSync(new URL(`./results/reference-vs-tfjs-cpu-${today()}.md`, import.meta.url), report);
}

await main();
