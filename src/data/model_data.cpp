#include "nncompress/data/model_data.hpp"

#include <ATen/ATen.h>
#include <fmt/ranges.h>

#include <set>

#include "nncompress/core/error.hpp"
#include "nncompress/data/evaluate.hpp"
#include "nncompress/exec/engine.hpp"
#include "nncompress/exec/tensor_proto.hpp"
#include "nncompress/onnx/metadata.hpp"

namespace nnc::data {

void DataOptions::validate() const {
  NNC_CHECK_OPTION(!data.empty(), "data", "'': name a data set or a folder");
  NNC_CHECK_OPTION(mean.size() == std.size(), "mean", "has {} values but std has {}", mean.size(), std.size());
  for (float s : std) NNC_CHECK_OPTION(s > 0, "std", "{}: values must be positive", s);
  NNC_CHECK_OPTION(holdout > 0, "holdout", "{}: must be positive", holdout);
  NNC_CHECK_OPTION(val > 0, "val", "{}: must be positive", val);
  NNC_CHECK_OPTION(calib > 0, "calib", "{}: must be positive", calib);
  NNC_CHECK_OPTION(batch > 0, "batch", "{}: must be positive", batch);
}

int64_t DataOptions::holdout_for(int64_t train_images) const {
  if (!holdout_given && holdout == kDefaultHoldout) return std::min(holdout, train_images / 2);
  NNC_CHECK_OPTION(holdout <= train_images / 2, "holdout",
                   "{}: the training split has {} images; at most half of them ({}) can be held out", holdout,
                   train_images, train_images / 2);
  return holdout;
}

SplitOptions DataOptions::split_options(int64_t train_images) const {
  SplitOptions so;
  so.seed = seed;
  so.holdout = holdout_for(train_images);
  const bool val_default = !val_given && val == kDefaultVal, calib_default = !calib_given && calib == kDefaultCalib;
  so.val = val_default ? std::min(val, std::max<int64_t>(1, so.holdout / 2)) : val;
  so.calib = calib_default ? std::min(calib, so.holdout) : calib;
  return so;
}

nlohmann::json normalisation_json(const NormalisationChoice& n) {
  nlohmann::json j{{"mean", n.normalisation.mean}, {"std", n.normalisation.std}, {"source", n.source}};
  if (!n.tried.is_null() && !n.tried.empty()) j["tried"] = n.tried;
  return j;
}

Normalisation resolve_normalisation(const DataOptions& o, const onnx::ModelProto& model) {
  if (!o.mean.empty() || !o.std.empty()) {
    NNC_CHECK_OPTION(!o.mean.empty() && !o.std.empty(), o.mean.empty() ? "mean" : "std",
                     "missing: mean and std must be given together");
    NNC_CHECK_OPTION(o.mean.size() == o.std.size(), "mean", "has {} values but std has {}", o.mean.size(), o.std.size());
    return {o.mean, o.std};
  }
  auto meta = onnxio::get_normalisation(model);
  NNC_CHECK_OPTION(meta.has_value(), "mean", "missing: the model has no input normalisation metadata; give mean and std");
  return {meta->mean, meta->std};
}

namespace {

// Reads the data, checks its image shape against the model's input (flattening images for
// flat-input models) and its labels against the model's class count.
DataSource load_checked(const DataOptions& o, const onnx::ModelProto& model, TrainSplit train) {
  auto source = o.source ? *o.source : load_data(o.data, train);
  NNC_CHECK_OPTION_CODE(train != TrainSplit::kRequired || source.train_x.defined(), "data", kIo,
                        "{}: has test images only; this command needs training images: the held-out validation, "
                        "calibration and hold-out images are drawn from them",
                        o.data);
  // Image shape against the model's declared input (C, H, W; symbolic dims accepted).
  const auto& g = model.graph();
  std::set<std::string> inits;
  for (const auto& t : g.initializer()) inits.insert(t.name());
  for (const auto& in : g.input()) {
    if (inits.count(in.name())) continue;
    // Images are float32; a float16/float64 model would fail at its first operator instead.
    const int type = in.type().tensor_type().elem_type();
    NNC_CHECK_CODE(type == 0 || type == onnx::TensorProto::FLOAT, kUnsupported,
                   "model input '{}' is {}: nncompress runs and compresses float32 models (convert the model to "
                   "float32 first)",
                   in.name(), onnx::TensorProto::DataType_Name(static_cast<onnx::TensorProto::DataType>(type)));
    const auto& shape = in.type().tensor_type().shape();
    std::vector<int64_t> want;
    for (const auto& d : shape.dim()) want.push_back(d.has_dim_value() ? d.dim_value() : -1);
    auto have = source.test_x.sizes().vec();
    bool ok = want.size() == have.size();
    for (std::size_t i = 1; ok && i < want.size(); ++i) ok = want[i] < 0 || want[i] == have[i];
    if (!ok && want.size() == 3 && have.size() == 4 && have[1] == 1) {
      // Single-channel images for a model that takes N x H x W (no channel dimension).
      ok = (want[1] < 0 || want[1] == have[2]) && (want[2] < 0 || want[2] == have[3]);
      if (ok) {
        if (source.train_x.defined()) source.train_x = source.train_x.squeeze(1);
        source.test_x = source.test_x.squeeze(1);
      }
    }
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
    NNC_CHECK_OPTION_CODE(ok, "data", kShape, "{}: images have shape [N,{}] but the model input '{}' expects [{}]",
                          o.data, fmt::join(have.begin() + 1, have.end(), ","), in.name(), fmt::join(w, ","));
    break;
  }
  if (auto classes = onnxio::get_num_classes(model)) {
    NNC_CHECK_OPTION(source.num_classes <= *classes, "data", "{}: labels use {} classes but the model has {}", o.data,
                     source.num_classes, *classes);
    source.num_classes = *classes;
  }
  return source;
}

bool outputs_match(const std::vector<at::Tensor>& a, const std::vector<at::Tensor>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i].sizes() != b[i].sizes()) return false;
    if (!at::isFloatingType(a[i].scalar_type())) {
      if (!a[i].equal(b[i])) return false;
      continue;
    }
    auto x = a[i].to(at::kDouble), y = b[i].to(at::kDouble);
    const double scale = 1.0 + y.abs().max().item<double>();
    if ((x - y).abs().max().item<double>() > 1e-4 * scale) return false;
  }
  return true;
}

}  // namespace

