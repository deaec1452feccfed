/**
 * Cross-entropy loss of logits against class labels, averaged over the batch: softmax and
 * negative log-likelihood in one step, as torch.nn.CrossEntropyLoss (reduction 'mean') does.
 *
 * Shapes: logits [N, K], labels [N] (integers in [0, K)), loss a scalar.
 *
 * Forward:   loss = (1/N) sum_n -log softmax(logits[n])[labels[n]]
 *                 = (1/N) sum_n ( logsumexp(logits[n]) - logits[n, labels[n]] )
 * Backward:  dlogits[n, k] = dloss * (softmax(logits[n])[k] - [k == labels[n]]) / N
 *
 * Working from logits (log-sum-exp with the row maximum subtracted) rather than from
 * probabilities avoids log(0) when a probability underflows.
 *
 * Reference: torch.nn.CrossEntropyLoss (https://pytorch.org/docs/1.13/generated/torch.nn.CrossEntropyLoss.html).
 */

import { type FloatArray, type Tensor, allocLike, dims } from '../tensor.js';
import { softmaxRow } from './softmax.js';

export interface CrossEntropyCache<A extends FloatArray> {
  logits: Tensor<A>;
  labels: Int32Array;
}

export function crossEntropyForward<A extends FloatArray>(
  logits: Tensor<A>,
  labels: Int32Array,
): { loss: number; cache: CrossEntropyCache<A> } {
  const [N, K] = dims('cross-entropy: logits', logits, 2);
  if (labels.length !== N) throw new Error(`cross-entropy: ${labels.length} labels for a batch of ${N}`);
  let total = 0;
  for (let n = 0; n < N; n++) {
    const label = labels[n];
    if (!(label >= 0 && label < K)) throw new Error(`cross-entropy: label ${label} of sample ${n} is outside [0, ${K})`);
    let m = -Infinity;
    for (let k = 0; k < K; k++) m = Math.max(m, logits.data[n * K + k]);
    let sum = 0;
    for (let k = 0; k < K; k++) sum += Math.exp(logits.data[n * K + k] - m);
    total += m + Math.log(sum) - logits.data[n * K + label];
  }
  return { loss: total / N, cache: { logits, labels } };
}

export function crossEntropyBackward<A extends FloatArray>(cache: CrossEntropyCache<A>, dloss = 1): { dlogits: Tensor<A> } {
  const { logits, labels } = cache;
  const [N, K] = logits.shape;
  const d = allocLike(logits.data, N * K);
  for (let n = 0; n < N; n++) {
    const p = softmaxRow(logits.data, n, K);
    for (let k = 0; k < K; k++) d[n * K + k] = (dloss * (p[k] - (k === labels[n] ? 1 : 0))) / N;
  }
  return { dlogits: { data: d, shape: [N, K] } };
}
