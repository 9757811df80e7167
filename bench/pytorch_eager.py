#!/usr/bin/python3
"""PyTorch eager baseline: median ms of batch-256 inference (2 threads) of the fixture networks,
built from the same nn.Module classes scripts/make_fixtures.py exports (same architecture and
shapes, hence the same work; weights are freshly initialised, which does not change the time)."""
import json, os, sys, time
import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts"))
import make_fixtures as fx  # noqa: E402

torch.set_num_threads(int(os.environ.get("THREADS", "2")))
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures")
nets = {"lenet5": fx.LeNet5, "resnet20": fx.ResNet20, "mobilenetv2": fx.MobileNetV2ish}
for name in sys.argv[1:] or nets:
    m = nets[name]().eval()
    x = torch.randn(256, 1, 28, 28)
    with torch.inference_mode():
        for _ in range(5):
            m(x)
        ts = []
        for _ in range(30):
            t = time.perf_counter()
            m(x)
            ts.append((time.perf_counter() - t) * 1000)
    print(json.dumps({"model": name, "runtime": "pytorch-eager", "median_ms": float(np.median(ts))}))
