#include "nncompress/compress/share/uniform_bins.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <optional>
#include <regex>

#include "nncompress/core/error.hpp"
#include "nncompress/dist/archive.hpp"
#include "nncompress/onnx/tensor_proto.hpp"
#include "nncompress/onnx/weight_inputs.hpp"
#include "nncompress/onnx/graph_builder.hpp"

namespace nnc::share {
namespace {


// Recomputes entry values from the bins' sums and counts (the zero bin's sum is exactly 0), and
// where the zero entry is.
void refresh_values(Codebook& cb) {
  int entries = 0;
  for (int g : cb.group) entries = std::max(entries, g + 1);
  std::vector<double> sum(static_cast<std::size_t>(entries), 0.0);
  std::vector<int64_t> count(static_cast<std::size_t>(entries), 0);
  const int bins = static_cast<int>(cb.group.size());
  cb.zero_entry = bins > cb.k ? cb.group[static_cast<std::size_t>(cb.k)] : -1;
  for (int b = 0; b < bins; ++b) {
    if (cb.group[b] < 0) continue;
    sum[static_cast<std::size_t>(cb.group[b])] += cb.bin_sum[b];
    count[static_cast<std::size_t>(cb.group[b])] += cb.bin_count[b];
  }
  cb.values.assign(static_cast<std::size_t>(entries), 0.0f);
  for (int e = 0; e < entries; ++e)
    cb.values[static_cast<std::size_t>(e)] = static_cast<float>(sum[static_cast<std::size_t>(e)] / static_cast<double>(count[static_cast<std::size_t>(e)]));
}

}  // namespace

SharedSet collect_shared(const onnx::ModelProto& model, bool share_biases,
                         const std::map<std::string, std::vector<uint8_t>>& masks, const std::string& keep_fp32,
                         bool share_other) {
  SharedSet s;
  std::optional<std::regex> keep;
  if (!keep_fp32.empty()) {
    try {
      keep = std::regex(keep_fp32);
    } catch (const std::regex_error&) {
      fail_option("keep_fp32", "'{}': not a valid regular expression", keep_fp32);
    }
  }
  bool kept_any = false;
  const auto& g = model.graph();
  std::vector<uint8_t> pruned;
  bool any_pruned = false;
  auto add = [&](const std::string& name) {
    if (std::find(s.names.begin(), s.names.end(), name) != s.names.end()) return;
    const auto* t = onnxio::find_initializer(g, name);
    if (!t || t->data_type() != onnx::TensorProto::FLOAT) return;
    auto v = onnxio::float_values(*t);
    s.names.push_back(name);
    s.shapes.emplace_back(t->dims().begin(), t->dims().end());
    s.offsets.push_back(s.values.size());
    s.values.insert(s.values.end(), v.begin(), v.end());
    auto m = masks.find(name);
    if (m == masks.end()) {
      pruned.resize(s.values.size(), 0);
      return;
    }
    NNC_CHECK_CODE(m->second.size() == v.size(), kInternal, "mask of '{}': {} elements for {}", name, m->second.size(),
                   v.size());
    for (std::size_t i = 0; i < v.size(); ++i) {
      NNC_CHECK_CODE(m->second[i] || v[i] == 0.0f, kInternal, "weight '{}' is not zero where its mask prunes it", name);
      pruned.push_back(m->second[i] ? 0 : 1);
      any_pruned = any_pruned || !m->second[i];
    }
  };
  const auto linear_biases = share_biases ? onnxio::matmul_biases(g) : std::map<std::string, std::string>();
  for (const auto& n : g.node()) {
    const auto io = onnxio::weight_inputs(n);
    if (keep && !io.weights.empty() &&
        (std::regex_search(n.name(), *keep) ||
         std::any_of(io.weights.begin(), io.weights.end(), [&](int i) {
           return i < n.input_size() && std::regex_search(n.input(i), *keep);
         }))) {
      kept_any = true;
      continue;
    }
    for (int i : io.weights)
      if (i < n.input_size() && !n.input(i).empty()) add(n.input(i));
    if (share_biases)
      for (const auto& name : onnxio::layer_bias_names(n, linear_biases)) add(name);
  }
  if (share_other)
    for (const auto& name : onnxio::other_parameters(g)) {
      if (keep && std::regex_search(name, *keep)) {
        kept_any = true;
        continue;
      }
      add(name);
    }
  NNC_CHECK_OPTION(!keep || kept_any, "keep_fp32", "'{}' matches no layer", keep_fp32);
  NNC_CHECK(!s.values.empty(), "model has nothing to share (no {} with an initializer weight)", onnxio::weight_operators());
  s.offsets.push_back(s.values.size());
  if (any_pruned) s.pruned = std::move(pruned);
  bool first = true;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s.is_pruned(i)) continue;
    s.min = first ? s.values[i] : std::min(s.min, s.values[i]);
    s.max = first ? s.values[i] : std::max(s.max, s.values[i]);
    first = false;
  }
  NNC_CHECK(!first, "model has nothing to share: every layer weight is pruned");
  return s;
}

