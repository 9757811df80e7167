#include "nncompress/compress/quantize/quantize_step.hpp"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <set>

#include "nncompress/compress/compressed_model.hpp"
#include "nncompress/compress/context.hpp"
#include "nncompress/compress/options.hpp"
#include "nncompress/core/error.hpp"
#include "nncompress/data/evaluate.hpp"
#include "nncompress/exec/engine.hpp"
#include "nncompress/onnx/tensor_proto.hpp"

namespace nnc::compress {

nlohmann::json QuantizeStep::options() const { return options_to_json(options_); }

namespace {

// Operators of a model that is quantised already: quantize takes a float model.
void check_float_model(const onnx::ModelProto& model) {
  for (const auto& n : model.graph().node()) {
    const auto& op = n.op_type();
    NNC_CHECK_CODE(op != "QuantizeLinear" && op != "DequantizeLinear" && op != "DynamicQuantizeLinear" &&
                       op.rfind("QLinear", 0) != 0 && op != "ConvInteger" && op != "MatMulInteger",
                   kUnsupported, "the model is quantised already (it has {} nodes): quantize takes a float model", op);
  }
}

}  // namespace

nlohmann::json QuantizeStep::apply(CompressedModel& model, Context& ctx) const {
  check_float_model(model.model());
  const auto& splits = ctx.splits();
  NNC_CHECK(options_.weights_only || splits.calib.size() > 0, "quantize: no calibration images (--calib)");
  // Activation ranges and, for bias correction, the layers' input means (weights only too).
  const auto calib = splits.calib.size() > 0 ? data::split_batches(splits.calib.images, ctx.batch())
                                             : std::vector<at::Tensor>{};
  // Shared weights: one grid per tensor, so that each shared value stays one integer.
  std::set<std::string> shared;
  for (const auto& [name, a] : model.assignments()) shared.insert(name);
  auto q = quantize_qdq(model.model(), options_, calib, shared);

  // What the grid did to what earlier steps made: pruned elements must be int8 0; shared values
  // moved to their channel's grid.
  std::map<std::string, const onnx::TensorProto*> inits;
  for (const auto& t : q.model.graph().initializer()) inits[t.name()] = &t;
  int64_t zeros_kept = 0, shared_weights = 0;
  double shared_max_error = 0, shared_error_sum = 0;
  int64_t shared_elements = 0;
  for (const auto& l : q.report["layers"]) {
    const auto name = l["weight"].get<std::string>();
    if (const auto* mask = model.mask(name)) {
      const std::string v = onnxio::raw_bytes(*inits.at(l["int8"].get<std::string>()));  // its int8 values
      for (std::size_t i = 0; i < mask->size(); ++i) {
        if ((*mask)[i]) continue;
        NNC_CHECK_CODE(v[i] == 0, kInternal, "quantize: pruned element {} of '{}' is not int8 0", i, name);
        ++zeros_kept;
      }
    }
    if (model.assignments().count(name)) {
      ++shared_weights;
      shared_max_error = std::max(shared_max_error, l["max_abs_error"].get<double>());
      shared_error_sum += l["mean_abs_error"].get<double>() * l["params"].get<double>();
      shared_elements += l["params"].get<int64_t>();
    }
  }

  const data::Evaluator val(splits.val, ctx.batch());
  auto before = ctx.make_engine(model.model());
  auto after = ctx.make_engine(q.model);
  const auto tb = ctx.test().evaluate(*before), ta = ctx.test().evaluate(*after);
  const auto vb = val.evaluate(*before), va = val.evaluate(*after);
  nlohmann::json r = q.report;
  r.update({{"step", "quantize"},
            {"top1_before", tb.top1},
            {"top1_after", ta.top1},
            {"top1_drop_pt", 100 * (tb.top1 - ta.top1)},
            {"top1_drop_se_pt", 100 * data::paired_top1_se(tb.correct, ta.correct)},
            {"val_top1_before", vb.top1},
            {"val_top1_after", va.top1},
            {"pruned_zeros_kept", zeros_kept},
            {"shared_weights", shared_weights}});
  if (shared_weights)
    r["shared_snapping"] = {{"max_abs_change", shared_max_error},
                            {"mean_abs_change", shared_error_sum / static_cast<double>(std::max<int64_t>(1, shared_elements))}};
  ctx.note(fmt::format("quantize: {} layers int8{}{}; validation top-1 {:.2f}% -> {:.2f}%, test {:.2f}% -> {:.2f}%",
                       q.report["layers"].size(),
                       options_.weights_only ? "" : fmt::format(", activation ranges from {} calibration images ({})",
                                                                splits.calib.size(), options_.calibration),
                       shared_weights ? fmt::format(" ({} shared weights snapped to their int8 grids)", shared_weights) : "",
                       100 * vb.top1, 100 * va.top1, 100 * tb.top1, 100 * ta.top1));
  model.set_model(std::move(q.model));
  return r;
}

}  // namespace nnc::compress
