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
  mobilenetv2_bn  MobileNetV2 x0.5 adapted to 28x28 (the layout of `nncompress train --arch
           mobilenetv2`: 17 inverted residual blocks, ReLU6, a 640-channel head), 6 epochs of Adam
           with a cosine schedule, random 2-pixel shifts and flips: after folding, its depthwise
           weights span a range ~1000x that of its pointwise ones (the weight-sharing issue's model)
  mobilenetv2_bn_dead  mobilenetv2_bn.onnx (made first if missing) with its first stem channel dead,
           as training leaves some: its weights 0 and its bias -1, so ReLU6 gives 0 on every input;
           then the depthwise weights that read that channel are multiplied by 1/sqrt(1e-5),
           what the exporter's folding of a BatchNorm whose variance is 0 (eps 1e-5) gives them
           (the dead channel's input is 0, so this changes nothing). Max |w| ~250 beside pointwise
           weights below 0.3: the 1000x spread of the weight-sharing issue's MobileNet.
  lenet5_pt  models/lenet5.onnx's architecture (scripts/make_fixtures.py's LeNet5), 8 epochs,
           same recipe as mobilenetv2_bn
  resnet20_bn  ResNet-20 (scripts/make_fixtures.py's ResNet20, BatchNorm folded on export), 6
           epochs, same recipe
  lenet300_pt  LeNet-300-100 (Flatten, 784-300-100-10 with ReLU), 30 epochs of AdamW (lr 1e-3,
           weight decay 0.05, cosine), no augmentation: models/lenet300.onnx's recipe, but on all
           60,000 images, so it has memorised the images nncompress holds out
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

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_fixtures import LeNet5, ResNet20  # noqa: E402  (the fixtures' architectures)

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


class LeNet300(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2, self.fc3 = nn.Linear(784, 300), nn.Linear(300, 100), nn.Linear(100, 10)

    def forward(self, x):
        return self.fc3(F.relu(self.fc2(F.relu(self.fc1(torch.flatten(x, 1))))))


class InvertedResidual(nn.Module):
    def __init__(self, cin, cout, stride, t):
        super().__init__()
        mid = cin * t
        layers = []
        if t != 1:
            layers += [nn.Conv2d(cin, mid, 1, bias=False), nn.BatchNorm2d(mid), nn.ReLU6()]
        layers += [nn.Conv2d(mid, mid, 3, stride, 1, groups=mid, bias=False), nn.BatchNorm2d(mid), nn.ReLU6(),
                   nn.Conv2d(mid, cout, 1, bias=False), nn.BatchNorm2d(cout)]
        self.body = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        return x + self.body(x) if self.residual else self.body(x)


class MobileNetV2(nn.Module):
    # (expansion, channels, repeats, first stride): MobileNetV2 widths x0.5, strides for 28x28.
    CFG = [(1, 8, 1, 1), (6, 12, 2, 1), (6, 16, 3, 2), (6, 32, 4, 2), (6, 48, 3, 1), (6, 80, 3, 2), (6, 160, 1, 1)]

    def __init__(self):
        super().__init__()
        layers = [nn.Conv2d(1, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU6()]
        cin = 16
        for t, c, n, s in self.CFG:
            for r in range(n):
                layers.append(InvertedResidual(cin, c, s if r == 0 else 1, t))
                cin = c
        layers += [nn.Conv2d(cin, 640, 1, bias=False), nn.BatchNorm2d(640), nn.ReLU6()]
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(640, 10)

    def forward(self, x):
        return self.classifier(torch.flatten(F.adaptive_avg_pool2d(self.features(x), 1), 1))


MODELS = {
    "cnn_bn": (lambda: ConvBn(8, 16), 1, 1e-3),
    "cnn_bn_wide": (lambda: ConvBn(32, 64, 128), 3, 1e-3),
    "mobilenetv2_bn": (MobileNetV2, 6, 2e-3),
    "lenet5_pt": (LeNet5, 8, 1e-3),
    "resnet20_bn": (ResNet20, 6, 2e-3),
    "lenet300_pt": (LeNet300, 30, 1e-3),
}
WEIGHT_DECAY = {"lenet300_pt": 0.05}  # AdamW with decoupled weight decay; the others Adam without
AUGMENT = {"mobilenetv2_bn", "lenet5_pt", "resnet20_bn"}  # random 2-pixel shifts (zero padding) and horizontal flips
COSINE = AUGMENT | {"lenet300_pt"}  # a cosine learning-rate schedule; the others a constant rate


def augment(x, g):
    n = len(x)
    flip = torch.rand(n, generator=g) < 0.5
    x = torch.where(flip[:, None, None, None], x.flip(3), x)
    padded = F.pad(x, (2, 2, 2, 2), value=-MEAN / STD)
    dy, dx = torch.randint(0, 5, (2,), generator=g).tolist()  # one shift per batch
    return padded[:, :, dy:dy + 28, dx:dx + 28]


def accuracy(model, x, y):
    model.eval()
    with torch.no_grad():
        return sum((model(x[i:i + 1000]).argmax(1) == y[i:i + 1000]).sum().item() for i in range(0, len(x), 1000)) / len(x)


def make(name, train, test):
    build, epochs, lr = MODELS[name]
    torch.manual_seed(0)
    model = build()
    opt = (torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=WEIGHT_DECAY[name]) if name in WEIGHT_DECAY
           else torch.optim.Adam(model.parameters(), lr=lr))
    x, y = train
    g = torch.Generator().manual_seed(0)
    steps = epochs * ((len(x) + 127) // 128)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps) if name in COSINE else None
    t0 = time.time()
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(len(x), generator=g)
        for i in range(0, len(x), 128):
            b = order[i:i + 128]
            xb = augment(x[b], g) if name in AUGMENT else x[b]
            opt.zero_grad()
            F.cross_entropy(model(xb), y[b]).backward()
            opt.step()
            if sched:
                sched.step()
        if name in COSINE:
            print(f"{name}: epoch {epoch + 1}/{epochs}, {time.time() - t0:.0f} s, test top-1 {100 * accuracy(model, *test):.2f}%",
                  flush=True)
    top1 = accuracy(model, *test)
    path = os.path.join(OUT, f"{name}.onnx")
    model.eval()
    torch.onnx.export(model, torch.zeros(1, 1, 28, 28), path, opset_version=17, input_names=["input"],
                      output_names=["logits"], dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
                      do_constant_folding=True)
    m = onnx.load(path)
    assert not any(n.op_type == "BatchNormalization" for n in m.graph.node), "the exporter left a BatchNorm"
    print(f"{name}: {sum(p.numel() for p in model.parameters())} parameters, {epochs} epoch(s) on all 60,000 "
          f"training images in {time.time() - t0:.0f} s, PyTorch test top-1 {100 * top1:.2f}%, on the last 5,000 "
          f"training images (nncompress's default hold-out) {100 * accuracy(model, x[-5000:], y[-5000:]):.2f}%")


def make_dead(src, dst):
    from onnx import numpy_helper
    m = onnx.load(src)
    g = m.graph
    init = {t.name: t for t in g.initializer}
    stem = next(n for n in g.node if n.op_type == "Conv")
    act = next(n for n in g.node if stem.output[0] in n.input)
    dw = next(n for n in g.node if act.output[0] in n.input and n.op_type == "Conv")
    w0, b0 = (numpy_helper.to_array(init[stem.input[i]]).copy() for i in (1, 2))
    w1 = numpy_helper.to_array(init[dw.input[1]]).copy()
    w0[0], b0[0] = 0.0, -1.0
    w1[0] *= 1.0 / np.sqrt(1e-5)
    for name, arr in [(stem.input[1], w0), (stem.input[2], b0), (dw.input[1], w1)]:
        init[name].CopyFrom(numpy_helper.from_array(arr.astype(np.float32), name))
    onnx.save(m, dst)
    print(f"{os.path.basename(dst)}: stem channel 0 dead, max |w| of the depthwise weights after it {np.abs(w1).max():.1f}")


if __name__ == "__main__":
    torch.set_num_threads(1)
    os.makedirs(OUT, exist_ok=True)
    train, test = load("train"), load("t10k")
    for name in sys.argv[1:] or list(MODELS) + ["mobilenetv2_bn_dead"]:
        if name == "mobilenetv2_bn_dead":
            src = os.path.join(OUT, "mobilenetv2_bn.onnx")
            if not os.path.exists(src):
                make("mobilenetv2_bn", train, test)
            make_dead(src, os.path.join(OUT, "mobilenetv2_bn_dead.onnx"))
        else:
            make(name, train, test)
