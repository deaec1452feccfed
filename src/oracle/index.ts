/**
 * The oracle as a library (browser-safe: bytes in, bytes out; the CLI does the files):
 *
 *   makeTrace(arch, weights, x, backend, { labels, train, masks, dtype })   every tensor of a pass
 *   traceFiles / traceSafetensors / traceManifest                          a trace as files
 *   traceFromFiles / traceFromSafetensors / traceFromNpy                   ... and back, any backend's
 *   compareTraces(a, b) / formatReport(report)                             tensor-by-tensor errors
 *   exportOnnx(arch, weights)                                              the network as ONNX bytes
 *   runConformance(backend) / formatConformance(report)                    the op-level suite
 *
 * docs/oracle.md describes the layout of a trace and what the tolerances mean.
 */

export * from './trace.js';
export * from './trace-files.js';
export * from './compare.js';
export * from './tolerance.js';
export * from './export-onnx.js';
export * from './conformance.js';
export { sha256Hex, type HashFunction } from './sha256.js';
