/**
 * The Node edge of the library: reading files, worker-thread backends, datasets on disk.
 *
 *   import { loadImage, loadWeightsFile } from 'alexnet-ts/node';
 */
export { readBytes, writeAtomic } from './formats/node-fs.js';
export { loadImage } from './image/node-image.js';
export { loadFashionMnist, FASHION_MNIST_DIR } from './train/node-data.js';
export { loadImageFolder } from './train/folder-data.js';
export { createWasmBackendSync } from './backend/wasm/node-backend.js';
export { main } from './cli/main.js';

import { readBytes } from './formats/node-fs.js';
import { loadWeights, type LoadOptions, type LoadedWeights } from './formats/load.js';

/** Reads a weight file of any supported format. */
export function loadWeightsFile(path: string, options: LoadOptions = {}): LoadedWeights {
  return loadWeights(readBytes(path), path, options);
}
