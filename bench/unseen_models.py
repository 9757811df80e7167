#!/usr/bin/python3
"""Trains four classifiers of kinds the reference models do not cover, in PyTorch, on the
Fashion-MNIST training images nncompress also trains on (the first 55,000), and exports them
with torch.onnx.export as users do (dynamic batch, normalisation mean 0.2860 / std 0.3530 not
recorded in the file, so nncompress commands take --mean 0.2860 --std 0.3530):

  lstm      LSTM(28 -> 64) over the image rows, last step -> Linear        (opset 13)
  updeconv  BatchNorm conv, bilinear and nearest Resize, ConvTranspose,
            max pooling, F.normalize (ReduceL2)                           (opset 13)
  vit       ViT: 7x7 patches, 3 pre-norm encoder layers of width 64, GELU (opset 14)
  mobile    MobileNetV2-style: inverted residuals, depthwise, SiLU,
            Hardswish, BatchNorm, Dropout                                 (opset 14)

Usage: /usr/bin/python3 bench/unseen_models.py OUT_DIR [EPOCHS=2]   (bench/RESULTS.md has the
commands run on the results and what they measured)
"""
import gzip
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts"))
from make_zoo_fixtures import LstmRows, ResizeDeconv  # noqa: E402  (same layers as the zoo fixtures)


class ViT(nn.Module):
    def __init__(self):
        super().__init__()
        self.p = nn.Conv2d(1, 64, 7, 7)
        self.cls = nn.Parameter(torch.zeros(1, 1, 64))
        self.pos = nn.Parameter(torch.randn(1, 17, 64) * 0.02)
        layer = nn.TransformerEncoderLayer(64, 4, 128, dropout=0.0, batch_first=True, activation="gelu", norm_first=True)
        self.enc, self.norm, self.fc = nn.TransformerEncoder(layer, 3), nn.LayerNorm(64), nn.Linear(64, 10)

    def forward(self, x):
        y = self.p(x).flatten(2).transpose(1, 2)
        y = torch.cat([self.cls.expand(y.size(0), -1, -1), y], 1) + self.pos
        return self.fc(self.norm(self.enc(y)[:, 0]))


def inverted_residual(i, o, stride):
    return nn.Sequential(nn.Conv2d(i, i * 4, 1, bias=False), nn.BatchNorm2d(i * 4), nn.SiLU(),
                         nn.Conv2d(i * 4, i * 4, 3, stride, 1, groups=i * 4, bias=False), nn.BatchNorm2d(i * 4), nn.SiLU(),
                         nn.Conv2d(i * 4, o, 1, bias=False), nn.BatchNorm2d(o))


class Mobile(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.Hardswish())
        self.b1, self.b2, self.b3 = inverted_residual(16, 24, 2), inverted_residual(24, 24, 1), inverted_residual(24, 40, 2)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.2), nn.Linear(40, 10))

    def forward(self, x):
        y = self.b1(self.stem(x))
        return self.head(self.b3(y + self.b2(y)))


def load_train():
    d = "/usr/share/datasets/fashion-mnist/"
    raw = lambda f, off: np.frombuffer(gzip.open(d + f).read(), np.uint8, offset=off)
    x = raw("train-images-idx3-ubyte.gz", 16).reshape(-1, 1, 28, 28)[:55000].astype(np.float32) / 255.0
    y = raw("train-labels-idx1-ubyte.gz", 8)[:55000].astype(np.int64)
    return (torch.tensor(x) - 0.2860) / 0.3530, torch.tensor(y)


def main():
    out = sys.argv[1]
    epochs = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    os.makedirs(out, exist_ok=True)
    torch.set_num_threads(2)
    x, y = load_train()
    for name, make, opset, lr in [("lstm", lambda: LstmRows(64), 13, 2e-3), ("updeconv", ResizeDeconv, 13, 2e-3), ("vit", ViT, 14, 1e-3),
                                  ("mobile", Mobile, 14, 1e-3)]:
        torch.manual_seed(0)
        model = make()
        opt = torch.optim.Adam(model.parameters(), lr)
        t0 = time.time()
        model.train()
        for _ in range(epochs):
            perm = torch.randperm(len(x))
            for i in range(0, len(x), 128):
                b = perm[i:i + 128]
                opt.zero_grad()
                F.cross_entropy(model(x[b]), y[b]).backward()
                opt.step()
        model.eval()
        path = os.path.join(out, name + ".onnx")
        torch.onnx.export(model, x[:2], path, opset_version=opset, input_names=["input"], output_names=["logits"],
                          dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}})
        print(f"{name}: trained {epochs} epochs in {time.time() - t0:.0f} s -> {path}", flush=True)


if __name__ == "__main__":
    main()
