#pragma once
// Structure-agnostic weight sharing, Sec. 3 of the method: ALL shared weights of ALL layers
// go into ONE codebook of k uniform-width bins over [min w, max w]; each weight finds its bin
// by arithmetic (O(N), no k-means); empty bins are dropped; a bin's shared value is the mean
// of its weights. Merging joins adjacent bins (value = mean of the union).
// Pruned weights (masked exact zeros) stay exact zeros: they go to a zero entry of their own
// that no other weight is rounded to and no merge touches; the bins span the other weights.
#include <onnx/onnx_pb.h>

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <vector>

namespace nnc::dist {
class ArchiveWriter;
class ArchiveReader;
}  // namespace nnc::dist

namespace nnc::share {

// Every shared weight, flattened in a fixed order with per-tensor offsets.
struct SharedSet {
  std::vector<std::string> names;
  std::vector<std::vector<int64_t>> shapes;
  std::vector<std::size_t> offsets;  // names.size() + 1 entries
  // What is binned: each weight divided by its tensor's scale (the weight itself when unscaled).
  std::vector<float> values;
  std::vector<uint8_t> pruned;  // per weight, 1 = a pruned exact zero (empty: nothing is pruned)
  float min = 0, max = 0;       // of `values`, over the weights that are not pruned
  // Per-tensor scales (scale_tensors): tensor t's weights are values x scales[t], so one shared
  // codebook serves tensors whose ranges differ by orders of magnitude. Empty: every scale is 1
  // (the method as published: one absolute grid).
  std::vector<float> scales;
  std::vector<float> weights;  // the weights themselves when scaled (else `values` are)
  std::size_t size() const { return values.size(); }
  bool is_pruned(std::size_t weight) const { return !pruned.empty() && pruned[weight] != 0; }
  float scale(std::size_t tensor) const { return scales.empty() ? 1.0f : scales[tensor]; }
  const std::vector<float>& original() const { return weights.empty() ? values : weights; }
  void save(dist::ArchiveWriter& w) const;  // for the other ranks of a distributed search
  static SharedSet load(dist::ArchiveReader& r);
};

// Weights of every layer (onnxio::weight_inputs); biases too when `share_biases`; the other
// learned parameters (onnxio::other_parameters) when `share_other`. `masks`
// (weight name -> 1 kept / 0 pruned per element) marks pruned weights. Throws if there is
// nothing to share.
// `keep_fp32` (a regex searched in node and weight names, "" for none) leaves the layers it
// matches out (fp32); one that matches no layer is an error naming the option.
SharedSet collect_shared(const onnx::ModelProto& model, bool share_biases,
                         const std::map<std::string, std::vector<uint8_t>>& masks = {},
                         const std::string& keep_fp32 = {}, bool share_other = false);

// Each tensor's max |w| over its unpruned weights (its range on the absolute grid).
std::vector<float> tensor_ranges(const SharedSet& set);

// Caps how far apart the tensors' ranges are on the shared grid. With r = max |w| of a tensor
// (over its unpruned weights) and R the largest r of all tensors, a tensor with r >= R / spread
// keeps its weights (scale 1: the absolute grid, where a narrower tensor uses fewer bins and so
// fewer index bits); a narrower one is magnified to span R / spread (scale r x spread / R < 1),
// so that no tensor falls into one or two bins of a grid made for a 1000x wider one. spread 1:
// every tensor spans the whole grid; a tensor of zeros keeps scale 1. Returns the tensors scaled.
std::size_t scale_tensors(SharedSet& set, double spread);

// A codebook over a SharedSet: `fine` is each weight's uniform bin (0..k-1, and k for pruned
// weights); `group` maps bins to codebook entries (merges make several bins share one entry);
// `values` are the entries' shared values (means of their weights), ascending.
struct Codebook {
  int k = 0;
  std::vector<uint16_t> fine;
  std::vector<int> group;           // k entries (k + 1 with pruned weights); -1 for empty bins
  int zero_entry = -1;              // the entry of the pruned weights (exactly 0), -1 without
  std::vector<double> bin_sum;      // per uniform bin
  std::vector<int64_t> bin_count;
  std::vector<float> values;        // per entry
  std::size_t size() const { return values.size(); }
  uint16_t index_of(std::size_t weight) const { return static_cast<uint16_t>(group[fine[weight]]); }
  std::vector<uint16_t> indices() const;  // entry index of every weight
};

Codebook uniform_bins(const SharedSet& set, int k);

// Extended mode: tensor t uses only every strides[t]-th bin of the same shared grid (stride 1
// is the paper's binning). A weight in uniform bin b goes to bin s*floor(b/s) + s/2 (clamped),
// so a coarse tensor draws on fewer entries of the ONE codebook and its indices cost fewer
// bits; still one arithmetic pass over the weights. `strides` has one entry per tensor.
Codebook uniform_bins(const SharedSet& set, int k, std::span<const int> strides);

// Whether entries e and e + 1 may be joined (neither is the zero entry).
bool mergeable(const Codebook& cb, int e);
// Joins entries e and e+1 (adjacent in value order); the new value is the mean of the union.
Codebook merge_entries(const Codebook& cb, int e);
// Joins every pair (e, e+1) for e in `lefts` at once (overlapping pairs chain into one entry).
Codebook merge_many(const Codebook& cb, std::span<const int> lefts);

// Shared value of every weight, in SharedSet order (unit values: times its tensor's scale for the weight).
std::vector<float> shared_values(const SharedSet& set, const Codebook& cb);
// The value of each given codebook entry index (for assignments other than the plain binning).
std::vector<float> entry_values(const Codebook& cb, std::span<const uint16_t> indices);

}  // namespace nnc::share
