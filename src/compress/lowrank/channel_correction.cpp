#include "nncompress/compress/lowrank/channel_correction.hpp"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <map>

#include "nncompress/core/error.hpp"
#include "nncompress/exec/engine.hpp"
#include "nncompress/exec/tensor_proto.hpp"
#include "nncompress/onnx/graph_builder.hpp"

namespace nnc::lowrank {
namespace {

// Per-channel mean and standard deviation of a value over the calibration images (channel
// dimension: 1 for convolutions, the last for Gemm/MatMul outputs).
struct Stats {
  at::Tensor mean, std;
};

// Per-channel statistics of every value in `slots` over the calibration images, in one pass.
std::vector<Stats> channel_stats(exec::Engine& engine, const std::vector<std::size_t>& slots,
                                 const std::vector<int64_t>& dims, const std::vector<at::Tensor>& batches) {
  std::vector<at::Tensor> sum(slots.size()), sq(slots.size());
  std::vector<double> n(slots.size(), 0);
  for (const auto& b : batches) {
    const auto outs = engine.run({b});
    for (std::size_t i = 0; i < slots.size(); ++i) {
      auto y = outs.at(slots[i]).to(at::kDouble);
      const int64_t d = dims[i] < 0 ? y.dim() - 1 : dims[i];
      auto flat = y.movedim(d, -1).reshape({-1, y.size(d)});
      sum[i] = sum[i].defined() ? sum[i] + flat.sum(0) : flat.sum(0);
      sq[i] = sq[i].defined() ? sq[i] + (flat * flat).sum(0) : (flat * flat).sum(0);
      n[i] += static_cast<double>(flat.size(0));
    }
  }
  std::vector<Stats> out;
  for (std::size_t i = 0; i < slots.size(); ++i) {
    auto mean = sum[i] / n[i];
    out.push_back({mean, (sq[i] / n[i] - mean * mean).clamp_min(0).sqrt()});
  }
  return out;
}

}  // namespace

int correct_channels(onnx::ModelProto& factored, const onnx::ModelProto& original, const std::vector<std::string>& values,
                     const std::vector<at::Tensor>& calib_batches) {
  if (values.empty() || calib_batches.empty()) return 0;
  c10::InferenceMode guard;
  // The decoders, in graph order.
  struct Decoder {
    std::string value, op, weight, bias;
    bool trans_b = false;  // Gemm
    double beta = 1;       // Gemm
  };
  std::vector<Decoder> decoders;
  for (const auto& node : factored.graph().node()) {
    if (node.output_size() < 1 || std::find(values.begin(), values.end(), node.output(0)) == values.end()) continue;
    Decoder d{node.output(0), node.op_type(), node.input_size() > 1 ? node.input(1) : "", {}};
    if (node.input_size() > 2) d.bias = node.input(2);
    for (const auto& a : node.attribute()) {
      if (a.name() == "transB") d.trans_b = a.i() != 0;
      if (a.name() == "beta") d.beta = a.f();
    }
    if ((d.op == "Conv" || d.op == "Gemm" || d.op == "MatMul") && onnxio::find_initializer(factored.graph(), d.weight) &&
        (d.bias.empty() || onnxio::find_initializer(factored.graph(), d.bias)))
      decoders.push_back(std::move(d));
  }
  if (decoders.empty()) return 0;
  std::vector<std::string> names;
  for (const auto& d : decoders) names.push_back(d.value);
  auto slots = [&](exec::Engine& e) {
    std::map<std::string, std::size_t> slot;
    for (std::size_t i = 0; i < e.outputs().size(); ++i) slot[e.outputs()[i].name] = i;
    return slot;
  };
  exec::Engine reference(onnxio::with_graph_outputs(original, names));
  exec::Engine engine(onnxio::with_graph_outputs(factored, names));
  const auto ref_slot = slots(reference), slot = slots(engine);
  std::vector<std::size_t> ref_slots, our_slots;
  std::vector<int64_t> dims;
  for (const auto& d : decoders) {
    ref_slots.push_back(ref_slot.at(d.value));
    our_slots.push_back(slot.at(d.value));
    dims.push_back(d.op == "Conv" ? 1 : -1);
  }
  // Up to 512 images: per-channel means and deviations need no more, and the layers are
  // corrected one pass each.
  std::vector<at::Tensor> batches;
  int64_t images = 0;
  for (const auto& b : calib_batches) {
    if (images >= 512) break;
    batches.push_back(b.narrow(0, 0, std::min<int64_t>(b.size(0), 512 - images)));
    images += batches.back().size(0);
  }
  const auto want = channel_stats(reference, ref_slots, dims, batches);
  // In graph order, each layer measured with the layers before it already corrected (all at
  // once over-corrects: every layer's scale error compounds through the ones after it).
  for (std::size_t l = 0; l < decoders.size(); ++l) {
    const auto& d = decoders[l];
    const auto have = channel_stats(engine, {our_slots[l]}, {dims[l]}, batches).front();
    // A channel the factored layer leaves (almost) constant keeps its scale; only its mean moves.
    auto a = at::where(have.std > 1e-6 * (want[l].std.max() + 1e-12), want[l].std / have.std.clamp_min(1e-30),
                       at::ones_like(have.std))
                 .clamp(0, 10);
    auto w = engine.weights().get(d.weight).to(at::kDouble);
    const int64_t out_dim = d.op == "Conv" || (d.op == "Gemm" && d.trans_b) ? 0 : w.dim() - 1;
    NNC_CHECK(w.size(out_dim) == a.size(0),
              "channel correction: decoder weight {} has {} outputs, its value {} has {} channels", d.weight,
              w.size(out_dim), d.value, a.size(0));
    std::vector<int64_t> shape(static_cast<std::size_t>(w.dim()), 1);
    shape[static_cast<std::size_t>(out_dim)] = a.size(0);
    engine.weights().set(d.weight, (w * a.reshape(shape)).to(at::kFloat));
    if (!d.bias.empty()) {
      auto b = engine.weights().get(d.bias).to(at::kDouble);
      // Gemm: Y = alpha A B + beta C, so the shift enters C divided by beta.
      const auto shift = (want[l].mean - a * have.mean) / (d.beta != 0 ? d.beta : 1.0);
      if (b.numel() == a.size(0))
        engine.weights().set(d.bias, (b * a.reshape(b.sizes()) + shift.reshape(b.sizes())).to(at::kFloat));
    }
  }
  const int corrected = static_cast<int>(decoders.size());
  // The corrected weights go back into the model.
  auto* g = factored.mutable_graph();
  for (auto& t : *g->mutable_initializer()) {
    for (const auto& d : decoders)
      if (t.name() == d.weight || (!d.bias.empty() && t.name() == d.bias))
        t = exec::from_tensor(engine.weights().get(t.name()).contiguous(), t.name());
  }
  return corrected;
}

}  // namespace nnc::lowrank
