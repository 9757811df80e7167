#include "cli/data_loading.hpp"

#include <fmt/ranges.h>

#include <set>

#include "nncompress/core/error.hpp"
#include "nncompress/onnx/metadata.hpp"

namespace nnc::cli {

data::Normalisation resolve_normalisation(const DataOptions& o, const onnx::ModelProto& model) {
  if (!o.mean.empty() || !o.std.empty()) {
    NNC_CHECK(!o.mean.empty() && !o.std.empty(), "--mean and --std must be given together");
    NNC_CHECK(o.mean.size() == o.std.size(), "--mean has {} values but --std has {}", o.mean.size(), o.std.size());
    return {o.mean, o.std};
  }
  auto meta = onnxio::get_normalisation(model);
  NNC_CHECK(meta.has_value(), "model has no input normalisation metadata; pass --mean and --std");
  return {meta->mean, meta->std};
}

namespace {

// Reads the data, checks its image shape against the model's input (flattening images for
// flat-input models) and its labels against the model's class count.
data::DataSource load_checked(const DataOptions& o, const onnx::ModelProto& model, bool test_only) {
  auto source = data::load_data(o.data, test_only);
  // Image shape against the model's declared input (C, H, W; symbolic dims accepted).
  const auto& g = model.graph();
  std::set<std::string> inits;
  for (const auto& t : g.initializer()) inits.insert(t.name());
  for (const auto& in : g.input()) {
    if (inits.count(in.name())) continue;
    const auto& shape = in.type().tensor_type().shape();
    std::vector<int64_t> want;
    for (const auto& d : shape.dim()) want.push_back(d.has_dim_value() ? d.dim_value() : -1);
    auto have = source.test_x.sizes().vec();
    bool ok = want.size() == have.size();
    for (std::size_t i = 1; ok && i < want.size(); ++i) ok = want[i] < 0 || want[i] == have[i];
    if (!ok && want.size() == 2 && have.size() == 4) {
      // Flat-input models (MLPs) take the images flattened.
      ok = want[1] < 0 || want[1] == have[1] * have[2] * have[3];
      if (ok) {
        if (source.train_x.defined()) source.train_x = source.train_x.reshape({source.train_x.size(0), -1});
        source.test_x = source.test_x.reshape({source.test_x.size(0), -1});
      }
    }
    std::vector<std::string> w;
    for (auto d : want) w.push_back(d < 0 ? "?" : std::to_string(d));
    NNC_CHECK_CODE(ok, kShape, "--data {}: images have shape [N,{}] but the model input '{}' expects [{}]", o.data,
                   fmt::join(have.begin() + 1, have.end(), ","), in.name(), fmt::join(w, ","));
    break;
  }
  if (auto classes = onnxio::get_num_classes(model)) {
    NNC_CHECK(source.num_classes <= *classes, "--data {}: labels use {} classes but the model has {}", o.data,
              source.num_classes, *classes);
    source.num_classes = *classes;
  }
  return source;
}

}  // namespace

data::Dataset load_test_split(const DataOptions& o, const onnx::ModelProto& model) {
  auto norm = resolve_normalisation(o, model);
  auto source = load_checked(o, model, /*test_only=*/true);
  return data::Dataset{data::normalise(source.test_x, norm), source.test_y.contiguous(), source.num_classes};
}

data::Splits load_splits(const DataOptions& o, const onnx::ModelProto& model) {
  auto norm = resolve_normalisation(o, model);
  auto source = load_checked(o, model, /*test_only=*/false);
  data::SplitOptions so;
  so.val = o.val;
  so.calib = o.calib;
  so.seed = o.seed;
  so.holdout = std::min<int64_t>(5000, source.train_x.size(0) / 2);
  return data::make_splits(source, norm, so);
}

}  // namespace nnc::cli
