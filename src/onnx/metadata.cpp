#include "nncompress/onnx/metadata.hpp"

#include <sstream>

#include <fmt/ranges.h>

#include "nncompress/core/error.hpp"

namespace nnc::onnxio {
namespace {
const char* kMean = "nncompress.input_mean";
const char* kStd = "nncompress.input_std";
const char* kClasses = "nncompress.num_classes";

std::string join(const std::vector<float>& v) {
  return fmt::format("{}", fmt::join(v, ","));
}

std::vector<float> split_floats(const std::string& s, const std::string& key) {
  std::vector<float> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    try {
      out.push_back(std::stof(item));
    } catch (...) {
      fail(ErrorCode::kCorrupt, "model metadata '{}' is not a list of numbers: '{}'", key, s);
    }
  }
  return out;
}
}  // namespace

std::optional<std::string> get_metadata(const onnx::ModelProto& model, const std::string& key) {
  for (const auto& kv : model.metadata_props())
    if (kv.key() == key) return kv.value();
  return std::nullopt;
}

void set_metadata(onnx::ModelProto& model, const std::string& key, const std::string& value) {
  for (auto& kv : *model.mutable_metadata_props()) {
    if (kv.key() == key) {
      kv.set_value(value);
      return;
    }
  }
  auto* kv = model.add_metadata_props();
  kv->set_key(key);
  kv->set_value(value);
}

std::optional<Normalisation> get_normalisation(const onnx::ModelProto& model) {
  auto mean = get_metadata(model, kMean);
  auto std = get_metadata(model, kStd);
  if (!mean || !std) return std::nullopt;
  Normalisation n{split_floats(*mean, kMean), split_floats(*std, kStd)};
  NNC_CHECK_CODE(!n.mean.empty() && n.mean.size() == n.std.size(), kCorrupt,
                 "model metadata: input mean and std have different lengths");
  return n;
}

void set_normalisation(onnx::ModelProto& model, const Normalisation& norm) {
  set_metadata(model, kMean, join(norm.mean));
  set_metadata(model, kStd, join(norm.std));
}

std::optional<int> get_num_classes(const onnx::ModelProto& model) {
  auto v = get_metadata(model, kClasses);
  if (!v) return std::nullopt;
  return std::stoi(*v);
}

void set_num_classes(onnx::ModelProto& model, int classes) {
  set_metadata(model, kClasses, std::to_string(classes));
}

}  // namespace nnc::onnxio
