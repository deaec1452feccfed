/**
 * The Node edge of the library: reading files, worker-thread backends, datasets on disk.
 *
 *   import { loadImage, loadWeightsFile } from 'alexnet-ts/node';
 */
export { readBytes, readWeightBytes, writeAtomic, type ReadOptions } from './formats/node-fs.js';
export { loadImage } from './image/node-image.js';
export { loadFashionMnist, FASHION_MNIST_DIR } from './train/node-data.js';
export { loadImageFolder } from './train/folder-data.js';
export { createWasmBackendSync } from './backend/wasm/node-backend.js';
export { main } from './cli/main.js';

import { readWeightBytes } from './formats/node-fs.js';
import { loadWeights, type LoadOptions, type LoadedWeights } from './formats/load.js';

/**
 * Reads a weight file of any supported format. With `into` (a backend's allocateResident), a
 * safetensors or zip .pth file is read straight into that memory and its tensors are views on it:
 *
 *   const backend = createWasmBackendSync();
 *   const { weights } = loadWeightsFile('alexnet.pth', { into: (n) => backend.allocateResident(n) });
 */
export function loadWeightsFile(path: string, options: LoadOptions & { into?: (byteLength: number) => Uint8Array } = {}): LoadedWeights {
  return loadWeights(readWeightBytes(path, { into: options.into }), path, options);
}
