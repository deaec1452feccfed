import { describe, expect, it } from 'vitest';
import { type OnnxModel, onnxToAlexnet, parseOnnx } from '../../src/formats/onnx.js';
import {
  float32, float64, int64, message, readFields, repeatedFloat32, repeatedInt64, string, uint64,
} from '../../src/formats/protobuf.js';
import { weightsFromSafetensors } from '../../src/formats/weights.js';
import { expectSameWeights, expectUserError, weightFixture } from '../helpers/formats.js';

const fixture = weightFixture;



// Protobuf by hand (https://protobuf.dev/programming-guides/encoding/).
const enc = (s: string) => [...new TextEncoder().encode(s)];
function varint(n: number | bigint): number[] {
  let v = BigInt.asUintN(64, BigInt(n)); // negative int64: 64-bit two's complement, 10 bytes
  const out: number[] = [];
  do {
    let b = Number(v & 0x7fn);
    v >>= 7n;
    if (v) b |= 0x80;
    out.push(b);
  } while (v);
  return out;
}
const tag = (field: number, wire: number) => varint((field << 3) | wire);
const fVarint = (field: number, n: number | bigint) => [...tag(field, 0), ...varint(n)];
const fLen = (field: number, bytes: number[]) => [...tag(field, 2), ...varint(bytes.length), ...bytes];
const fStr = (field: number, s: string) => fLen(field, enc(s));
const fFloat = (field: number, x: number) => [...tag(field, 5), ...new Uint8Array(Float32Array.of(x).buffer)];
const fDouble = (field: number, x: number) => [...tag(field, 1), ...new Uint8Array(Float64Array.of(x).buffer)];
const bytesOf = (a: ArrayBufferView) => [...new Uint8Array(a.buffer, a.byteOffset, a.byteLength)];

describe('protobuf: wire format', () => {
  it('reads every wire type, negative and large integers, strings and nested messages', () => {
    const msg = Uint8Array.from([
      ...fVarint(1, 150), ...fVarint(2, -1), ...fVarint(3, 2 ** 53 - 1), ...fVarint(4, -(2 ** 53) + 1),
      ...fFloat(5, 1.5), ...fDouble(6, -0.1), ...fStr(7, 'héllo'), ...fLen(8, fVarint(1, 7)), ...fVarint(9, 2n ** 64n - 1n),
    ]);
    const f = readFields(msg);
    expect(f.map((x) => [x.number, x.wireType])).toEqual([[1, 0], [2, 0], [3, 0], [4, 0], [5, 5], [6, 1], [7, 2], [8, 2], [9, 0]]);
    expect(int64(f[0])).toBe(150);
    expect(int64(f[1])).toBe(-1);
    expect(int64(f[2])).toBe(2 ** 53 - 1);
    expect(int64(f[3])).toBe(-(2 ** 53) + 1);
    expect(float32(msg, f[4])).toBe(1.5);
    expect(float64(msg, f[5])).toBe(-0.1);
    expect(string(msg, f[6])).toBe('héllo');
    expect(int64(message(msg, f[7])[0])).toBe(7);
    expect(int64(f[8])).toBe(-1); // all 64 bits set, read as int64
    expect(() => uint64(f[8])).toThrow(/too large/);
  });

  it('reads repeated fields packed and unpacked, in order', () => {
    const msg = Uint8Array.from([
      ...fLen(1, [...varint(3), ...varint(-2), ...varint(300)]), ...fVarint(1, 4),
      ...fFloat(2, 0.5), ...fLen(2, bytesOf(Float32Array.of(1, 2))),
    ]);
    const f = readFields(msg);
    expect(repeatedInt64(msg, f, 1)).toEqual([3, -2, 300, 4]);
    expect([...repeatedFloat32(msg, f, 2)]).toEqual([0.5, 1, 2]);
  });

  it('packed floats: a view when aligned, a copy otherwise, the same values either way', () => {
    const values = Float32Array.of(1.25, -3, 7e-8);
    const body = fLen(4, bytesOf(values)); // tag, length, 12 bytes: data at offset 2
    for (const shift of [0, 1, 2, 3]) {
      const buffer = new Uint8Array(body.length + 8);
      buffer.set(body, shift);
      const msg = buffer.subarray(shift, shift + body.length);
      const got = repeatedFloat32(msg, readFields(msg), 4);
      expect([...got]).toEqual([...values]);
      expect(got.buffer === buffer.buffer).toBe((shift + 2) % 4 === 0);
    }
  });

  it('refuses damaged messages with the byte where it went wrong', () => {
    const check = (bytes: number[], message: string) => expectUserError(() => readFields(Uint8Array.from(bytes)), message);
    check([0x08, 0x80], 'corrupt protobuf: varint of field 1 at byte 2 runs past the end of the data');
    check([0x12, 10, 1], 'corrupt protobuf: field 2 at byte 0 says 10 bytes but only 1 remain (truncated file?)');
    check([0x0d, 1, 2], 'corrupt protobuf: field 1 at byte 0 runs past the end of its message (truncated file?)');
    check([0x0b], 'corrupt protobuf: field 1 at byte 0 has wire type 3, which is invalid or unsupported (groups)');
    check([0x0f], 'corrupt protobuf: field 1 at byte 0 has wire type 7, which is invalid or unsupported (groups)');
    check([0x00, 0x00], 'corrupt protobuf: invalid field tag 0 at byte 0');
    check([0x08, ...new Array(10).fill(0xff), 0x01], 'corrupt protobuf: varint of field 1 at byte 1 is longer than 10 bytes');
    expectUserError(() => int64(readFields(Uint8Array.from(fVarint(1, 2n ** 60n)))[0]), 'protobuf field 1 at byte 0 holds an integer beyond ±2^53');
    expectUserError(() => float32(Uint8Array.from(fVarint(1, 1)), readFields(Uint8Array.from(fVarint(1, 1)))[0]), 'corrupt protobuf: field 1 at byte 0 has wire type 0, expected 5 for a float');
  });
});

