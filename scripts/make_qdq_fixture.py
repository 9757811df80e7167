#!/usr/bin/python3
"""A QDQ model as PyTorch exports one: a small CNN prepared for quantisation-aware training
(FX graph mode; uint8 activations per tensor, int8 weights per channel, symmetric), observed on a
few batches, exported with QuantizeLinear/DequantizeLinear pairs around activations and weights
(opset 13: per-channel axis). Writes tests/fixtures/qdq/{model.onnx,input.npy,output.npy}, the
output being PyTorch's own (fake-quantised) result. Deterministic.

Run with Debian's python3 (python3-torch): /usr/bin/python3 scripts/make_qdq_fixture.py
"""
import os

import numpy as np
import torch
import torch.nn as nn
from torch.ao.quantization import (FakeQuantize, MovingAverageMinMaxObserver, MovingAveragePerChannelMinMaxObserver,
                                   QConfig, QConfigMapping, disable_observer)
from torch.ao.quantization.quantize_fx import prepare_qat_fx

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "qdq")


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1, self.c2 = nn.Conv2d(1, 8, 3, padding=1), nn.Conv2d(8, 16, 3, padding=1)
        self.fc = nn.Linear(16 * 7 * 7, 10)

    def forward(self, x):
        x = torch.max_pool2d(torch.relu(self.c1(x)), 2)
        x = torch.max_pool2d(torch.relu(self.c2(x)), 2)
        return self.fc(torch.flatten(x, 1))


def main():
    torch.manual_seed(0)
    qconfig = QConfig(
        activation=FakeQuantize.with_args(observer=MovingAverageMinMaxObserver, quant_min=0, quant_max=255,
                                          dtype=torch.quint8),
        weight=FakeQuantize.with_args(observer=MovingAveragePerChannelMinMaxObserver, quant_min=-128, quant_max=127,
                                      dtype=torch.qint8, qscheme=torch.per_channel_symmetric, ch_axis=0))
    x = torch.randn(4, 1, 28, 28)
    model = prepare_qat_fx(Net().train(), QConfigMapping().set_global(qconfig), (x,))
    for _ in range(4):
        model(torch.randn(64, 1, 28, 28))
    model.eval()
    model.apply(disable_observer)  # export the observed ranges as constants
    os.makedirs(OUT, exist_ok=True)
    torch.onnx.export(model, x[:1], os.path.join(OUT, "model.onnx"), input_names=["x"], output_names=["y"],
                      dynamic_axes={"x": {0: "N"}, "y": {0: "N"}}, opset_version=13)
    with torch.no_grad():
        y = model(x)
    np.save(os.path.join(OUT, "input.npy"), x.numpy())
    np.save(os.path.join(OUT, "output.npy"), y.numpy())


if __name__ == "__main__":
    main()
