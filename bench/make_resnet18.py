#!/usr/bin/python3
"""A network nncompress did not train or shape, for bench/RESULTS.md ("torchvision ResNet-18").

torchvision's resnet18(num_classes=10) with a 1-channel 3x3 stem, trained by PyTorch for one pass
over 20,000 Fashion-MNIST training images (SGD 0.05, momentum 0.9), exported at opset 13 with a
dynamic batch. Run with Debian's python3: /usr/bin/python3 bench/make_resnet18.py OUT.onnx
Then e.g.: nncompress share OUT.onnx --mean 0.2860 --std 0.3530 -o shared.onnx --json
"""
import gzip
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

DATA = "/usr/share/datasets/fashion-mnist/"


def idx(name):
    b = gzip.open(DATA + name + ".gz").read()
    nd = b[3]
    dims = [int.from_bytes(b[4 + 4 * i:8 + 4 * i], "big") for i in range(nd)]
    return np.frombuffer(b[4 + 4 * nd:], dtype=np.uint8).reshape(dims)


def main(out):
    torch.manual_seed(0)
    torch.set_num_threads(2)
    x = torch.tensor(idx("train-images-idx3-ubyte")[:55000]).float().div(255).sub(0.2860).div(0.3530).unsqueeze(1)
    y = torch.tensor(idx("train-labels-idx1-ubyte")[:55000]).long()
    m = torchvision.models.resnet18(num_classes=10)
    m.conv1 = nn.Conv2d(1, 64, 3, 1, 1, bias=False)
    opt = torch.optim.SGD(m.parameters(), 0.05, momentum=0.9, weight_decay=5e-4)
    m.train()
    order = torch.randperm(len(x))[:20000]
    for i in range(0, len(order), 128):
        j = order[i:i + 128]
        loss = F.cross_entropy(m(x[j]), y[j])
        opt.zero_grad()
        loss.backward()
        opt.step()
        if i % 2560 == 0:
            print(f"{i}/{len(order)} loss {loss.item():.3f}", flush=True)
    m.eval()
    torch.onnx.export(m, torch.randn(2, 1, 28, 28), out, input_names=["input"], dynamic_axes={"input": {0: "N"}},
                      opset_version=13)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "resnet18.onnx")
