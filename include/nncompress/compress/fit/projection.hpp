#pragma once
// The projection of ADMM for joint sparsity and quantisation under a byte budget (Yang, Gui, Zhu,
// Liu, "Automatic Neural Network Compression by Sparsity-Quantization Joint Learning", CVPR 2020,
// Sec. 3.2): the point of the constraint set nearest (squared error) to the given weights.
//  - Within a layer that keeps k weights with a codebook of 2^b levels, the nearest point keeps
//    the k largest magnitudes and maps them to the levels of a 1-D k-means (Lloyd, exact on
//    sorted values via prefix sums); the pruned ones become exact zeros, stored as positions.
//  - Across layers, the (k, b) options form a multiple-choice knapsack: least summed squared
//    error within the byte budget (compress/common/knapsack.hpp).
// Each option's cost is the bytes the .nnc container spends on the layer: its positions (the
// container's smallest form, computed exactly), its indices (the smaller of bit-packing and
// Huffman from the cluster counts: never below what the writer, which may also use rANS, spends)
// and its codebook, plus record overhead.
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

namespace nnc::fit {

struct GridOptions {
  int min_bits = 1, max_bits = 8;  // codebooks of 2^min_bits .. 2^max_bits levels
  int densities = 20;              // kept fractions, geometric from 1 down to min_density
  double min_density = 1e-3;
  bool allow_dense = true;         // the fraction 1 (no pruning) is an option
  // Exact zeros are never kept: a layer's kept counts stop at its nonzero count (a pruned
  // model's zeros stay zeros; fit's keep_zeros).
  bool only_nonzero = false;
};

// One option of a layer: k kept weights, b bits.
struct LayerOption {
  int64_t kept = 0;
  int bits = 0;
  double distortion = 0;  // squared error against the given weights
  int64_t bytes = 0;      // container bytes of the layer's payload (size model)
};

// Every (kept, bits) option of one layer's weights (values: the layer's flat weights).
std::vector<LayerOption> layer_options(std::span<const float> values, const GridOptions& grid);

// A layer projected: its values (kept weights at their levels, the rest exact zeros), which
// elements are kept, and each kept element's level.
struct ProjectedLayer {
  std::vector<float> values;      // one per element
  std::vector<float> levels;      // sorted ascending, at most 2^bits, no zero entry
  std::vector<uint16_t> level;    // per element: its level, levels.size() for pruned elements
  int64_t kept = 0;
  int bits = 0;
  double distortion = 0;
};
ProjectedLayer project_layer(std::span<const float> values, int64_t kept, int bits);

// One layer's weights sorted once (by magnitude and by value), projected to any option and
// listing its options: what project_layer and layer_options do, for many calls on one layer.
class LayerProjector {
 public:
  explicit LayerProjector(std::span<const float> values);
  ~LayerProjector();
  LayerProjector(LayerProjector&&) noexcept;
  ProjectedLayer project(int64_t kept, int bits) const;
  // The size model's payload bytes of the option (kept, bits), as options() lists them.
  int64_t bytes(int64_t kept, int bits) const;
  std::vector<LayerOption> options(const GridOptions& grid) const;

 private:
  struct Sorted;
  std::vector<float> values_;
  std::unique_ptr<Sorted> sorted_;
};

// The joint projection: every layer's option chosen by the knapsack within `budget` payload
// bytes, then each layer projected. Throws naming the minimum when even the cheapest options
// exceed the budget.
struct JointProjection {
  std::vector<ProjectedLayer> layers;
  std::vector<int64_t> bytes;  // per layer, the size model's bytes
  int64_t predicted_bytes = 0; // their sum
  double distortion = 0;
};
JointProjection project_to_budget(const std::vector<std::span<const float>>& layers, int64_t budget,
                                  const GridOptions& grid);
// The option of each layer with least summed distortion within `budget` (the knapsack alone).
std::vector<LayerOption> choose_options(const std::vector<std::vector<LayerOption>>& options, int64_t budget);
// The baseline allocation: the same kept fraction and bit width for every layer, the pair of
// least summed distortion within `budget` (options as layer_options lists them for `grid`).
std::vector<LayerOption> choose_uniform(const std::vector<std::vector<LayerOption>>& options, const GridOptions& grid,
                                        int64_t budget);
// Every layer projected to its given option (kept, bits).
JointProjection project_to_options(const std::vector<std::span<const float>>& layers,
                                   const std::vector<LayerOption>& options);

// The fewest payload bytes any choice of `options` reaches (every layer at its cheapest option).
int64_t min_payload_bytes(const std::vector<std::vector<LayerOption>>& options);

// Container payload bytes of a layer stored as `kept` positions (exactly, given them) and
// codebook indices whose level counts are `counts` (the size model's one formula).
int64_t layer_payload_bytes(std::size_t numel, std::span<const uint64_t> positions, std::span<const int64_t> counts);

// 1-D k-means (Lloyd) with at most `levels` levels on ascending `sorted` values: the levels
// (cluster means, ascending, empty clusters dropped), their counts and the summed squared error.
struct Clusters {
  std::vector<double> levels;
  std::vector<int64_t> counts;
  double sse = 0;
};
Clusters kmeans_sorted(std::span<const double> sorted, int levels);

}  // namespace nnc::fit