void fit_batch(onnx::ModelProto& model, const at::Tensor& images, DataOptions& o, const Control& control) {
  auto& g = *model.mutable_graph();
  std::set<std::string> inits;
  for (const auto& t : g.initializer()) inits.insert(t.name());
  int data_inputs = 0;
  onnx::ValueInfoProto* input = nullptr;
  for (auto& in : *g.mutable_input())
    if (!inits.count(in.name()) && data_inputs++ == 0) input = &in;
  if (!input || data_inputs != 1 || !input->type().tensor_type().has_shape()) return;
  const auto& shape0 = input->type().tensor_type().shape();
  if (shape0.dim_size() == 0 || !shape0.dim(0).has_dim_value()) return;
  const int64_t fixed = shape0.dim(0).dim_value();
  const std::string name = input->name();  // `input` dies with `model` when the relaxed copy replaces it
  const int64_t n = std::min<int64_t>(images.size(0), 2 * fixed + 1);
  if (fixed < 1 || n < fixed) return;
  // The outputs of `fixed`-image batches as declared, against one batch of n images relaxed.
  std::vector<std::vector<at::Tensor>> strict;
  {
    exec::Engine engine(model);
    for (int64_t i = 0; i + fixed <= n; i += fixed) strict.push_back(engine.run({images.slice(0, i, i + fixed)}));
  }
  onnx::ModelProto relaxed = model;
  auto& rg = *relaxed.mutable_graph();
  for (auto& in : *rg.mutable_input())
    if (in.name() == name) in.mutable_type()->mutable_tensor_type()->mutable_shape()->mutable_dim(0)->set_dim_param("N");
  for (auto& out : *rg.mutable_output()) {
    auto* shape = out.mutable_type()->mutable_tensor_type()->mutable_shape();
    if (shape->dim_size() > 0 && shape->dim(0).has_dim_value() && shape->dim(0).dim_value() == fixed)
      shape->mutable_dim(0)->set_dim_param("N");
  }
  rg.clear_value_info();  // intermediate shape annotations carry the old batch size
  // Exporters fold x.size(0) into Reshape constants ([1, -1] for x.view(x.size(0), -1)): a
  // leading element equal to the batch size becomes 0 ("copy the input's dimension"). The
  // probe below shows whether that was right.
  auto batch_first = [&](onnx::TensorProto& t) {
    if (t.data_type() != onnx::TensorProto::INT64 || t.dims_size() != 1 || t.dims(0) < 2) return;
    auto v = exec::to_tensor(t);
    if (v.data_ptr<int64_t>()[0] != fixed) return;
    v.data_ptr<int64_t>()[0] = 0;
    t = exec::from_tensor(v, t.name());
  };
  std::set<std::string> reshape_shapes;
  for (const auto& node : rg.node()) {
    if (node.op_type() != "Reshape" || node.input_size() < 2) continue;
    bool allowzero = false;
    for (const auto& a : node.attribute()) allowzero = allowzero || (a.name() == "allowzero" && a.i() != 0);
    if (!allowzero) reshape_shapes.insert(node.input(1));
  }
  for (auto& t : *rg.mutable_initializer())
    if (reshape_shapes.count(t.name())) batch_first(t);
  for (auto& node : *rg.mutable_node())
    if (node.op_type() == "Constant" && node.output_size() == 1 && reshape_shapes.count(node.output(0)))
      for (auto& a : *node.mutable_attribute())
        if (a.name() == "value" && a.has_t()) batch_first(*a.mutable_t());
  bool same = false;
  try {
    exec::Engine engine(relaxed);
    auto all = engine.run({images.slice(0, 0, n)});
    same = true;
    for (std::size_t b = 0; same && b < strict.size(); ++b) {
      std::vector<at::Tensor> part;
      const auto from = static_cast<int64_t>(b) * fixed;
      for (const auto& t : all) part.push_back(t.dim() > 0 && t.size(0) == n ? t.slice(0, from, from + fixed) : t);
      same = outputs_match(part, strict[b]);
    }
  } catch (const Error&) {
    same = false;
  }
  if (same) {
    model = std::move(relaxed);
    control.note(fmt::format("model input '{}' declares batch size {}; the graph does not depend on it (checked on {} images), "
                     "so it is made symbolic and runs in batches of {} (the written model takes any batch)",
                     name, fixed, n, o.batch));
  } else {
    control.note(fmt::format("model input '{}' declares batch size {} and its graph depends on it: running batches of {}",
                     name, fixed, fixed));
    o.batch = fixed;
  }
}

