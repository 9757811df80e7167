#!/usr/bin/python3
"""Exports small PyTorch networks to ONNX with reference inputs/outputs for the engine tests.

Run with Debian's python3 (python3-torch, python3-onnx): /usr/bin/python3 scripts/make_fixtures.py
Writes tests/fixtures/<name>/{model.onnx,input.npy,output.npy}. Deterministic (fixed seeds).
Together the fixtures cover every operator of the foundation list.
"""
import os
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures")


class MLP(nn.Module):  # Gemm, Relu, Flatten (784-64-32-10, kept small)
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2, self.fc3 = nn.Linear(784, 64), nn.Linear(64, 32), nn.Linear(32, 10)

    def forward(self, x):
        x = torch.flatten(x, 1)
        return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))


class LeNet5(nn.Module):  # Conv, MaxPool, Relu, Reshape via view (Shape/Gather/Unsqueeze/Concat), Gemm
    def __init__(self):
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(1, 20, 5), nn.Conv2d(20, 50, 5)
        self.fc1, self.fc2 = nn.Linear(800, 500), nn.Linear(500, 10)

    def forward(self, x):
        x = F.max_pool2d(self.conv1(x), 2)
        x = F.max_pool2d(self.conv2(x), 2)
        x = x.view(x.size(0), -1)
        return self.fc2(F.relu(self.fc1(x)))


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.short = None
        if stride != 1 or cin != cout:
            self.short = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + (x if self.short is None else self.short(x)))


class ResNet20(nn.Module):  # Conv, BatchNormalization, Add, Relu, GlobalAveragePool, Flatten, Gemm
    def __init__(self, w=(16, 32, 64)):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(1, w[0], 3, 1, 1, bias=False), nn.BatchNorm2d(w[0])
        layers, cin = [], w[0]
        for s, c in enumerate(w):
            for b in range(3):
                layers.append(BasicBlock(cin, c, 2 if (s > 0 and b == 0) else 1))
                cin = c
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(w[2], 10)

    def forward(self, x):
        x = self.layers(F.relu(self.bn1(self.conv1(x))))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


class InvertedResidual(nn.Module):
    def __init__(self, cin, cout, stride, t, act):
        super().__init__()
        h = cin * t
        self.use_res = stride == 1 and cin == cout
        self.body = nn.Sequential(
            nn.Conv2d(cin, h, 1, bias=False), nn.BatchNorm2d(h), act(),
            nn.Conv2d(h, h, 3, stride, 1, groups=h, bias=False), nn.BatchNorm2d(h), act(),
            nn.Conv2d(h, cout, 1, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = self.body(x)
        return x + y if self.use_res else y


class MobileNetV2ish(nn.Module):
    """Depthwise convs, ReLU6 (Clip), HardSwish, inverted residual Add, Concat, Pad, AveragePool,
    Dropout, Transpose, Squeeze/Unsqueeze, HardSigmoid/Sigmoid/Tanh/LeakyRelu gates, Softmax head,
    Sub/Mul/Div arithmetic, ConstantOfShape and Gather from shape arithmetic."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, 16, 3, 2, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU6())
        self.b1 = InvertedResidual(16, 16, 1, 4, nn.ReLU6)
        self.b2 = InvertedResidual(16, 24, 2, 4, nn.Hardswish)
        self.b3 = InvertedResidual(24, 24, 1, 4, nn.ReLU6)
        self.side = nn.Conv2d(24, 8, 1)
        self.head = nn.Conv2d(32, 64, 1)
        self.drop = nn.Dropout(0.2)
        self.fc = nn.Linear(64, 10)

    def forward(self, x):
        x = self.b3(self.b2(self.b1(self.stem(x))))
        gate = torch.sigmoid(x.mean(dim=(2, 3), keepdim=True)) * F.hardsigmoid(x) + torch.tanh(x) * 0.1
        x = x * gate
        x = torch.cat([x, F.leaky_relu(self.side(x), 0.1)], dim=1)
        x = F.pad(x, (1, 1, 1, 1))
        x = F.avg_pool2d(x, 3, 1)
        x = F.hardswish(self.head(x))
        x = x.transpose(2, 3).contiguous()
        x = F.adaptive_avg_pool2d(x, 1).squeeze(-1).squeeze(-1)
        x = self.drop(x).unsqueeze(1).squeeze(1)
        zeros = torch.zeros(x.size(0), 10)  # ConstantOfShape from the batch size
        logits = self.fc(x) + zeros
        return (F.softmax(logits, dim=1) - 0.1) / 2.0


def randomise_bn(m, g):
    for mod in m.modules():
        if isinstance(mod, nn.BatchNorm2d):
            mod.running_mean.copy_(torch.randn(mod.num_features, generator=g) * 0.1)
            mod.running_var.copy_(torch.rand(mod.num_features, generator=g) + 0.5)
            mod.weight.data.copy_(torch.rand(mod.num_features, generator=g) + 0.5)
            mod.bias.data.copy_(torch.randn(mod.num_features, generator=g) * 0.1)


def export(name, model, opset, batch=4, keep_batchnorm=False):
    g = torch.Generator().manual_seed(1234)
    randomise_bn(model, g)
    model.eval()
    x = torch.randn(batch, 1, 28, 28, generator=g)
    with torch.no_grad():
        y = model(x)
    d = os.path.join(OUT, name)
    os.makedirs(d, exist_ok=True)
    torch.onnx.export(model, x, os.path.join(d, "model.onnx"), opset_version=opset, input_names=["input"],
                      output_names=["logits"], dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}},
                      # PRESERVE (model in eval mode) keeps BatchNormalization nodes instead of
                      # folding them into the convolutions, so the engine's folding is exercised.
                      training=torch.onnx.TrainingMode.PRESERVE if keep_batchnorm else torch.onnx.TrainingMode.EVAL)
    np.save(os.path.join(d, "input.npy"), x.numpy())
    np.save(os.path.join(d, "output.npy"), y.numpy())
    import onnx
    ops = sorted({n.op_type for n in onnx.load(os.path.join(d, "model.onnx")).graph.node})
    print(f"{name}: opset {opset}, ops {', '.join(ops)}")


if __name__ == "__main__":
    torch.manual_seed(0)
    export("mlp", MLP(), 9)
    export("lenet5", LeNet5(), 11)
    export("resnet20", ResNet20(), 13, keep_batchnorm=True)
    export("mobilenetv2", MobileNetV2ish(), 14, keep_batchnorm=True)
