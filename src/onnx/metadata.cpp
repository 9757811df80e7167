#include "nncompress/onnx/metadata.hpp"

#include <cmath>
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
    std::size_t used = 0;
    float v = 0;
    try {
      v = std::stof(item, &used);
    } catch (...) {
      used = 0;
    }
    // The whole item, a finite number (a NaN or infinite mean or std would poison every input).
    NNC_CHECK_CODE(used > 0 && item.find_first_not_of(" ", used) == std::string::npos && std::isfinite(v), kCorrupt,
                   "model metadata '{}' is not a list of finite numbers: '{}'", key, s.substr(0, 80));
    out.push_back(v);
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
  for (float v : n.std)
    NNC_CHECK_CODE(v > 0, kCorrupt, "model metadata '{}': std {} must be positive (inputs are divided by it)", kStd, v);
  return n;
}

void set_normalisation(onnx::ModelProto& model, const Normalisation& norm) {
  set_metadata(model, kMean, join(norm.mean));
  set_metadata(model, kStd, join(norm.std));
}

std::optional<int> get_num_classes(const onnx::ModelProto& model) {
  auto v = get_metadata(model, kClasses);
  if (!v) return std::nullopt;
  int classes = 0;
  const bool digits = !v->empty() && v->size() <= 7 && v->find_first_not_of("0123456789") == std::string::npos;
  if (digits) classes = std::stoi(*v);
  NNC_CHECK_CODE(digits && classes >= 1, kCorrupt, "model metadata '{}' is not a class count from 1 to 9999999: '{}'",
                 kClasses, v->substr(0, 40));
  return classes;
}

void set_num_classes(onnx::ModelProto& model, int classes) {
  set_metadata(model, kClasses, std::to_string(classes));
}

}  // namespace nnc::onnxio