namespace {

bool normalisation_known(const DataOptions& o, const onnx::ModelProto& model) {
  return !o.mean.empty() || !o.std.empty() || onnxio::get_normalisation(model).has_value();
}

std::string norm_str(const Normalisation& n) {
  return fmt::format("mean {:.4g} std {:.4g}", fmt::join(n.mean, ","), fmt::join(n.std, ","));
}

// Normalisations models are commonly trained with, for `channels`-channel images: none, the
// data's own statistics, 0.5/0.5 and published data-set constants; near-duplicates dropped.
std::vector<std::pair<std::string, Normalisation>> normalisation_candidates(const Normalisation& own,
                                                                              std::size_t channels) {
  auto same = [](float v, std::size_t n) { return std::vector<float>(n, v); };
  std::vector<std::pair<std::string, Normalisation>> all{
      {"none (pixels in [0, 1])", {same(0.0f, channels), same(1.0f, channels)}},
      {"the data set's own mean/std", own},
      {"0.5/0.5 (pixels in [-1, 1])", {same(0.5f, channels), same(0.5f, channels)}}};
  if (channels == 1) {
    all.push_back({"MNIST 0.1307/0.3081", {{0.1307f}, {0.3081f}}});
    all.push_back({"Fashion-MNIST 0.2860/0.3530", {{0.2860f}, {0.3530f}}});
  } else if (channels == 3) {
    all.push_back({"ImageNet", {{0.485f, 0.456f, 0.406f}, {0.229f, 0.224f, 0.225f}}});
    all.push_back({"CIFAR-10", {{0.4914f, 0.4822f, 0.4465f}, {0.2470f, 0.2435f, 0.2616f}}});
  }
  std::vector<std::pair<std::string, Normalisation>> out;
  auto close = [](const Normalisation& a, const Normalisation& b) {
    for (std::size_t c = 0; c < a.mean.size(); ++c)
      if (std::abs(a.mean[c] - b.mean[c]) > 0.02f || std::abs(a.std[c] - b.std[c]) > 0.02f) return false;
    return true;
  };
  for (auto& c : all)
    if (std::none_of(out.begin(), out.end(), [&](const auto& o) { return close(o.second, c.second); }))
      out.push_back(std::move(c));
  return out;
}

// The normalisation the model expects (given, else metadata, else inferred), after fit_batch.
// Inferred: a model without metadata does not say how its inputs were normalised, so the common
// choices (normalisation_candidates) are tried on up to 1,000 held-out training images; the most
// accurate is kept, said, and written into the model's metadata (so outputs and fine-tuning use
// it) when it is clearly the best (by 2 paired standard errors over the next); otherwise the
// user is asked for mean and std. The test split is not used to choose.
Normalisation normalisation_for(DataOptions& o, onnx::ModelProto& model, const DataSource& source,
                                const Control& control, NormalisationChoice* choice) {
  const auto sample = source.test_x.slice(0, 0, std::min<int64_t>(source.test_x.size(0), 64));
  if (normalisation_known(o, model)) {
    auto norm = resolve_normalisation(o, model);
    if (choice) *choice = {norm, o.mean.empty() ? "metadata" : "given", {}};
    // Given mean/std are recorded too, so what is written says how it was measured.
    if (!o.mean.empty() && o.record_given) onnxio::set_normalisation(model, {norm.mean, norm.std});
    fit_batch(model, normalise(sample, norm), o, control);
    return norm;
  }
  NNC_CHECK_OPTION(source.train_x.defined() && source.train_x.size(0) > 0, "mean",
                   "missing: the model has no input normalisation metadata, and inferring it needs training images "
                   "({} has test images only); give mean and std",
                   o.data);
  const auto x = pixels(source.train_x);
  Normalisation stats;
  if (x.dim() == 4) {
    auto per = x.transpose(0, 1).reshape({x.size(1), -1});
    stats.mean.clear();
    stats.std.clear();
    for (int64_t c = 0; c < per.size(0); ++c) {
      stats.mean.push_back(per[c].mean().item<float>());
      stats.std.push_back(per[c].std().item<float>());
    }
  } else {
    stats.mean = {x.mean().item<float>()};
    stats.std = {x.std().item<float>()};
  }
  const auto candidates = normalisation_candidates(stats, stats.mean.size());
  fit_batch(model, normalise(sample, stats), o, control);
  const int64_t n = x.size(0), held = o.holdout_for(n), use = std::min<int64_t>(held, 1000);
  const auto images = x.slice(0, n - held, n - held + use);
  const auto labels = source.train_y.slice(0, n - held, n - held + use);
  exec::Engine engine(model);
  std::vector<Metrics> measured;
  std::vector<std::string> tried;
  nlohmann::json tried_json = nlohmann::json::array();
  std::size_t best = 0, second = 0;
  for (std::size_t i = 0; i < candidates.size(); ++i) {
    Evaluator eval(Dataset{normalise(images, candidates[i].second), labels, source.num_classes}, o.batch);
    measured.push_back(eval.evaluate(engine));
    tried.push_back(fmt::format("{} {:.2f}%", candidates[i].first, 100 * measured.back().top1));
    tried_json.push_back({{"candidate", candidates[i].first}, {"mean", candidates[i].second.mean},
                          {"std", candidates[i].second.std}, {"top1", measured.back().top1}});
    if (measured[i].top1 > measured[best].top1) best = i;
  }
  for (std::size_t i = 0; i < candidates.size(); ++i)
    if (i != best && (second == best || measured[i].top1 > measured[second].top1)) second = i;
  const double gap = measured[best].top1 - measured[second].top1;
  const double se = paired_top1_se(measured[best].correct, measured[second].correct);
  NNC_CHECK_OPTION(candidates.size() < 2 || gap > 2 * se, "mean",
                   "missing: the model has no input normalisation metadata and no candidate is clearly best on {} "
                   "held-out training images ({}); give mean and std (the values the model was trained with)",
                   use, fmt::join(tried, ", "));
  const auto& chosen = candidates[best].second;
  control.note(fmt::format("model has no input normalisation metadata and no mean/std given: chose {} ({}; top-1 on {} "
                           "held-out training images: {})",
                           norm_str(chosen), candidates[best].first, use, fmt::join(tried, ", ")));
  onnxio::set_normalisation(model, {chosen.mean, chosen.std});
  if (choice) *choice = {chosen, "inferred: " + candidates[best].first, tried_json};
  return chosen;
}

}  // namespace

Dataset load_test_split(DataOptions& o, onnx::ModelProto& model, const Control& control, NormalisationChoice* choice) {
  o.validate();
  // Without a known normalisation the training images are needed to infer it; a data set of
  // test images only then fails in normalisation_for, saying so.
  auto source =
      load_checked(o, model, normalisation_known(o, model) ? TrainSplit::kSkipped : TrainSplit::kIfPresent);
  auto norm = normalisation_for(o, model, source, control, choice);
  return Dataset{normalise(source.test_x, norm), source.test_y.contiguous(), source.num_classes};
}

Splits load_splits(DataOptions& o, onnx::ModelProto& model, const Control& control, NormalisationChoice* choice) {
  o.validate();
  auto source = load_checked(o, model, TrainSplit::kRequired);
  auto norm = normalisation_for(o, model, source, control, choice);
  return make_splits(source, norm, o.split_options(source.train_x.size(0)));
}

}  // namespace nnc::data
