#include "nncompress/compress/share/bias_correction.hpp"

#include <ATen/ATen.h>

#include <map>

#include "nncompress/core/error.hpp"
#include "nncompress/dist/tensor_archive.hpp"
#include "nncompress/exec/engine.hpp"
#include "nncompress/onnx/attributes.hpp"
#include "conv_window.hpp"
#include "layer_inputs.hpp"

namespace nnc::share {
namespace {

// Sum over the batch and output positions of the input each kernel tap reads (zero where it
// reads padding): [C, kh, kw], exact, by im2col in chunks of images.
at::Tensor tap_sums(const at::Tensor& x, const detail::Window& w, int64_t& count) {
  at::Tensor sum;
  const int64_t chunk = 16;
  for (int64_t i = 0; i < x.size(0); i += chunk) {
    auto cols = detail::conv_columns(x.slice(0, i, std::min(x.size(0), i + chunk)), w);  // [n, C*kh*kw, L]
    auto s = cols.to(at::kDouble).sum(at::IntArrayRef{0, 2});
    sum = sum.defined() ? sum + s : s;
    count += cols.size(0) * cols.size(2);  // every tap is read once per image and output position
  }
  return sum.reshape({x.size(1), w.kh, w.kw});
}

}  // namespace

BiasCorrection::BiasCorrection(const onnx::ModelProto& model, const SharedSet& set, const at::Tensor& calib,
                               int64_t batch) {
  const auto& g = model.graph();
  std::map<std::string, const onnx::TensorProto*> init;
  for (const auto& t : g.initializer()) init[t.name()] = &t;
  std::map<std::string, std::size_t> tensor_of;
  for (std::size_t t = 0; t < set.names.size(); ++t) tensor_of[set.names[t]] = t;
  // A bias may be corrected only if it is read by its own layer alone and is not shared.
  std::map<std::string, int> readers;
  for (const auto& n : g.node())
    for (const auto& in : n.input()) ++readers[in];

  struct Pending {
    Layer layer;
    std::string input;  // the value the layer reads
    int64_t groups = 1;
    bool taps = false;  // 2-D conv: exact per-tap window means; otherwise per-channel means
    detail::Window window;
    at::Tensor sum;     // running sums (per tap or per channel)
    int64_t count = 0;  // elements each entry of `sum` adds up
  };
  std::vector<Pending> pending;
  for (const auto& n : g.node()) {
    const bool conv = n.op_type() == "Conv", gemm = n.op_type() == "Gemm";
    if ((!conv && !gemm) || n.input_size() < 3 || n.input(2).empty()) continue;
    auto w = tensor_of.find(n.input(1));
    if (w == tensor_of.end() || !init.count(n.input(2)) || tensor_of.count(n.input(2)) || readers[n.input(2)] != 1)
      continue;
    const auto& bias = *init.at(n.input(2));
    if (bias.data_type() != onnx::TensorProto::FLOAT) continue;
    const auto& shape = set.shapes[w->second];
    Pending p;
    p.layer.tensor = w->second;
    p.layer.bias = n.input(2);
    p.layer.conv = conv;
    p.input = n.input(0);
    int64_t bias_elems = 1;
    for (auto d : bias.dims()) bias_elems *= d;
    if (conv) {
      p.groups = onnxio::attr_int(n, "group", 1);
      if (shape.size() < 3 || bias_elems != shape[0]) continue;
      if (shape.size() == 4) {
        p.taps = true;
        if (!detail::conv_window(n, shape, p.window)) continue;
      }
    } else {
      if (onnxio::attr_int(n, "transA", 0) != 0 || shape.size() != 2) continue;
      p.layer.transposed = onnxio::attr_int(n, "transB", 0) == 0;
      const double beta = onnxio::attr_float(n, "beta", 1.0);
      if (beta == 0) continue;
      p.layer.scale = onnxio::attr_float(n, "alpha", 1.0) / beta;
      if (bias_elems != (p.layer.transposed ? shape[1] : shape[0])) continue;
    }
    pending.push_back(std::move(p));
  }
  if (pending.empty()) return;

  // One pass over the calibration set with the values the layers read as extra graph outputs.
  std::vector<std::string> values;
  for (const auto& p : pending) values.push_back(p.input);
  detail::LayerInputs inputs(model, values);
  inputs.run(calib, batch, [&](const std::vector<at::Tensor>& xs) {
    for (std::size_t i = 0; i < pending.size(); ++i) {
      auto& p = pending[i];
      auto x = xs[i].contiguous();
      NNC_CHECK(x.dim() >= 2, "bias correction: value '{}' has rank {}, expected N x C...", p.input, x.dim());
      at::Tensor s;
      if (p.taps && x.dim() == 4) {
        s = tap_sums(x, p.window, p.count);
      } else {
        s = x.dim() > 2 ? x.to(at::kDouble).flatten(2).sum(2).sum(0) : x.to(at::kDouble).sum(0);
        p.count += x.numel() / x.size(1);
      }
      p.sum = p.sum.defined() ? p.sum + s : s;
    }
  });
  for (auto& p : pending) {
    Layer l = p.layer;
    const auto& shape = set.shapes[l.tensor];
    const int64_t in = l.conv ? shape[1] : (l.transposed ? shape[0] : shape[1]);
    const int64_t taps = p.taps ? shape[2] * shape[3] : 1;
    if (p.sum.numel() != p.groups * in * taps || p.count <= 0) continue;  // shapes disagree: leave it alone
    l.mean = (p.sum / static_cast<double>(p.count)).to(at::kFloat).reshape({p.groups, in * taps});
    l.bias0 = inputs.engine().weights().get(l.bias).detach().to(at::kFloat).flatten().clone();
    layers_.push_back(std::move(l));
  }
}

void BiasCorrection::apply(exec::Engine& engine, const SharedSet& set, std::span<const float> values) const {
  for (const auto& l : layers_) {
    const auto begin = set.offsets[l.tensor], n = set.offsets[l.tensor + 1] - begin;
    auto q = at::from_blob(const_cast<float*>(values.data() + begin), {static_cast<int64_t>(n)}, at::kFloat);
    auto w = at::from_blob(const_cast<float*>(set.values.data() + begin), {static_cast<int64_t>(n)}, at::kFloat);
    auto dw = (q - w).reshape(set.shapes[l.tensor]);
    if (set.scale(l.tensor) != 1.0f) dw = dw * set.scale(l.tensor);
    at::Tensor shift;
    if (l.conv) {
      // Each output channel against the mean inputs its group's taps read: l.mean is
      // [groups, in/g * taps] (taps = 1 when only channel means were measured).
      const int64_t groups = l.mean.size(0), out = dw.size(0);
      auto per = l.mean.size(1) == dw[0].numel() ? dw.reshape({out, -1}) : dw.flatten(2).sum(2);
      shift = at::bmm(per.reshape({groups, out / groups, per.size(1)}), l.mean.unsqueeze(2)).reshape({out});
    } else {
      shift = l.transposed ? at::matmul(l.mean.reshape({-1}), dw) : at::matmul(dw, l.mean.reshape({-1}));
      shift = shift * l.scale;
    }
    auto b = l.bias0 - shift;
    engine.weights().set(l.bias, b.reshape(engine.weights().get(l.bias).sizes()));
  }
}

void BiasCorrection::restore(exec::Engine& engine) const {
  for (const auto& l : layers_) engine.weights().set(l.bias, l.bias0.reshape(engine.weights().get(l.bias).sizes()));
}

}  // namespace nnc::share

namespace nnc::share {

void BiasCorrection::save(dist::ArchiveWriter& w) const {
  w.put<uint64_t>(layers_.size());
  for (const auto& l : layers_) {
    w.put<uint64_t>(l.tensor);
    w.put(l.bias);
    dist::put_tensor(w, l.bias0);
    dist::put_tensor(w, l.mean);
    w.put(l.conv);
    w.put(l.transposed);
    w.put(l.scale);
  }
}

std::shared_ptr<const BiasCorrection> BiasCorrection::load(dist::ArchiveReader& r) {
  std::shared_ptr<BiasCorrection> bc(new BiasCorrection());
  const auto n = r.get<uint64_t>();
  for (uint64_t i = 0; i < n; ++i) {
    Layer l;
    l.tensor = r.get<uint64_t>();
    r.get(l.bias);
    l.bias0 = dist::get_tensor(r);
    l.mean = dist::get_tensor(r);
    l.conv = r.get<bool>();
    l.transposed = r.get<bool>();
    l.scale = r.get<double>();
    bc->layers_.push_back(std::move(l));
  }
  return bc;
}

}  // namespace nnc::share
