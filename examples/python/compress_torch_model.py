#!/usr/bin/python3
"""From a PyTorch workflow: train a tiny CNN on Fashion-MNIST for one epoch, export it to ONNX in
memory, compress it with nncompress under a 0.5-point accuracy budget, check the result in ONNX
Runtime, print the table.

    PYTHONPATH=build/python /usr/bin/python3 examples/python/compress_torch_model.py [--recipe R.yaml] [--out DIR]

Needs Debian's python3-torch and python3-numpy, the Fashion-MNIST package (dataset-fashion-mnist)
and, for the ONNX Runtime column, `npm ci` in tools/ort (scripts/setup.sh does it).
"""
import argparse
import gzip
import io
import json
import os
import subprocess
import time

import numpy as np
import torch
import torch.nn as nn

import nncompress

FASHION = "/usr/share/datasets/fashion-mnist"
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")


def read_idx(name):
    with gzip.open(os.path.join(FASHION, name + "-ubyte.gz")) as f:
        data = f.read()
    if "images" in name:
        return np.frombuffer(data, np.uint8, offset=16).reshape(-1, 28, 28)
    return np.frombuffer(data, np.uint8, offset=8).astype(np.int64)


class TinyCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
                                      nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2))
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(32 * 7 * 7, 64), nn.ReLU(), nn.Linear(64, 10))

    def forward(self, x):
        return self.classifier(self.features(x))


def ort_top1(path):
    script = os.path.join(ROOT, "tools", "ort", "ort_eval.js")
    if not os.path.isdir(os.path.join(ROOT, "tools", "ort", "node_modules", "onnxruntime-node")):
        return None
    out = subprocess.run(["node", script, path], check=True, capture_output=True, text=True).stdout
    return json.loads(out)["top1"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--recipe", help="a recipe instead of the built-in one (e.g. recipes/demo.yaml)")
    ap.add_argument("--max-drop", type=float, default=0.5)
    ap.add_argument("--out", default="out-python")
    args = ap.parse_args()
    torch.manual_seed(0)
    x, y = read_idx("train-images-idx3"), read_idx("train-labels-idx1")
    tx, ty = read_idx("t10k-images-idx3"), read_idx("t10k-labels-idx1")
    mean, std = 0.2860, 0.3530

    # One epoch of training on all training images (as models from elsewhere are).
    net = TinyCNN()
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    xt = torch.from_numpy(((x / 255.0 - mean) / std).astype(np.float32)).unsqueeze(1)
    yt = torch.from_numpy(y)
    start = time.time()
    for i in torch.randperm(len(xt)).split(128):
        opt.zero_grad()
        nn.functional.cross_entropy(net(xt[i]), yt[i]).backward()
        opt.step()
    print(f"trained one epoch in {time.time() - start:.0f} s")

    # Exported in eval mode: BatchNorm folded into the convolutions by the exporter.
    buf = io.BytesIO()
    net.eval()
    torch.onnx.export(net, torch.zeros(1, 1, 28, 28), buf, input_names=["x"], output_names=["logits"],
                      dynamic_axes={"x": {0: "N"}, "logits": {0: "N"}}, opset_version=17)

    # Compress: uint8 training images, the normalisation the network was trained with.
    r = nncompress.compress(buf, x, y, test_images=tx, test_labels=ty, max_drop=args.max_drop, recipe=args.recipe,
                            mean=mean, std=std)
    os.makedirs(args.out, exist_ok=True)
    original = os.path.join(args.out, "tiny_cnn.onnx")
    with open(original, "wb") as f:
        f.write(buf.getvalue())
    small = os.path.join(args.out, "tiny_cnn.small.onnx")
    r.save(small, os.path.join(args.out, "tiny_cnn.nnc"))
    # ort_eval.js reads the normalisation from the model's metadata: the written model has it; the
    # original export has none, so its row uses nncompress's figure only.
    s, f = r.summary, r.summary["final"]
    rows = [("original (PyTorch export)", s["reference"]["test_top1"], None, len(buf.getvalue())),
            ("compressed ONNX", f["test_top1"], ort_top1(small), len(r.onnx)),
            (".nnc container", f["test_top1"], None, len(r.nnc))]
    print(f"{'model':<28}{'test top-1':>12}{'ONNX Runtime':>14}{'bytes':>10}{'ratio':>9}")
    for name, top1, ort, size in rows:
        ratio = s["fp32_bytes"] / size
        print(f"{name:<28}{100 * top1:>11.2f}%{'' if ort is None else f'{100 * ort:.2f}%':>14}{size:>10,}{ratio:>8.1f}x")
    print(f"recipe {s['recipe']['name']}, {s['seconds']:.0f} s; ratio = fp32 parameter bytes of the original / bytes")


if __name__ == "__main__":
    main()
