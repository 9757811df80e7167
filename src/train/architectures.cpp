#include "nncompress/exec/tensor_proto.hpp"
#include "nncompress/train/architectures.hpp"

#include <ATen/ATen.h>

#include <cmath>

#include "nncompress/core/error.hpp"
#include "nncompress/onnx/graph_builder.hpp"

namespace nnc::train {
namespace {

using onnxio::Attr;
using onnxio::GraphBuilder;

// Builds layers with PyTorch's default initialisation (kaiming_uniform(a=sqrt(5)) for
// weights: U(-1/sqrt(fan_in), 1/sqrt(fan_in)), same bound for biases).
class NetBuilder {
 public:
  NetBuilder(uint64_t seed) : gen_(at::make_generator<at::CPUGeneratorImpl>(seed)) {}

  at::Tensor uniform(std::vector<int64_t> shape, double bound) {
    return at::empty(shape).uniform_(-bound, bound, gen_);
  }
  at::Tensor normal(std::vector<int64_t> shape, double std) { return at::empty(shape).normal_(0.0, std, gen_); }

  std::string conv(const std::string& name, const std::string& x, int64_t in, int64_t out, int64_t k, int64_t stride,
                   int64_t pad, int64_t groups = 1, bool bias = true, bool kaiming_fan_out = false) {
    const double fan_in = static_cast<double>(in / groups * k * k);
    at::Tensor w = kaiming_fan_out ? normal({out, in / groups, k, k}, std::sqrt(2.0 / static_cast<double>(out * k * k)))
                                   : uniform({out, in / groups, k, k}, 1.0 / std::sqrt(fan_in));
    nnc::exec::add_initializer(b, name + ".weight", w);
    std::vector<std::string> inputs{x, name + ".weight"};
    if (bias) {
      nnc::exec::add_initializer(b, name + ".bias", uniform({out}, 1.0 / std::sqrt(fan_in)));
      inputs.push_back(name + ".bias");
    }
    std::vector<Attr> attrs{{"kernel_shape", std::vector<int64_t>{k, k}},
                            {"strides", std::vector<int64_t>{stride, stride}},
                            {"pads", std::vector<int64_t>{pad, pad, pad, pad}}};
    if (groups > 1) attrs.push_back({"group", groups});
    return b.add_node("Conv", inputs, {name + ".out"}, attrs, name);
  }

  std::string bn(const std::string& name, const std::string& x, int64_t c) {
    nnc::exec::add_initializer(b, name + ".weight", at::ones({c}));
    nnc::exec::add_initializer(b, name + ".bias", at::zeros({c}));
    nnc::exec::add_initializer(b, name + ".running_mean", at::zeros({c}));
    nnc::exec::add_initializer(b, name + ".running_var", at::ones({c}));
    return b.add_node("BatchNormalization",
                      {x, name + ".weight", name + ".bias", name + ".running_mean", name + ".running_var"},
                      {name + ".out"}, {{"epsilon", 1e-5f}, {"momentum", 0.9f}}, name);
  }

  std::string relu(const std::string& x) { return b.add_node("Relu", {x}, {b.fresh("relu")}); }
  std::string relu6(const std::string& x) {
    if (!b.graph().initializer_size() || !has_init("relu6.min")) {
      nnc::exec::add_initializer(b, "relu6.min", at::scalar_tensor(0.0f));
      nnc::exec::add_initializer(b, "relu6.max", at::scalar_tensor(6.0f));
    }
    return b.add_node("Clip", {x, "relu6.min", "relu6.max"}, {b.fresh("relu6")});
  }

  std::string linear(const std::string& name, const std::string& x, int64_t in, int64_t out) {
    const double bound = 1.0 / std::sqrt(static_cast<double>(in));
    nnc::exec::add_initializer(b, name + ".weight", uniform({out, in}, bound));
    nnc::exec::add_initializer(b, name + ".bias", uniform({out}, bound));
    return b.add_node("Gemm", {x, name + ".weight", name + ".bias"}, {name + ".out"}, {{"transB", int64_t{1}}}, name);
  }

  std::string maxpool(const std::string& x, int64_t k) {
    return b.add_node("MaxPool", {x}, {b.fresh("pool")},
                      {{"kernel_shape", std::vector<int64_t>{k, k}}, {"strides", std::vector<int64_t>{k, k}}});
  }

  bool has_init(const std::string& name) { return onnxio::find_initializer(b.graph(), name) != nullptr; }

  GraphBuilder b{"nncompress", 13};

