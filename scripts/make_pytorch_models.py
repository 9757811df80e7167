#!/usr/bin/python3
"""Trains small Fashion-MNIST classifiers with PyTorch and exports them the way users do, for the
tests that must hold on models trained elsewhere (tests/fixtures/pytorch/).

Run with Debian's python3 (python3-torch, python3-onnx):
    /usr/bin/python3 scripts/make_pytorch_models.py [NAME...]
Unlike models/ (trained by nncompress on 55,000 images, 5,000 held out), these are trained on ALL
60,000 training images, including the ones nncompress holds out for validation and calibration,
and exported in eval mode at opset 17, so the exporter folds every BatchNorm into the convolution
before it (no BatchNormalization node is left). Inputs are normalised with Fashion-MNIST's
published mean/std (0.2860/0.3530); like models from elsewhere, the files carry no metadata saying so
(nncompress infers it, or is given --mean 0.286 --std 0.353).

  cnn_bn   2 x (Conv 3x3 - BatchNorm - ReLU - MaxPool) - Linear: the first-hour issue's model
           (8 and 16 channels, 1 epoch of Adam)
  cnn_bn_wide  the same with 32 and 64 channels and a 128-unit hidden Linear, 3 epochs
Deterministic for a given PyTorch build (fixed seeds, one thread).
"""
import gzip
import os
import sys
import time

import numpy as np
import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
OUT = os.path.join(ROOT, "tests", "fixtures", "pytorch")
DATA = "/usr/share/datasets/fashion-mnist"
MEAN, STD = 0.2860, 0.3530


def idx(name):
    with gzip.open(os.path.join(DATA, name), "rb") as f:
        raw = f.read()
    dims = raw[3]
    shape = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def load(split):
    x = idx(f"{split}-images-idx3-ubyte.gz").astype(np.float32) / 255.0
    y = idx(f"{split}-labels-idx1-ubyte.gz").astype(np.int64)
    return torch.from_numpy((x - MEAN) / STD).unsqueeze(1), torch.from_numpy(y)


class ConvBn(nn.Module):
    def __init__(self, c1, c2, hidden=0):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(1, c1, 3, padding=1), nn.BatchNorm2d(c1)
        self.conv2, self.bn2 = nn.Conv2d(c1, c2, 3, padding=1), nn.BatchNorm2d(c2)
        self.hidden = nn.Linear(c2 * 7 * 7, hidden) if hidden else None
        self.fc = nn.Linear(hidden or c2 * 7 * 7, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2)
        x = F.max_pool2d(F.relu(self.bn2(self.conv2(x))), 2)
        x = torch.flatten(x, 1)
        if self.hidden is not None:
            x = F.relu(self.hidden(x))
        return self.fc(x)


MODELS = {
    "cnn_bn": (lambda: ConvBn(8, 16), 1, 1e-3),
    "cnn_bn_wide": (lambda: ConvBn(32, 64, 128), 3, 1e-3),
}


def accuracy(model, x, y):
    model.eval()
    with torch.no_grad():
        return sum((model(x[i:i + 1000]).argmax(1) == y[i:i + 1000]).sum().item() for i in range(0, len(x), 1000)) / len(x)


def make(name, train, test):
    build, epochs, lr = MODELS[name]
    torch.manual_seed(0)
    model = build()
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    x, y = train
    g = torch.Generator().manual_seed(0)
    t0 = time.time()
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(len(x), generator=g)
        for i in range(0, len(x), 128):
            b = order[i:i + 128]
            opt.zero_grad()
            F.cross_entropy(model(x[b]), y[b]).backward()
            opt.step()
    top1 = accuracy(model, *test)
    path = os.path.join(OUT, f"{name}.onnx")
    model.eval()
    torch.onnx.export(model, torch.zeros(1, 1, 28, 28), path, opset_version=17, input_names=["input"],
                      output_names=["logits"], dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
                      do_constant_folding=True)
    m = onnx.load(path)
    assert not any(n.op_type == "BatchNormalization" for n in m.graph.node), "the exporter left a BatchNorm"
    print(f"{name}: {sum(p.numel() for p in model.parameters())} parameters, {epochs} epoch(s) on all 60,000 "
          f"training images in {time.time() - t0:.0f} s, PyTorch test top-1 {100 * top1:.2f}%")


if __name__ == "__main__":
    torch.set_num_threads(1)
    os.makedirs(OUT, exist_ok=True)
    train, test = load("train"), load("t10k")
    for name in sys.argv[1:] or MODELS:
        make(name, train, test)
