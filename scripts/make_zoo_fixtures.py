#!/usr/bin/python3
"""Exports small PyTorch classifiers the way users often do, for tests/cli/zoo_e2e.sh.

Run with Debian's python3: /usr/bin/python3 scripts/make_zoo_fixtures.py
Writes tests/fixtures/zoo/<name>.onnx (1x28x28 inputs, 10 classes, fixed seeds, untrained):
  fixed_batch1      exported without dynamic_axes: the input declares batch 1 and x.view(x.size(0), -1)
                    becomes Reshape [1, -1]
  batch_dependent4  subtracts the batch mean: its outputs depend on the batch size 4
  opset17_mix       LayerNormalization, GELU (Erf), Softplus, PReLU, a bias-free Linear, MatMul
  nhw_mlp           takes N x 28 x 28 (no channel dimension) and flattens inside
  inputs_op11       SmallConv exported at opset 11 with keep_initializers_as_inputs=True: every
                    initializer is listed as a graph input too (IR < 4 style)
  ir3_op7           conv net with BatchNorm, HardSwish, LeakyReLU, ceil-mode AveragePool, a sigmoid gate
                    and Dropout at opset 7, which PyTorch writes as IR version 3: every initializer
                    must also be a graph input, including those compression adds
  opset18_se        squeeze-excitation conv net as PyTorch 2.x exports it at opset 18 (this
                    PyTorch stops at 17: exported at 17, then ReduceMean's axes attribute is
                    rewritten as the input opset 18 requires)
Operators beyond the foundation's list, each with <name>_in.npy (3 images) and <name>_out.npy
(PyTorch's logits for them):
  lstm_rows         LSTM over the 28 image rows (batch_first), last step -> Linear (opset 13)
  gru_bi2           two-layer bidirectional GRU (opset 11)
  rnn_relu          Elman RNN with ReLU, final state -> Linear (opset 9)
  resize_deconv     BatchNorm conv, bilinear downsampling and nearest upsampling (Resize),
                    ConvTranspose, max pooling, F.normalize (ReduceL2) (opset 13)
  upsample_op9      nearest Upsample (opset 9) and a ConvTranspose with padding and output_padding
  einsum_cubic      bicubic Resize (align_corners) and an Einsum classifier head (opset 12)
  shuffle_misc      dilated max pooling after a Conv, PixelShuffle/PixelUnshuffle (DepthToSpace,
                    SpaceToDepth), CELU, Hardshrink/Softshrink (Where, Or, comparisons), CumSum, TopK
                    (opset 13)
  opset20_ir10      built with onnx.helper as newer exporters write (IR version 10, opset 20): Gelu,
                    AveragePool with a dilations attribute, Resize half_pixel_symmetric (no PyTorch
                    reference: tests compare with ONNX Runtime)
  module_functions  residual blocks exported as model-local functions (export_modules_as_functions,
                    opset 15): nodes of domain '__main__' calling them
  lrn_if            LocalResponseNorm and a squeeze of a dimension unknown at export (height and width
                    are dynamic axes): both become If nodes whose branches read the enclosing graph
"""
import os
import torch
import torch.nn as nn
import torch.nn.functional as F

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "zoo")


class SmallConv(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1, self.c2 = nn.Conv2d(1, 8, 3, padding=1), nn.Conv2d(8, 16, 3, padding=1)
        self.bn = nn.BatchNorm2d(16)
        self.fc = nn.Linear(16 * 7 * 7, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.c1(x)), 2)
        x = F.max_pool2d(F.relu(self.bn(self.c2(x))), 2)
        return self.fc(x.view(x.size(0), -1))


class BatchDependent(nn.Module):
    def __init__(self):
        super().__init__()
        self.c, self.fc = nn.Conv2d(1, 4, 3, stride=2), nn.Linear(4 * 13 * 13, 10)

    def forward(self, x):
        h = F.relu(self.c(x)).reshape(4, -1)  # the exporter's [4, -1] is harmless (0 copies the batch) ...
        return self.fc(h - h.mean(0, keepdim=True))  # ... but centring over the batch is not


