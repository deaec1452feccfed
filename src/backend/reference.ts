/** The reference backend: the readable loops of src/ops, unchanged. */

import type { Backend } from './backend.js';
import * as ops from '../ops/index.js';

// Each method hands its cache straight back to the matching backward of src/ops.
/* eslint-disable @typescript-eslint/no-explicit-any */
export const referenceBackend: Backend = {
  name: 'reference',
  conv2dForward: ops.conv2dForward,
  conv2dBackward: (cache, dy) => ops.conv2dBackward(cache as any, dy),
  reluForward: ops.reluForward,
  reluBackward: (cache, dy) => ops.reluBackward(cache as any, dy),
  lrnForward: ops.lrnForward,
  lrnBackward: (cache, dy) => ops.lrnBackward(cache as any, dy),
  maxPoolForward: ops.maxPoolForward,
  maxPoolBackward: (cache, dy) => ops.maxPoolBackward(cache as ops.MaxPoolCache, dy),
  adaptiveAvgPoolForward: ops.adaptiveAvgPoolForward,
  adaptiveAvgPoolBackward: (cache, dy) => ops.adaptiveAvgPoolBackward(cache as ops.AdaptiveAvgPoolCache, dy),
  linearForward: ops.linearForward,
  linearBackward: (cache, dy) => ops.linearBackward(cache as any, dy),
  dropoutForward: ops.dropoutForward,
  dropoutBackward: (cache, dy) => ops.dropoutBackward(cache as ops.DropoutCache, dy),
  softmaxForward: ops.softmaxForward,
  crossEntropyForward: ops.crossEntropyForward,
  crossEntropyBackward: (cache) => ops.crossEntropyBackward(cache as any),
};
