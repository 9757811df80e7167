#include "nncompress/compress/compressed_model.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <optional>
#include <set>

#include "nncompress/core/error.hpp"
#include "nncompress/exec/fold_weights.hpp"
#include "nncompress/onnx/graph_builder.hpp"
#include "nncompress/onnx/model_io.hpp"
#include "nncompress/onnx/tensor_proto.hpp"
#include "nncompress/onnx/weight_inputs.hpp"
#include "nncompress/store/model_store.hpp"

namespace nnc::compress {
namespace {

// Layer weights (weight_inputs) that are float initializers, in node order, each once.
std::vector<const onnx::TensorProto*> layer_weights(const onnx::GraphProto& g) {
  std::vector<const onnx::TensorProto*> out;
  std::set<std::string> seen;
  for (const auto& n : g.node())
    for (int i : onnxio::weight_inputs(n).weights) {
      if (i >= n.input_size() || n.input(i).empty() || seen.count(n.input(i))) continue;
      const auto* t = onnxio::find_initializer(g, n.input(i));
      if (!t || t->data_type() != onnx::TensorProto::FLOAT) continue;
      seen.insert(n.input(i));
      out.push_back(t);
    }
  return out;
}

int64_t element_count(const onnx::TensorProto& t) {
  int64_t n = 1;
  for (auto d : t.dims()) n *= d;
  return n;
}

}  // namespace

std::map<std::string, Mask> masks_from_zeros(const onnx::ModelProto& model) {
  std::map<std::string, Mask> masks;
  for (const auto* t : layer_weights(model.graph())) {
    const auto v = onnxio::float_values(*t);
    if (std::none_of(v.begin(), v.end(), [](float x) { return x == 0.0f; })) continue;
    Mask m(v.size());
    for (std::size_t i = 0; i < v.size(); ++i) m[i] = v[i] != 0.0f;
    masks.emplace(t->name(), std::move(m));
  }
  return masks;
}

std::optional<std::pair<Codebook, std::map<std::string, Assignment>>> sharing_from_values(
    const onnx::ModelProto& model, const std::map<std::string, Mask>& masks) {
  const auto weights = layer_weights(model.graph());
  std::vector<std::vector<float>> values;
  std::vector<float> distinct;
  std::size_t nonzero = 0;
  for (const auto* t : weights) {
    values.push_back(onnxio::float_values(*t));
    for (float v : values.back())
      if (v != 0.0f) {
        distinct.push_back(v);
        ++nonzero;
      }
  }
  std::sort(distinct.begin(), distinct.end());
  distinct.erase(std::unique(distinct.begin(), distinct.end()), distinct.end());
  // Trained weights are all different: a few distinct values are a shared model (ours, written
  // as a codebook lookup and folded at load, or another tool's).
  if (distinct.empty() || distinct.size() > 4096 || distinct.size() * 8 > nonzero) return std::nullopt;
  Codebook cb{distinct, -1};
  if (!masks.empty()) {
    cb.zero_entry = static_cast<int>(cb.values.size());
    cb.values.push_back(0.0f);
  }
  std::map<std::string, Assignment> assignments;
  for (std::size_t w = 0; w < weights.size(); ++w) {
    const auto& v = values[w];
    const Mask* m = masks.count(weights[w]->name()) ? &masks.at(weights[w]->name()) : nullptr;
    Assignment a{0, std::vector<uint16_t>(v.size())};
    for (std::size_t i = 0; i < v.size(); ++i) {
      if (m && !(*m)[i]) {
        a.indices[i] = static_cast<uint16_t>(cb.zero_entry);
        continue;
      }
      // An unmasked exact zero can only come from a codebook value of 0: none here (masks hold
      // every exact zero), so every element finds its value.
      a.indices[i] = static_cast<uint16_t>(std::lower_bound(distinct.begin(), distinct.end(), v[i]) - distinct.begin());
    }
    assignments.emplace(weights[w]->name(), std::move(a));
  }
  return std::make_pair(std::move(cb), std::move(assignments));
}

CompressedModel::CompressedModel(onnx::ModelProto model, std::string source)
    : source_(std::move(source)), original_(std::make_shared<const onnx::ModelProto>(model)), model_(std::move(model)) {
  masks_ = masks_from_zeros(model_);
  if (auto sharing = sharing_from_values(model_, masks_)) {
    codebooks_.push_back(std::move(sharing->first));
    assignments_ = std::move(sharing->second);
  }
}

CompressedModel CompressedModel::load(const std::filesystem::path& path, const Control& control) {
  auto model = store::load_any_model(path, control);
  if (int n = exec::fold_computed_weights(model); n > 0)
    control.note(fmt::format("{}: {} layer weights computed in the graph from initializers were folded into initializers",
                             path.string(), n));
  CompressedModel m(std::move(model), path.string());
  if (!m.codebooks_.empty())
    control.note(fmt::format("{}: its layer weights take {} distinct values: kept as one shared codebook (fine-tuning "
                             "trains the values, not the weights)",
                             path.string(), m.codebooks_[0].values.size() - (m.codebooks_[0].zero_entry >= 0 ? 1 : 0)));
  if (!m.masks_.empty()) {
    int64_t zeros = 0;
    for (const auto& [name, mask] : m.masks_) zeros += std::count(mask.begin(), mask.end(), uint8_t{0});
    control.note(fmt::format("{}: {} exact zeros in {} layer weights are kept as pruned (masks)", path.string(), zeros,
                             m.masks_.size()));
  }
  return m;
}

std::size_t CompressedModel::original_fp32_bytes() const { return store::fp32_initializer_bytes(*original_); }

void CompressedModel::set_prepared(onnx::ModelProto model) {
  NNC_CHECK_CODE(history_.empty(), kInternal, "the data must be prepared before the first step");
  original_ = std::make_shared<const onnx::ModelProto>(model);
  model_ = std::move(model);
}

void CompressedModel::set_model(onnx::ModelProto model, std::map<std::string, Mask> new_masks,
                                std::map<std::size_t, std::vector<float>> codebook_values) {
  model_ = std::move(model);
  for (auto& [c, values] : codebook_values) {
    NNC_CHECK_CODE(c < codebooks_.size(), kInternal, "codebook {} of {}", c, codebooks_.size());
    auto& cb = codebooks_[c];
    NNC_CHECK_CODE(values.size() == cb.values.size(), kInternal, "codebook {}: {} values for {} entries", c,
                   values.size(), cb.values.size());
    NNC_CHECK_CODE(cb.zero_entry < 0 || values[static_cast<std::size_t>(cb.zero_entry)] == 0.0f, kInternal,
                   "codebook {}: its zero entry must stay 0", c);
    cb.values = std::move(values);
  }
  const auto& g = model_.graph();
  auto still_there = [&](const std::string& name, std::size_t elements) {
    const auto* t = onnxio::find_initializer(g, name);
    return t && t->data_type() == onnx::TensorProto::FLOAT && static_cast<std::size_t>(element_count(*t)) == elements;
  };
  std::erase_if(masks_, [&](const auto& kv) { return !still_there(kv.first, kv.second.size()); });
  std::erase_if(assignments_, [&](const auto& kv) { return !still_there(kv.first, kv.second.indices.size()); });
  std::erase_if(factorisations_, [&](const Factorisation& f) {
    return std::any_of(f.factors.begin(), f.factors.end(),
                       [&](const std::string& name) { return onnxio::find_initializer(g, name) == nullptr; });
  });
  for (auto& [name, mask] : new_masks) install_mask(name, std::move(mask));
  for (const auto& [name, mask] : masks_) check_mask(name, mask);
  for (const auto& [name, a] : assignments_) check_assignment(name, a);
}

void CompressedModel::clear_sharing() {
  codebooks_.clear();
  assignments_.clear();
}

const Mask* CompressedModel::mask(const std::string& weight) const {
  auto it = masks_.find(weight);
  return it == masks_.end() ? nullptr : &it->second;
}

void CompressedModel::check_mask(const std::string& weight, const Mask& mask) const {
  const auto* t = onnxio::find_initializer(model_.graph(), weight);
  NNC_CHECK_CODE(t && t->data_type() == onnx::TensorProto::FLOAT, kInternal, "mask of '{}': no such float weight",
                 weight);
  const auto v = onnxio::float_values(*t);
  NNC_CHECK_CODE(v.size() == mask.size(), kInternal, "mask of '{}': {} elements for a weight of {}", weight,
                 mask.size(), v.size());
  for (std::size_t i = 0; i < v.size(); ++i)
    NNC_CHECK_CODE(mask[i] || v[i] == 0.0f, kInternal, "weight '{}' element {} is {} where its mask prunes it",
                   weight, i, v[i]);
}

void CompressedModel::check_assignment(const std::string& weight, const Assignment& a) const {
  NNC_CHECK_CODE(a.codebook >= 0 && static_cast<std::size_t>(a.codebook) < codebooks_.size(), kInternal,
                 "weight '{}' is assigned to codebook {} of {}", weight, a.codebook, codebooks_.size());
  const auto& cb = codebooks_[static_cast<std::size_t>(a.codebook)];
  const auto* t = onnxio::find_initializer(model_.graph(), weight);
  NNC_CHECK_CODE(t && t->data_type() == onnx::TensorProto::FLOAT, kInternal, "assignment of '{}': no such float weight",
                 weight);
  const auto v = onnxio::float_values(*t);
  NNC_CHECK_CODE(v.size() == a.indices.size(), kInternal, "assignment of '{}': {} indices for {} elements", weight,
                 a.indices.size(), v.size());
  const Mask* m = mask(weight);
  for (std::size_t i = 0; i < v.size(); ++i) {
    const auto e = a.indices[i];
    NNC_CHECK_CODE(e < cb.values.size(), kInternal, "weight '{}' element {}: entry {} of a {}-entry codebook", weight, i,
                   e, cb.values.size());
    NNC_CHECK_CODE(v[i] == a.value(cb, i), kInternal, "weight '{}' element {} is {}, its codebook entry {} holds {}{}",
                   weight, i, v[i], e, cb.values[e], a.scale == 1.0f ? "" : fmt::format(" (times scale {})", a.scale));
    // The zero entry is for masked elements only; masked elements use nothing else.
    if (m) NNC_CHECK_CODE(((*m)[i] == 0) == (static_cast<int>(e) == cb.zero_entry), kInternal,
                          "weight '{}' element {}: masked elements (and only they) use the zero entry", weight, i);
  }
}

void CompressedModel::set_mask(const std::string& weight, Mask mask) {
  check_mask(weight, mask);
  install_mask(weight, std::move(mask));
  if (auto a = assignments_.find(weight); a != assignments_.end()) check_assignment(weight, a->second);
}

void CompressedModel::install_mask(const std::string& weight, Mask mask) {
  auto a = assignments_.find(weight);
  if (a != assignments_.end()) {
    // Newly masked elements of a shared weight move to its codebook's exact zero.
    auto& cb = codebooks_[static_cast<std::size_t>(a->second.codebook)];
    if (cb.zero_entry < 0 && std::count(mask.begin(), mask.end(), uint8_t{0}) > 0) {
      NNC_CHECK_CODE(cb.values.size() < 65536, kInvalidArgument, "codebook {} is full: no room for an exact zero",
                     a->second.codebook);
      cb.zero_entry = static_cast<int>(cb.values.size());
      cb.values.push_back(0.0f);
    }
    for (std::size_t i = 0; i < mask.size() && i < a->second.indices.size(); ++i)
      if (!mask[i]) a->second.indices[i] = static_cast<uint16_t>(cb.zero_entry);
  }
  if (std::all_of(mask.begin(), mask.end(), [](uint8_t x) { return x != 0; }))
    masks_.erase(weight);
  else
    masks_[weight] = std::move(mask);
}

void CompressedModel::set_sharing(std::vector<Codebook> codebooks, std::map<std::string, Assignment> assignments) {
  codebooks_ = std::move(codebooks);
  assignments_ = std::move(assignments);
  for (const auto& [name, a] : assignments_) check_assignment(name, a);
}

void CompressedModel::record(const std::string& step, nlohmann::json options, nlohmann::json report) {
  history_.push_back({{"step", step}, {"options", std::move(options)}, {"report", std::move(report)}});
}

CompressedModel::Summary CompressedModel::summary() const {
  Summary s;
  for (const auto* t : layer_weights(model_.graph())) {
    const int64_t n = element_count(*t);
    s.weights += n;
    if (const Mask* m = mask(t->name())) s.masked += std::count(m->begin(), m->end(), uint8_t{0});
    if (assignments_.count(t->name())) s.shared += n;
  }
  return s;
}

}  // namespace nnc::compress
