#!/usr/bin/env python3
"""One AlexNet training step in PyTorch on the CPU: the peer that bench/train-step.ts times this
project's training step against.

A step is what src/train/loop.ts does per mini-batch: forward in train mode (dropout drawn afresh),
mean cross-entropy, backward, and torch.optim.SGD(lr, momentum=0.9, weight_decay=5e-4):

    mini    architecture('mini'),  batch 128 of 1x28x28, 10 classes, lr 0.01
    caffe   architecture('caffe'), batch 8 of 3x227x227, 1000 classes, lr 0.001
            (the synthetic full-size net overshoots at 0.01, see fixtures/make_sgd_fixtures.py)

The networks, the synthetic weights (seed 1000), input (seed 7) and labels (seed 11) come from
fixtures/make_fixtures.py, the repository's transcription of src/model/architectures.ts and
src/model/synthetic.ts (its tests check the transcription against the TypeScript), so both sides
train the same net from the same numbers. Importing it sets one deterministic thread; this script
then asks for THREADS threads (default 2) and PyTorch's default algorithms, as a user would run it.

Run with the Debian interpreter that has PyTorch 1.13:

    /usr/bin/python3 bench/train-step.py [--steps 10] [--threads 2] [--nets mini,caffe]
        times --steps steps per net after one warm-up step; prints the median per net.

    /usr/bin/python3 bench/train-step.py --serve [--threads 2]
        for bench/train-step.ts: reads one JSON request per line on stdin and answers one JSON line
        on stdout, so that the two engines can take turns step by step:
          {"cmd": "setup", "net": "mini"}  -> {"net", "batch", "params", "torch", "threads"}
          {"cmd": "check", "net": "mini"}  -> {"loss", "gradNorms": {key: L2 norm}} at the current
                weights, with every dropout unit kept (mask of ones: kept units scaled by 1/(1-p)),
                no update: the validation before timing
          {"cmd": "step", "net": "mini"}   -> {"ms", "cpu", "loss"}: one timed training step (cpu:
                CPU seconds of the process, all threads)
          {"cmd": "quit"}
"""

import json
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures"))
import make_fixtures as mf  # noqa: E402  (after the path is set)

NETS = {
    "mini": {"batch": 128, "lr": 0.01},
    "caffe": {"batch": 8, "lr": 0.001},
}
MOMENTUM = 0.9
WEIGHT_DECAY = 5e-4


def arg(name, default):
    if f"--{name}" in sys.argv:
        return sys.argv[sys.argv.index(f"--{name}") + 1]
    return default


THREADS = int(arg("threads", 2))
torch.use_deterministic_algorithms(False)  # make_fixtures turned them on; a user's run has the defaults
torch.set_num_threads(THREADS)


class Net:
    """One architecture with its weights, optimiser state and fixed batch."""

    def __init__(self, name):
        cfg = NETS[name]
        self.arch = mf.architecture(name)
        size = self.arch["inputSize"]
        self.batch = cfg["batch"]
        self.weights = mf.synthetic_weights(self.arch, mf.WEIGHT_SEED, size)
        for t in self.weights.values():
            t.requires_grad_()
        self.x = torch.from_numpy(mf.synthetic_tensor(mf.INPUT_SEED, [self.batch, self.arch["inputChannels"], size, size], 1.0))
        self.labels = torch.from_numpy(mf.synthetic_labels(mf.LABEL_SEED, self.batch, self.arch["numClasses"]))
        self.optimizer = torch.optim.SGD(list(self.weights.values()), lr=cfg["lr"], momentum=MOMENTUM, weight_decay=WEIGHT_DECAY)

    def logits(self, keep_all=False):
        """Train-mode forward up to the layer before `prob`. Dropout: F.dropout, or with keep_all a
        mask of ones (make_fixtures.apply_dropout: x * (mask / (1 - p)))."""
        h = self.x
        for spec in self.arch["layers"]:
            kind = spec["kind"]
            if kind == "conv":
                w, b = self.weights[spec["param"] + ".weight"], self.weights[spec["param"] + ".bias"]
                h = F.conv2d(h, w, b, stride=spec["stride"], padding=spec["pad"], groups=spec["groups"])
            elif kind == "linear":
                h = F.linear(h, self.weights[spec["param"] + ".weight"], self.weights[spec["param"] + ".bias"])
            elif kind == "dropout":
                if keep_all:
                    h = mf.apply_dropout(h, torch.ones(h.shape), spec["p"])
                else:
                    h = F.dropout(h, spec["p"], training=True)
            elif kind == "softmax":
                break
            else:
                h = mf.run_layer(spec, h, "train", None)
        return h

    def check(self):
        loss = F.cross_entropy(self.logits(keep_all=True), self.labels)
        keys = list(self.weights)
        grads = torch.autograd.grad(loss, [self.weights[k] for k in keys])
        return {"loss": loss.item(), "gradNorms": {k: g.double().norm().item() for k, g in zip(keys, grads)}}

    def step(self):
        t0, c0 = time.perf_counter(), time.process_time()
        self.optimizer.zero_grad(set_to_none=True)
        loss = F.cross_entropy(self.logits(), self.labels)
        loss.backward()
        self.optimizer.step()
        ms = (time.perf_counter() - t0) * 1000
        # cpu: CPU seconds of this process, every thread, so the caller can tell its load from others'
        return {"ms": ms, "cpu": time.process_time() - c0, "loss": loss.item()}


def serve():
    nets = {}
    for line in sys.stdin:
        req = json.loads(line)
        cmd = req["cmd"]
        try:
            if cmd == "quit":
                break
            if cmd == "setup":
                net = nets[req["net"]] = Net(req["net"])
                reply = {"net": req["net"], "batch": net.batch, "params": sum(t.numel() for t in net.weights.values()),
                         "torch": torch.__version__, "threads": torch.get_num_threads()}
            elif cmd == "check":
                reply = nets[req["net"]].check()
            elif cmd == "step":
                reply = nets[req["net"]].step()
            else:
                reply = {"error": f"unknown command {cmd}"}
        except Exception as e:  # reported to the caller, which says what failed
            reply = {"error": f"{type(e).__name__}: {e}"}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


def standalone():
    steps = int(arg("steps", 10))
    print(f"PyTorch {torch.__version__}, {torch.get_num_threads()} threads")
    for name in arg("nets", "mini,caffe").split(","):
        net = Net(name)
        net.step()  # warm-up
        times, losses = [], []
        for _ in range(steps):
            r = net.step()
            times.append(r["ms"])
            losses.append(r["loss"])
        med = statistics.median(times)
        line = f"{name}: batch {net.batch}, median {med:.1f} ms per step over {steps} steps (min {min(times):.1f}, max {max(times):.1f})"
        if name == "mini":
            line += f", {469 * med / 1000:.1f} s per epoch of 469 steps"
        print(line + f"; losses {losses[0]:.3f} .. {losses[-1]:.3f}")


if __name__ == "__main__":
    serve() if "--serve" in sys.argv else standalone()
