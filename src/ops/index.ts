/** Every AlexNet op, forward and backward. One file per op; see each file for its formulas. */
export * from './conv2d.js';
export * from './relu.js';
export * from './lrn.js';
export * from './maxpool.js';
export * from './adaptive-avgpool.js';
export * from './flatten.js';
export * from './linear.js';
export * from './dropout.js';
export * from './softmax.js';
export * from './cross-entropy.js';