describe('onnx: torchvision exports (torch.onnx.export, opsets 11 and 13)', () => {
  const tv = weightsFromSafetensors(fixture('tv.safetensors'));
  for (const opset of [11, 13]) {
    it(`opset ${opset}: graph, then weights under torchvision's keys`, () => {
      const model = parseOnnx(fixture(`tv-opset${opset}.onnx`));
      expect(model.opset).toBe(opset);
      expect(model.producer).toBe('pytorch');
      expect(model.inputs).toEqual([{ name: 'input', elemType: 1, shape: [1, 3, 224, 224] }]);
      expect(model.outputs).toEqual([{ name: 'logits', elemType: 1, shape: [1, 10] }]);
      expect(model.nodes.map((n) => n.opType).join(' ')).toBe(
        'Conv Relu MaxPool Conv Relu MaxPool Conv Relu Conv Relu Conv Relu MaxPool AveragePool Flatten Gemm Relu Gemm Relu Gemm',
      );
      expect(model.nodes[0]).toMatchObject({ name: '/features/features.0/Conv', inputs: ['input', 'features.0.weight', 'features.0.bias'] });
      const net = onnxToAlexnet(model);
      expect(net.arch).toBe('torchvision');
      expect(net.inputSize).toEqual([224, 224]);
      expect(net.notes).toEqual([]);
      expectSameWeights(net.weights, tv);
    });
  }

  it('names the first node that is not part of any AlexNet', () => {
    const model = parseOnnx(fixture('tv-opset11.onnx'));
    Object.assign(model.nodes[7], { opType: 'Sigmoid', name: 'Sigmoid_7' });
    expectUserError(() => onnxToAlexnet(model), 'node 7 "Sigmoid_7" (Sigmoid) is not part of any AlexNet');
  });

  it("older exports: x.view(x.size(0), -1) as Shape -> ... -> Reshape, weights through Identity, a Constant shape", () => {
    const model = parseOnnx(fixture('tv-opset11.onnx'));
    const flatten = model.nodes[14];
    const node = (opType: string, inputs: string[], outputs: string[], attributes = new Map()) => ({ opType, name: '', domain: '', inputs, outputs, attributes });
    model.nodes.splice(14, 1,
      node('Shape', [flatten.inputs[0]], ['shape']),
      node('Constant', [], ['zero'], new Map([['value', { name: 'value', type: 'tensor', value: { name: '', dataType: 7, shape: [], ints: [0] } }]])),
      node('Gather', ['shape', 'zero'], ['n']),
      node('Reshape', [flatten.inputs[0], 'n'], flatten.outputs));
    // The first Gemm's weights through an Identity, as torch.onnx writes a shared parameter.
    const gemm = model.nodes.find((n) => n.opType === 'Gemm') as (typeof model.nodes)[number];
    model.nodes.unshift(node('Identity', [gemm.inputs[1]], ['onnx::Gemm_99']));
    gemm.inputs[1] = 'onnx::Gemm_99';
    const net = onnxToAlexnet(model);
    expect(net.arch).toBe('torchvision');
    expectSameWeights(net.weights, weightsFromSafetensors(fixture('tv.safetensors')));
  });

  it('an AdaptiveAvgPool exported from a size it does not divide is refused', () => {
    const model = parseOnnx(fixture('tv-opset13.onnx'));
    model.nodes[13].attributes.set('kernel_shape', { name: 'kernel_shape', type: 'ints', value: [2, 2] });
    model.nodes[13].attributes.set('strides', { name: 'strides', type: 'ints', value: [2, 2] });
    expectUserError(() => onnxToAlexnet(model), 'node 13 "/avgpool/AveragePool" (AveragePool) does not fit torchvision\'s AlexNet: avgpool is AdaptiveAvgPool(6, 6), which this pooling does not compute from 6x6');
  });
});

