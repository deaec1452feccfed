#!/usr/bin/env python3
"""One epoch of training the mini AlexNet on Fashion-MNIST in PyTorch on the CPU: the peer that
bench/train-epoch.ts times `alexnet train` against, with the recipe of `alexnet train --arch mini`
(src/train/presets.ts):

    He initialisation (weights ~ N(0, 2 / fan_in), biases 0), batch 128, torch.optim.SGD(lr 0.03,
    momentum 0.9, weight_decay 5e-4), dropout 0.5 drawn afresh each step; each training image
    padded by 2 black pixels to 32x32, a random 28x28 crop, mirrored with probability 1/2, then
    normalised with mean 0.2860406 and std 0.3530242 (src/train/augment.ts); the data shuffled
    once; then the 10,000 test images, centre crops, in batches of 250, as src/train/loop.ts does.

The network is make_fixtures.architecture('mini') run layer by layer as in bench/train-step.py
(conv and linear by F.conv2d and F.linear, the other layers by make_fixtures.run_layer), the
repository's transcription of src/model/architectures.ts. The crops and flips are gathered with
tensor indexing, a batch at a time: PyTorch's side is not slowed by a per-image data pipeline.

Run with the Debian interpreter that has PyTorch 1.13:

    /usr/bin/python3 bench/train-epoch.py [--threads 2] [--data-dir /usr/share/datasets/fashion-mnist]
                                          [--seed 1] [--max-steps N]

Prints one JSON line: trainSeconds (the steps, batch assembly included, as `alexnet train`
reports in metrics.jsonl), evalSeconds, steps, trainLoss (mean over the epoch), testAccuracy,
cpuSeconds (this process, all threads), torch, threads.
"""

import gzip
import json
import math
import os
import struct
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures"))
import make_fixtures as mf  # noqa: E402  (after the path is set)

BATCH = 128
LR = 0.03
MOMENTUM = 0.9
WEIGHT_DECAY = 5e-4
MEAN, STD = 0.2860406, 0.3530242
CROP, PAD = 28, 2


def arg(name, default):
    if f"--{name}" in sys.argv:
        return sys.argv[sys.argv.index(f"--{name}") + 1]
    return default


def read_idx(path):
    """An IDX file (gzipped or not) as a numpy array of its shape."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    if data[:2] != b"\0\0" or data[2] != 0x08:
        raise ValueError(f"{path}: not an IDX file of unsigned bytes")
    dims = data[3]
    shape = struct.unpack(">" + "I" * dims, data[4:4 + 4 * dims])
    return np.frombuffer(data, np.uint8, offset=4 + 4 * dims).reshape(shape)


def load(data_dir, prefix):
    images = read_idx(os.path.join(data_dir, f"{prefix}-images-idx3-ubyte.gz"))
    labels = read_idx(os.path.join(data_dir, f"{prefix}-labels-idx1-ubyte.gz"))
    return torch.from_numpy(images.copy()), torch.from_numpy(labels.astype(np.int64))


def he_weights(arch, seed):
    torch.manual_seed(seed)
    weights = mf.synthetic_weights(arch, mf.WEIGHT_SEED, arch["inputSize"])  # the shapes
    for key, t in weights.items():
        if key.endswith(".weight"):
            fan_in = math.prod(t.shape[1:])
            t.normal_(0, math.sqrt(2 / fan_in))
        else:
            t.zero_()
        t.requires_grad_()
    return weights


def logits(arch, weights, x, train):
    h = x
    for spec in arch["layers"]:
        kind = spec["kind"]
        if kind == "conv":
            w, b = weights[spec["param"] + ".weight"], weights[spec["param"] + ".bias"]
            h = F.conv2d(h, w, b, stride=spec["stride"], padding=spec["pad"], groups=spec["groups"])
        elif kind == "linear":
            h = F.linear(h, weights[spec["param"] + ".weight"], weights[spec["param"] + ".bias"])
        elif kind == "dropout":
            h = F.dropout(h, spec["p"], training=train)
        elif kind == "softmax":
            break
        else:
            h = mf.run_layer(spec, h, "train" if train else "eval", None)
    return h


def main():
    threads = int(arg("threads", 2))
    torch.use_deterministic_algorithms(False)  # make_fixtures turned them on; a user's run has the defaults
    torch.set_num_threads(threads)
    data_dir = arg("data-dir", "/usr/share/datasets/fashion-mnist")
    seed = int(arg("seed", 1))
    max_steps = int(arg("max-steps", 0))
    train_images, train_labels = load(data_dir, "train")
    test_images, test_labels = load(data_dir, "t10k")

    arch = mf.architecture("mini")
    weights = he_weights(arch, seed)
    optimizer = torch.optim.SGD(list(weights.values()), lr=LR, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY)
    generator = torch.Generator().manual_seed(seed)
    padded = F.pad(train_images, (PAD, PAD, PAD, PAD))  # uint8 [N, 32, 32], black borders
    n = train_images.shape[0]
    order = torch.randperm(n, generator=generator)
    rows = torch.arange(CROP)

    c0 = time.process_time()
    t0 = time.perf_counter()
    loss_sum, steps = 0.0, 0
    for start in range(0, n, BATCH):
        if max_steps and steps >= max_steps:
            break
        idx = order[start:start + BATCH]
        b = idx.shape[0]
        # random crops and flips, gathered for the whole batch at once
        oy = torch.randint(0, 2 * PAD + 1, (b,), generator=generator)
        ox = torch.randint(0, 2 * PAD + 1, (b,), generator=generator)
        flip = torch.rand(b, generator=generator) < 0.5
        ys = (oy[:, None] + rows[None, :])[:, :, None]
        cols = torch.where(flip[:, None], CROP - 1 - rows[None, :], rows[None, :])
        xs = (ox[:, None] + cols)[:, None, :]
        crops = padded[idx[:, None, None], ys, xs]
        x = ((crops.float() / 255 - MEAN) / STD)[:, None]
        optimizer.zero_grad(set_to_none=True)
        loss = F.cross_entropy(logits(arch, weights, x, True), train_labels[idx])
        loss.backward()
        optimizer.step()
        loss_sum += loss.item() * b
        steps += 1
    train_seconds = time.perf_counter() - t0
    seen = min(n, steps * BATCH)

    t1 = time.perf_counter()
    correct = 0
    with torch.no_grad():
        for start in range(0, test_images.shape[0], 250):
            crops = test_images[start:start + 250]  # 28x28: the centre crop of the padded image is the image
            x = ((crops.float() / 255 - MEAN) / STD)[:, None]
            correct += (logits(arch, weights, x, False).argmax(1) == test_labels[start:start + 250]).sum().item()
    eval_seconds = time.perf_counter() - t1

    print(json.dumps({
        "trainSeconds": train_seconds, "evalSeconds": eval_seconds, "steps": steps,
        "trainLoss": loss_sum / seen, "testAccuracy": correct / test_images.shape[0],
        "cpuSeconds": time.process_time() - c0, "torch": torch.__version__, "threads": torch.get_num_threads(),
    }))


if __name__ == "__main__":
    main()
