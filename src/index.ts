/**
 * The library: everything here runs in any JavaScript engine (no Node-only API). File reading,
 * worker threads and the CLI live in `alexnet-ts/node` (src/node.ts).
 *
 *   import { modelFromBytes, decodeImage, classify } from 'alexnet-ts';
 *   const model = modelFromBytes(weightBytes, 'alexnet-owt-7be5be79.pth');
 *   const [top5] = classify(model, [decodeImage(jpegBytes)], { top: 5 });
 */

// Tensors, geometry, the seeded generator, errors
export * from './tensor.js';
export * from './geometry.js';
export { Rng, mix32, type RngState } from './rng.js';
export { UserError, inFile } from './errors.js';

// The reference ops, forward and backward
export * as ops from './ops/index.js';

// Architectures, the walker, initialisation, summaries, synthetic weights
export * from './model/architectures.js';
export { inferShapes, parameterList, type LayerInfo, type ParamInfo } from './model/shapes.js';
export { forward, backward, lossAndGradients, checkWeights, type Weights, type ForwardPass, type Gradients, type ForwardOptions } from './model/network.js';
export { initWeights, INIT_SCHEMES, type InitScheme } from './model/init.js';
export { summarize, type Summary, type SummaryRow } from './model/summary.js';
export { syntheticWeights, syntheticInput, syntheticLabels, syntheticTensor } from './model/synthetic.js';
export { IMAGENET_CLASSES } from './model/imagenet-classes.js';

// Backends
export { type Backend, type OpCache, inScope } from './backend/backend.js';
export { referenceBackend } from './backend/reference.js';
export { createWasmBackend, type WasmBackend, type WasmBackendOptions } from './backend/wasm/backend.js';

// Weight files and tensors
export { loadWeights, sniffFormat, inferArch, type LoadedWeights, type WeightFormat } from './formats/load.js';
export { parseNpy, writeNpy, type NpyArray } from './formats/npy.js';
export { parseSafetensors, writeSafetensors, type SafetensorsFile } from './formats/safetensors.js';
export { weightsFromSafetensors, weightsToSafetensors } from './formats/weights.js';

// Images and preprocessing
export { decodeImage, type DecodeOptions } from './image/decode.js';
export type { RgbImage, GrayImage } from './image/image.js';
export { resize } from './image/resize.js';
export { preprocess, preprocessBatch, preprocessTenCrop, presetFor, tenCrop, TORCHVISION_PRESET, CAFFE_PRESET, MINI_PRESET, type Preset } from './image/preprocess.js';

// Classification
export { modelFromBytes, classifyImages, classifyImages as classify, parseLabels, topK, type Model, type Prediction, type ClassifyOptions } from './classify.js';

// Training
export { train, evaluate, newTrainState, shuffle, type TrainConfig, type TrainData } from './train/loop.js';
export { residentTrainingState, sgdStep, sgdStepOn, zeroMomentum, type SgdOptions, type UpdateForm } from './train/optimizer.js';
export { encodeCheckpoint, decodeCheckpoint, type TrainState } from './train/checkpoint.js';
export { assembleBatch, type BatchOptions } from './train/augment.js';

// The oracle: traces, comparison, ONNX export, conformance of other backends
export * as oracle from './oracle/index.js';