std::vector<float> tensor_ranges(const SharedSet& set) {
  std::vector<float> top(set.names.size(), 0.0f);
  for (std::size_t t = 0; t < set.names.size(); ++t)
    for (std::size_t i = set.offsets[t]; i < set.offsets[t + 1]; ++i)
      if (!set.is_pruned(i)) top[t] = std::max(top[t], std::abs(set.values[i]));
  return top;
}

std::size_t scale_tensors(SharedSet& set, double spread) {
  NNC_CHECK(set.scales.empty(), "shared tensors are already scaled");
  NNC_CHECK(spread >= 1 && std::isfinite(spread), "scale spread {} must be at least 1", spread);
  const auto top = tensor_ranges(set);
  const float widest = *std::max_element(top.begin(), top.end());
  std::size_t scaled = 0;
  std::vector<float> scales(set.names.size(), 1.0f);
  for (std::size_t t = 0; t < set.names.size(); ++t)
    if (top[t] > 0 && static_cast<double>(top[t]) * spread < widest) {
      scales[t] = static_cast<float>(static_cast<double>(top[t]) * spread / widest);
      if (scales[t] > 0 && scales[t] < 1) ++scaled;
      else scales[t] = 1.0f;
    }
  if (scaled == 0) return 0;  // nothing to scale: the absolute grid as it is
  set.weights = set.values;
  set.scales = std::move(scales);
  bool first = true;
  for (std::size_t t = 0; t < set.names.size(); ++t) {
    for (std::size_t i = set.offsets[t]; i < set.offsets[t + 1]; ++i) {
      set.values[i] = set.weights[i] / set.scales[t];
      if (set.is_pruned(i)) continue;
      set.min = first ? set.values[i] : std::min(set.min, set.values[i]);
      set.max = first ? set.values[i] : std::max(set.max, set.values[i]);
      first = false;
    }
  }
  return scaled;
}

std::vector<uint16_t> Codebook::indices() const {
  std::vector<uint16_t> out(fine.size());
  for (std::size_t i = 0; i < fine.size(); ++i) out[i] = static_cast<uint16_t>(group[fine[i]]);
  return out;
}

Codebook uniform_bins(const SharedSet& set, int k) { return uniform_bins(set, k, {}); }

Codebook uniform_bins(const SharedSet& set, int k, std::span<const int> strides) {
  const bool zero_bin = !set.pruned.empty();  // bin k: the pruned weights
  NNC_CHECK(k >= 1 && k <= (zero_bin ? 65535 : 65536), "bin count k={} is outside [1, {}]", k, zero_bin ? 65535 : 65536);
  NNC_CHECK(strides.empty() || strides.size() == set.names.size(), "{} strides given for {} shared tensors",
            strides.size(), set.names.size());
  Codebook cb;
  cb.k = k;
  cb.fine.resize(set.size());
  const auto bins = static_cast<std::size_t>(k + (zero_bin ? 1 : 0));
  cb.bin_sum.assign(bins, 0.0);
  cb.bin_count.assign(bins, 0);
  const double lo = set.min, range = static_cast<double>(set.max) - lo;
  const double scale = range > 0 ? k / range : 0.0;
  for (std::size_t t = 0; t < set.names.size(); ++t) {
    const int s = strides.empty() ? 1 : strides[t];
    NNC_CHECK(s >= 1, "stride {} of tensor '{}' must be at least 1", s, set.names[t]);
    for (std::size_t i = set.offsets[t]; i < set.offsets[t + 1]; ++i) {
      if (zero_bin && set.pruned[i]) {
        cb.fine[i] = static_cast<uint16_t>(k);
        ++cb.bin_count[static_cast<std::size_t>(k)];
        continue;
      }
      // edges = linspace(min, max, k+1): bin = floor((w - min) / width), the maximum in the last bin.
      auto b = static_cast<int>(std::floor((static_cast<double>(set.values[i]) - lo) * scale));
      b = std::clamp(b, 0, k - 1);
      if (s > 1) b = std::min(s * (b / s) + s / 2, k - 1);
      cb.fine[i] = static_cast<uint16_t>(b);
      cb.bin_sum[static_cast<std::size_t>(b)] += set.values[i];
      ++cb.bin_count[static_cast<std::size_t>(b)];
    }
  }
  cb.group.assign(bins, -1);
  int next = 0;
  // Entries in value order: the zero entry goes before the first bin whose mean is positive.
  const bool zeros = zero_bin && cb.bin_count[static_cast<std::size_t>(k)] > 0;
  bool zero_placed = !zeros;
  for (int b = 0; b < k; ++b) {
    const auto bi = static_cast<std::size_t>(b);
    if (!cb.bin_count[bi]) continue;
    if (!zero_placed && cb.bin_sum[bi] > 0) {
      cb.group[static_cast<std::size_t>(k)] = next++;
      zero_placed = true;
    }
    cb.group[bi] = next++;
  }
  if (!zero_placed) cb.group[static_cast<std::size_t>(k)] = next++;
  refresh_values(cb);
  return cb;
}