 private:
  at::Generator gen_;
};

std::string lenet300(NetBuilder& n, const std::string& x, int64_t in_features, int classes) {
  auto f = n.b.add_node("Flatten", {x}, {"flat"});
  auto h = n.relu(n.linear("fc1", f, in_features, 300));
  h = n.relu(n.linear("fc2", h, 300, 100));
  return n.linear("fc3", h, 100, classes);
}

std::string lenet5(NetBuilder& n, const std::string& x, int channels, int height, int width, int classes) {
  auto h = n.maxpool(n.conv("conv1", x, channels, 20, 5, 1, 0), 2);
  h = n.maxpool(n.conv("conv2", h, 20, 50, 5, 1, 0), 2);
  int64_t hh = ((height - 4) / 2 - 4) / 2, ww = ((width - 4) / 2 - 4) / 2;
  NNC_CHECK(hh > 0 && ww > 0, "lenet5 needs inputs of at least 16x16");
  h = n.b.add_node("Flatten", {h}, {"flat"});
  h = n.relu(n.linear("fc1", h, 50 * hh * ww, 500));
  return n.linear("fc2", h, 500, classes);
}

std::string basic_block(NetBuilder& n, const std::string& name, const std::string& x, int64_t in, int64_t out,
                        int64_t stride) {
  auto h = n.relu(n.bn(name + ".bn1", n.conv(name + ".conv1", x, in, out, 3, stride, 1, 1, false, true), out));
  h = n.bn(name + ".bn2", n.conv(name + ".conv2", h, out, out, 3, 1, 1, 1, false, true), out);
  std::string shortcut = x;
  if (stride != 1 || in != out)
    shortcut = n.bn(name + ".shortcut.bn", n.conv(name + ".shortcut.conv", x, in, out, 1, stride, 0, 1, false, true), out);
  auto sum = n.b.add_node("Add", {h, shortcut}, {name + ".add"});
  return n.relu(sum);
}

std::string resnet20(NetBuilder& n, const std::string& x, int channels, int classes) {
  auto h = n.relu(n.bn("bn1", n.conv("conv1", x, channels, 16, 3, 1, 1, 1, false, true), 16));
  int64_t in = 16;
  const int64_t widths[] = {16, 32, 64};
  for (int s = 0; s < 3; ++s) {
    for (int blk = 0; blk < 3; ++blk) {
      int64_t stride = (s > 0 && blk == 0) ? 2 : 1;
      h = basic_block(n, fmt::format("layer{}.{}", s + 1, blk), h, in, widths[s], stride);
      in = widths[s];
    }
  }
  h = n.b.add_node("GlobalAveragePool", {h}, {"gap"});
  h = n.b.add_node("Flatten", {h}, {"flat"});
  return n.linear("fc", h, 64, classes);
}

std::string inverted_residual(NetBuilder& n, const std::string& name, const std::string& x, int64_t in, int64_t out,
                              int64_t stride, int64_t expand) {
  std::string h = x;
  const int64_t hidden = in * expand;
  if (expand != 1) h = n.relu6(n.bn(name + ".expand.bn", n.conv(name + ".expand", h, in, hidden, 1, 1, 0, 1, false), hidden));
  h = n.relu6(n.bn(name + ".dw.bn", n.conv(name + ".dw", h, hidden, hidden, 3, stride, 1, hidden, false), hidden));
  h = n.bn(name + ".project.bn", n.conv(name + ".project", h, hidden, out, 1, 1, 0, 1, false), out);
  if (stride == 1 && in == out) h = n.b.add_node("Add", {h, x}, {name + ".add"});
  return h;
}

std::string mobilenetv2(NetBuilder& n, const std::string& x, int channels, int classes) {
  // (expansion, channels, repeats, first stride), MobileNetV2 widths x0.5; strides adapted to 28x28.
  const int64_t cfg[][4] = {{1, 8, 1, 1}, {6, 12, 2, 1}, {6, 16, 3, 2}, {6, 32, 4, 2}, {6, 48, 3, 1}, {6, 80, 3, 2}, {6, 160, 1, 1}};
  auto h = n.relu6(n.bn("stem.bn", n.conv("stem", x, channels, 16, 3, 1, 1, 1, false), 16));
  int64_t in = 16;
  int idx = 0;
  for (const auto& c : cfg) {
    for (int64_t r = 0; r < c[2]; ++r) {
      h = inverted_residual(n, fmt::format("block{}", idx++), h, in, c[1], r == 0 ? c[3] : 1, c[0]);
      in = c[1];
    }
  }
  h = n.relu6(n.bn("head.bn", n.conv("head", h, in, 640, 1, 1, 0, 1, false), 640));
  h = n.b.add_node("GlobalAveragePool", {h}, {"gap"});
  h = n.b.add_node("Flatten", {h}, {"flat"});
  return n.linear("classifier", h, 640, classes);
}

}  // namespace

std::vector<std::string> architecture_names() { return {"lenet300", "lenet5", "resnet20", "mobilenetv2"}; }

onnx::ModelProto build_architecture(const std::string& name, uint64_t seed, int classes, int channels, int height,
                                    int width) {
  NetBuilder n(seed);
  n.b.add_input("input", {-1, channels, height, width});
  std::string out;
  if (name == "lenet300") out = lenet300(n, "input", int64_t{channels} * height * width, classes);
  else if (name == "lenet5") out = lenet5(n, "input", channels, height, width, classes);
  else if (name == "resnet20") out = resnet20(n, "input", channels, classes);
  else if (name == "mobilenetv2") out = mobilenetv2(n, "input", channels, classes);
  else fail_option("arch", "'{}': unknown architecture (known: lenet300, lenet5, resnet20, mobilenetv2)", name);
  n.b.add_node("Identity", {out}, {"logits"});
  n.b.add_output("logits", {-1, classes});
  auto model = n.b.build();
  model.mutable_graph()->set_name(name);
  return model;
}

int64_t trainable_parameters(const onnx::ModelProto& model) {
  int64_t total = 0;
  for (const auto& t : model.graph().initializer()) {
    const auto& name = t.name();
    if (name.find("running_") != std::string::npos || name.rfind("relu6.", 0) == 0) continue;
    int64_t n = 1;
    for (auto d : t.dims()) n *= d;
    total += n;
  }
  return total;
}

}  // namespace nnc::train