class Opset17Mix(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.norm = nn.Linear(784, 64), nn.LayerNorm(64)
        self.b, self.act = nn.Linear(64, 32, bias=False), nn.PReLU(32)
        self.w = nn.Parameter(torch.randn(32, 10) * 0.2)

    def forward(self, x):
        x = F.gelu(self.norm(self.a(torch.flatten(x, 1))))
        return F.softplus(self.act(self.b(x))) @ self.w


class NhwMlp(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(784, 100), nn.Linear(100, 10)

    def forward(self, x):
        return self.b(torch.tanh(self.a(x.reshape(x.shape[0], -1))))


class SeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1, self.c2 = nn.Conv2d(1, 16, 3, 2, 1), nn.Conv2d(16, 16, 3, 1, 1, groups=16)
        self.sa, self.sb = nn.Conv2d(16, 4, 1), nn.Conv2d(4, 16, 1)
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        x = F.hardswish(self.c2(F.relu(self.c1(x))))
        x = x * torch.sigmoid(self.sb(F.relu(self.sa(x.mean((2, 3), keepdim=True)))))
        return self.fc(x.mean((2, 3)))


class AvgNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(1, 12, 3, stride=2, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(12)
        self.c2, self.c3 = nn.Conv2d(12, 24, 3, padding=1), nn.Conv2d(24, 24, 1)
        self.fc, self.drop = nn.Linear(24, 10), nn.Dropout(0.3)

    def forward(self, x):
        x = F.hardswish(self.bn1(self.c1(x)))
        x = F.avg_pool2d(F.leaky_relu(self.c2(x), 0.1), 3, stride=2, ceil_mode=True)
        x = torch.sigmoid(self.c3(x)) * x
        return self.fc(self.drop(F.adaptive_avg_pool2d(x, (1, 1)).flatten(1)))


class LstmRows(nn.Module):
    def __init__(self, hidden=32):
        super().__init__()
        self.rnn, self.fc = nn.LSTM(28, hidden, batch_first=True), nn.Linear(hidden, 10)

    def forward(self, x):
        y, _ = self.rnn(x.view(x.size(0), 28, 28))
        return self.fc(y[:, -1])


class GruBi2(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = nn.GRU(28, 16, num_layers=2, batch_first=True, bidirectional=True)
        self.fc = nn.Linear(32, 10)

    def forward(self, x):
        y, _ = self.rnn(x.squeeze(1))
        return self.fc(y[:, -1])


class RnnRelu(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn, self.fc = nn.RNN(28, 24, nonlinearity="relu"), nn.Linear(24, 10)

    def forward(self, x):
        _, h = self.rnn(x.squeeze(1).transpose(0, 1) * 0.5)
        return self.fc(h[0])


class ResizeDeconv(nn.Module):
    def __init__(self):
        super().__init__()
        self.c, self.bn = nn.Conv2d(1, 16, 3, 2, 1), nn.BatchNorm2d(16)
        self.c2, self.d = nn.Conv2d(16, 16, 3, 1, 1), nn.ConvTranspose2d(16, 8, 2, 2)
        self.fc = nn.Linear(8 * 7 * 7, 10)

    def forward(self, x):
        y = F.relu(self.bn(self.c(x)))  # 14 x 14
        y = F.interpolate(y, scale_factor=0.5, mode="bilinear", align_corners=False)  # 7 x 7
        y = F.interpolate(F.relu(self.c2(y)), scale_factor=2, mode="nearest")  # 14 x 14
        y = F.max_pool2d(F.relu(self.d(y)), 4)  # 28 -> 7
        return self.fc(F.normalize(y.flatten(1), dim=1) * 10)


class UpsampleOp9(nn.Module):
    def __init__(self):
        super().__init__()
        self.c = nn.Conv2d(1, 8, 3, 2, 1)
        self.d = nn.ConvTranspose2d(8, 4, 3, stride=2, padding=1, output_padding=1)
        self.fc = nn.Linear(4 * 28 * 28, 10)

    def forward(self, x):
        y = F.interpolate(F.relu(self.c(x)), scale_factor=2, mode="nearest")  # 28 x 28
        return self.fc(F.relu(self.d(F.max_pool2d(y, 2))).flatten(1))


class EinsumCubic(nn.Module):
    def __init__(self):
        super().__init__()
        self.c = nn.Conv2d(1, 4, 3, 2, 1)
        self.w = nn.Parameter(torch.randn(4 * 20 * 20, 10) * 0.05)

    def forward(self, x):
        y = F.interpolate(F.relu(self.c(x)), size=(20, 20), mode="bicubic", align_corners=True)
        return torch.einsum("bi,io->bo", y.flatten(1), self.w)


class ShuffleMisc(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1, self.c2 = nn.Conv2d(1, 16, 3, 1, 2), nn.Conv2d(4, 8, 3, 1, 1)
        self.fc = nn.Linear(8 * 7 * 7 + 16, 10)

    def forward(self, x):
        y = F.max_pool2d(self.c1(x), 3, 2, 1, dilation=2)  # 30 -> 14 x 14, dilated window
        y = F.pixel_shuffle(y, 2)  # 4 x 28 x 28
        y = F.pixel_unshuffle(F.celu(self.c2(y), 0.5), 4)[:, ::16]  # 8 x 7 x 7
        y = F.softshrink(F.hardshrink(y, 0.05), 0.02).flatten(1)
        top, _ = torch.topk(torch.cumsum(y, 1), 16)
        return self.fc(torch.cat([y, top * 0.01], 1))


class LrnIf(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1, self.lrn = nn.Conv2d(1, 8, 3, 2, 1), nn.LocalResponseNorm(3)
        self.c2, self.fc = nn.Conv2d(8, 10, 14), nn.Linear(10, 10)

    def forward(self, x):
        y = self.c2(self.lrn(F.relu(self.c1(x))))  # N x 10 x 1 x 1
        return self.fc(y.squeeze(-1).squeeze(-1))


class ResBlock(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c, self.bn = nn.Conv2d(c, c, 3, 1, 1), nn.BatchNorm2d(c)

    def forward(self, x):
        return F.relu(x + self.bn(self.c(x)))


class FunctionNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem, self.b1, self.b2 = nn.Conv2d(1, 8, 3, 2, 1), ResBlock(8), ResBlock(8)
        self.fc = nn.Linear(8 * 14 * 14, 10)

    def forward(self, x):
        return self.fc(self.b2(self.b1(F.relu(self.stem(x)))).flatten(1))


def make_opset20_ir10(path):
    import numpy as np
    import onnx
    from onnx import helper, numpy_helper, TensorProto
    rng = np.random.RandomState(0)
    inits = [numpy_helper.from_array((rng.randn(8, 1, 3, 3) * 0.5).astype(np.float32), "conv.w"),
             numpy_helper.from_array((rng.randn(8) * 0.1).astype(np.float32), "conv.b"),
             numpy_helper.from_array(np.array([1, 1, 0.75, 0.75], dtype=np.float32), "scales"),
             numpy_helper.from_array((rng.randn(10, 8 * 10 * 10) * 0.05).astype(np.float32), "fc.w"),
             numpy_helper.from_array(np.zeros(10, dtype=np.float32), "fc.b")]
    nodes = [helper.make_node("Conv", ["input", "conv.w", "conv.b"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("Gelu", ["c"], ["g"], approximate="tanh"),
             helper.make_node("AveragePool", ["g"], ["p"], kernel_shape=[2, 2], strides=[2, 2], dilations=[1, 1]),
             helper.make_node("Resize", ["p", "", "scales"], ["r"], mode="linear",
                              coordinate_transformation_mode="half_pixel_symmetric"),
             helper.make_node("Flatten", ["r"], ["f"]),
             helper.make_node("Gemm", ["f", "fc.w", "fc.b"], ["logits"], transB=1)]
    graph = helper.make_graph(nodes, "opset20", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 1, 28, 28])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 10])], inits)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)], producer_name="onnx.helper")
    m.ir_version = 10
    onnx.save(m, path)
    print("opset20_ir10")


def to_opset18(path):
    import numpy as np
    import onnx
    from onnx import numpy_helper
    m = onnx.load(path)
    m.opset_import[0].version = 18
    m.ir_version = 8
    for n in m.graph.node:
        if n.op_type.startswith("Reduce") and n.op_type != "ReduceSum":
            axes = [a for a in n.attribute if a.name == "axes"][0]
            n.attribute.remove(axes)
            name = n.name + "_axes"
            m.graph.initializer.append(numpy_helper.from_array(np.array(list(axes.ints), dtype=np.int64), name))
            n.input.append(name)
    onnx.save(m, path)


def export(name, model, batch, opset, dynamic, shape=(1, 28, 28), reference=False, dynamic_hw=False, **export_kw):
    torch.manual_seed(0)
    model.eval()
    x = torch.randn(batch, *shape)
    if reference:
        import numpy as np
        with torch.no_grad():
            np.save(os.path.join(OUT, name + "_in.npy"), x.numpy())
            np.save(os.path.join(OUT, name + "_out.npy"), model(x).numpy())
    kw = {"dynamic_axes": {"input": {0: "N", 2: "H", 3: "W"} if dynamic_hw else {0: "N"}, "logits": {0: "N"}}} if dynamic else {}
    torch.onnx.export(model, x, os.path.join(OUT, name + ".onnx"), opset_version=opset, input_names=["input"],
                      output_names=["logits"], **kw, **export_kw)
    print(name)


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(0)
    export("fixed_batch1", SmallConv(), 1, 13, dynamic=False)
    export("batch_dependent4", BatchDependent(), 4, 13, dynamic=False)
    export("opset17_mix", Opset17Mix(), 2, 17, dynamic=True)
    export("nhw_mlp", NhwMlp(), 2, 13, dynamic=True, shape=(28, 28))
    export("inputs_op11", SmallConv(), 2, 11, dynamic=True, keep_initializers_as_inputs=True)
    export("ir3_op7", AvgNet(), 2, 7, dynamic=True)
    export("opset18_se", SeNet(), 2, 17, dynamic=True)
    to_opset18(os.path.join(OUT, "opset18_se.onnx"))
    for name, model, opset in [("lstm_rows", LstmRows(), 13), ("gru_bi2", GruBi2(), 11), ("rnn_relu", RnnRelu(), 9),
                               ("resize_deconv", ResizeDeconv(), 13), ("upsample_op9", UpsampleOp9(), 9),
                               ("einsum_cubic", EinsumCubic(), 12), ("shuffle_misc", ShuffleMisc(), 13)]:
        torch.manual_seed(1)
        model.eval()
        if isinstance(model, ResizeDeconv):  # BatchNorm statistics that are not the identity
            model.bn.running_mean.uniform_(-0.5, 0.5)
            model.bn.running_var.uniform_(0.5, 2.0)
        export(name, model, 3, opset, dynamic=True, reference=True)
    torch.manual_seed(1)
    export("lrn_if", LrnIf(), 3, 13, dynamic=True, reference=True, dynamic_hw=True)
    make_opset20_ir10(os.path.join(OUT, "opset20_ir10.onnx"))
    torch.manual_seed(1)
    export("module_functions", FunctionNet(), 3, 15, dynamic=True, reference=True, export_modules_as_functions={ResBlock})