describe('onnx: the Caffe-derived graph (shaped like the zoo\'s bvlcalexnet)', () => {
  const caffe = weightsFromSafetensors(fixture('caffe.safetensors'));
  const load = (): OnnxModel => parseOnnx(fixture('caffe.onnx'));

  it('parses the graph: zoo names, explicit pads, an int64 shape, float_data and raw_data initializers', () => {
    const model = load();
    expect(model.opset).toBe(9);
    expect(model.irVersion).toBe(3);
    expect(model.nodes).toHaveLength(24);
    expect(model.inputs[0]).toEqual({ name: 'data_0', elemType: 1, shape: [1, 3, 224, 224] });
    expect(model.inputs).toHaveLength(18); // IR 3 also lists the initializers as inputs
    expect(model.outputs.map((o) => o.name)).toEqual(['softmaxout_1']);
    expect(model.nodes[3].attributes.get('pads')).toEqual({ name: 'pads', type: 'ints', value: [0, 0, 1, 1] });
    expect(model.nodes[2].attributes.get('alpha')?.value).toBe(Math.fround(1e-4));
    expect(model.nodes[4].attributes.get('group')?.value).toBe(2);
    expect(model.intInitializers.get('OC2_DUMMY_shape')).toEqual({ shape: [2], data: [1, -1] });
    expect(model.initializers.get('fc7_w_0')?.shape).toEqual([16, 16]);
    expect(model.initializers.get('fc6_b_0')?.data).toEqual(caffe.get('fc6.bias')?.data);
  });

  it('maps to arch caffe with conv1..fc8, transposing the transB=0 Gemm, pads checked against ceil rounding', () => {
    const net = onnxToAlexnet(load());
    expect(net.arch).toBe('caffe');
    expectSameWeights(net.weights, caffe);
    expect(net.notes).toEqual([
      'node 19 (Gemm) has transB=0: its [IN, OUT] weights were transposed to [OUT, IN]',
      'node 3 (MaxPool): pads [0, 0, 1, 1] give the same 27x27 windows as ceil rounding at 54x54',
      'node 7 (MaxPool): pads [0, 0, 0, 0] give the same 13x13 windows as ceil rounding at 27x27',
      'node 14 (MaxPool): pads [0, 0, 1, 1] give the same 6x6 windows as ceil rounding at 13x13',
    ]);
  });

  it('MaxPool pads that do not encode ceil rounding are refused', () => {
    const model = load();
    model.nodes[3].attributes.set('pads', { name: 'pads', type: 'ints', value: [0, 0, 0, 0] });
    expectUserError(() => onnxToAlexnet(model), "node 3 (MaxPool) does not fit caffe's AlexNet: pool1 pools 54x54 to 27x27 (ceil rounding), this MaxPool with pads [0, 0, 0, 0] gives 26x26");
    model.nodes[3].attributes.set('pads', { name: 'pads', type: 'ints', value: [1, 1, 0, 0] });
    expectUserError(() => onnxToAlexnet(model), /^node 3 \(MaxPool\) does not fit caffe's AlexNet: pool1 pools 54x54 to 27x27 \(ceil rounding\), this MaxPool with pads \[1, 1, 0, 0\] gives 27x27$/);
    // ceil_mode (opset 10+) with no pads is Caffe's rounding itself.
    model.nodes[3].attributes.set('pads', { name: 'pads', type: 'ints', value: [0, 0, 0, 0] });
    model.nodes[3].attributes.set('ceil_mode', { name: 'ceil_mode', type: 'int', value: 1 });
    expect(onnxToAlexnet(model).arch).toBe('caffe');
  });

  it('pooling before LRN is CaffeNet; the paper\'s LRN constants and floor pooling at 227 are the paper', () => {
    const caffenet = load();
    for (const [lrn, pool] of [[2, 3], [6, 7]]) {
      const a = caffenet.nodes[lrn];
      const b = caffenet.nodes[pool];
      [a.opType, b.opType] = [b.opType, a.opType];
      [a.attributes, b.attributes] = [b.attributes, a.attributes];
    }
    expect(onnxToAlexnet(caffenet).arch).toBe('caffenet');

    const paper = load();
    paper.inputs[0].shape = [1, 3, 227, 227];
    for (const i of [2, 6]) {
      paper.nodes[i].attributes.set('alpha', { name: 'alpha', type: 'float', value: 5e-4 }); // 1e-4 not divided by n=5
      paper.nodes[i].attributes.set('bias', { name: 'bias', type: 'float', value: 2 });
    }
    for (const i of [3, 7, 14]) paper.nodes[i].attributes.set('pads', { name: 'pads', type: 'ints', value: [0, 0, 0, 0] });
    expect(onnxToAlexnet(paper).arch).toBe('paper');
  });

  it('refuses a wrong group count, Gemm scaling, a branch, and a second input', () => {
    const groups = load();
    groups.nodes[4].attributes.set('group', { name: 'group', type: 'int', value: 1 });
    expectUserError(() => onnxToAlexnet(groups), "node 4 (Conv) does not fit caffe's AlexNet: conv2 is 5x5 stride 1 pad 2 groups 2, this is 5x5 stride 1 pad 2 groups 1");

    const alpha = load();
    alpha.nodes[16].attributes.set('alpha', { name: 'alpha', type: 'float', value: 2 });
    expectUserError(() => onnxToAlexnet(alpha), 'node 16 (Gemm) has transA 0, alpha 2, beta 1; a fully connected layer has 0, 1, 1');

    const branch = load();
    branch.nodes.push({ opType: 'Relu', name: 'side', domain: '', inputs: ['conv1_2'], outputs: ['side_out'], attributes: new Map() });
    expectUserError(() => onnxToAlexnet(branch), 'the graph branches: node 2 (LRN) and node 24 "side" (Relu) both read "conv1_2", but an AlexNet is a chain');

    const inputs = load();
    inputs.initializers.delete('conv3_w_0');
    expectUserError(() => onnxToAlexnet(inputs), 'an AlexNet graph has one input, this one has 2 ("data_0", "conv3_w_0")');
  });

  it('refuses a truncated or corrupt file, and a protobuf that is not a model', () => {
    const bytes = fixture('caffe.onnx');
    expectUserError(() => parseOnnx(bytes.subarray(0, 5000)), /^corrupt protobuf: field 7 at byte \d+ says \d+ bytes but only \d+ remain \(truncated file\?\)$/);
    const flipped = bytes.slice();
    flipped[0] = 0x0f; // field 1 with wire type 7
    expectUserError(() => parseOnnx(flipped), 'corrupt protobuf: field 1 at byte 0 has wire type 7, which is invalid or unsupported (groups)');
    expectUserError(() => parseOnnx(fixture('caffe.caffemodel')), 'not an ONNX model: no graph (ModelProto field 7)');
  });
});

describe('onnx: tensor encodings', () => {
  // A one-node graph (Identity) whose initializers use each encoding.
  const tensor = (name: string, dataType: number, dims: number[], body: number[]) =>
    fLen(5, [...dims.flatMap((d) => fVarint(1, d)), ...fVarint(2, dataType), ...fStr(8, name), ...body]);
  const model = (inits: number[][]) =>
    Uint8Array.from([...fVarint(1, 7), ...fLen(7, [...fLen(1, [...fStr(1, 'x'), ...fStr(2, 'y'), ...fStr(4, 'Identity')]), ...inits.flat()]), ...fLen(8, fVarint(2, 13))]);
  const half = (...bits: number[]) => bytesOf(Uint16Array.from(bits));

  it('FLOAT16, BFLOAT16, DOUBLE, INT32 and INT64 in raw_data and in the typed fields', () => {
    const m = parseOnnx(model([
      tensor('h_raw', 10, [2], fLen(9, half(0x3c00, 0xc000))),
      tensor('h_typed', 10, [2], fLen(5, [...varint(0x3800), ...varint(0x7bff)])),
      tensor('bf_raw', 16, [1], fLen(9, half(0x3fc0))),
      tensor('d_raw', 11, [1], fLen(9, bytesOf(Float64Array.of(0.1)))),
      tensor('d_typed', 11, [2], fLen(10, bytesOf(Float64Array.of(2.5, -1)))),
      tensor('i32_raw', 6, [2], fLen(9, bytesOf(Int32Array.of(-7, 9)))),
      tensor('i64_raw', 7, [2], fLen(9, bytesOf(BigInt64Array.of(-3n, 4n)))),
    ]));
    expect(m.opset).toBe(13);
    const floats = (n: string) => [...(m.initializers.get(n)?.data ?? [])];
    expect(floats('h_raw')).toEqual([1, -2]);
    expect(floats('h_typed')).toEqual([0.5, 65504]);
    expect(floats('bf_raw')).toEqual([1.5]);
    expect(floats('d_raw')).toEqual([Math.fround(0.1)]);
    expect(floats('d_typed')).toEqual([2.5, -1]);
    expect(m.intInitializers.get('i32_raw')).toEqual({ shape: [2], data: [-7, 9] });
    expect(m.intInitializers.get('i64_raw')).toEqual({ shape: [2], data: [-3, 4] });
  });

  it('refuses external data, and element counts that do not match the dims', () => {
    expectUserError(
      () => parseOnnx(model([tensor('w', 1, [2], [...fLen(13, [...fStr(1, 'location'), ...fStr(2, 'w.bin')]), ...fVarint(14, 1)])])),
      'initializer "w" keeps its data in an external file (ONNX external data), which is not supported: save the model with its tensors inside the .onnx file',
    );
    expectUserError(() => parseOnnx(model([tensor('w', 1, [3], fLen(9, bytesOf(Float32Array.of(1, 2))))])), 'initializer "w" has dims [3] (3 elements) but 2 FLOAT values');
  });
});
