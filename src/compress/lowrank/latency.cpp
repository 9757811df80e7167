#include "nncompress/compress/lowrank/latency.hpp"

#include <algorithm>
#include <string>

namespace nnc::lowrank {
namespace {

// Summed time of the steps that run any node named in `names`.
double time_of(const std::vector<exec::StepTime>& profile, const std::vector<std::string>& names, bool* found) {
  double ms = 0;
  for (const auto& s : profile)
    if (std::any_of(s.nodes.begin(), s.nodes.end(),
                    [&](const std::string& n) { return std::find(names.begin(), names.end(), n) != names.end(); })) {
      ms += s.ms;
      *found = true;
    }
  return ms;
}

}  // namespace

std::vector<LayerLatency> layer_latencies(const std::vector<Layer>& layers, const Allocation& allocation,
                                          const std::vector<exec::StepTime>& dense,
                                          const std::vector<exec::StepTime>& factored) {
  std::vector<LayerLatency> out(layers.size());
  for (std::size_t i = 0; i < layers.size() && i < allocation.layers.size(); ++i) {
    if (!allocation.layers[i].factored) continue;
    // The decoder keeps the original node's name; the encoder is "<name>.lowrank_encoder".
    bool in_dense = false, in_factored = false;
    out[i].dense_ms = time_of(dense, {layers[i].node}, &in_dense);
    out[i].factored_ms = time_of(factored, {layers[i].node, layers[i].node + ".lowrank_encoder"}, &in_factored);
    out[i].measured = in_dense && in_factored;
  }
  return out;
}

}  // namespace nnc::lowrank