bool mergeable(const Codebook& cb, int e) {
  return e >= 0 && static_cast<std::size_t>(e) + 1 < cb.size() && e != cb.zero_entry && e + 1 != cb.zero_entry;
}

Codebook merge_entries(const Codebook& cb, int e) {
  NNC_CHECK(e >= 0 && static_cast<std::size_t>(e) + 1 < cb.size(), "merge of entry {} out of range", e);
  NNC_CHECK(mergeable(cb, e), "entries {} and {}: the zero entry of pruned weights is never merged", e, e + 1);
  Codebook out = cb;
  for (auto& g : out.group)
    if (g > e) --g;
  refresh_values(out);
  return out;
}

Codebook merge_many(const Codebook& cb, std::span<const int> lefts) {
  std::vector<char> joins(cb.size(), 0);
  for (int e : lefts) {
    NNC_CHECK(e >= 0 && static_cast<std::size_t>(e) + 1 < cb.size(), "merge of entry {} out of range", e);
    NNC_CHECK(mergeable(cb, e), "entries {} and {}: the zero entry of pruned weights is never merged", e, e + 1);
    joins[static_cast<std::size_t>(e)] = 1;
  }
  // Entry g moves down by the number of joins to its left.
  std::vector<int> renumber(cb.size());
  int shift = 0;
  for (std::size_t g = 0; g < cb.size(); ++g) {
    if (g > 0 && joins[g - 1]) ++shift;
    renumber[g] = static_cast<int>(g) - shift;
  }
  Codebook out = cb;
  for (auto& g : out.group)
    if (g >= 0) g = renumber[static_cast<std::size_t>(g)];
  refresh_values(out);
  return out;
}

std::vector<float> shared_values(const SharedSet& set, const Codebook& cb) {
  std::vector<float> out(set.size());
  for (std::size_t i = 0; i < set.size(); ++i) out[i] = cb.values[static_cast<std::size_t>(cb.group[cb.fine[i]])];
  return out;
}

std::vector<float> entry_values(const Codebook& cb, std::span<const uint16_t> indices) {
  std::vector<float> out(indices.size());
  for (std::size_t i = 0; i < indices.size(); ++i) out[i] = cb.values[indices[i]];
  return out;
}

}  // namespace nnc::share

namespace nnc::share {

void SharedSet::save(dist::ArchiveWriter& w) const {
  w.put(names);
  w.put(shapes);
  w.put(offsets);
  w.put(values);
  w.put(pruned);
  w.put(min);
  w.put(max);
  w.put(scales);
  w.put(weights);
}

SharedSet SharedSet::load(dist::ArchiveReader& r) {
  SharedSet s;
  r.get(s.names);
  r.get(s.shapes);
  r.get(s.offsets);
  r.get(s.values);
  r.get(s.pruned);
  s.min = r.get<float>();
  s.max = r.get<float>();
  r.get(s.scales);
  r.get(s.weights);
  NNC_CHECK(s.offsets.size() == s.names.size() + 1 && s.shapes.size() == s.names.size() && s.offsets.back() == s.values.size(),
            "distributed message: inconsistent shared set");
  return s;
}

}  // namespace nnc::share
