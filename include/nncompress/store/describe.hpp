#pragma once
// What an .nnc container holds and what each part costs, as JSON (what `nncompress info X.nnc`
// prints): format version, bytes (and as re-encoded in the current format), the parts (graph,
// codebooks, indices, raw fp32, sparse, headers), codebook sizes, each tensor's shape, kind,
// coder and positions, and the graph's operators.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace nnc::store {

// Throws (naming `path`) for a file that is not a valid container.
nlohmann::json describe_container(const std::vector<uint8_t>& bytes, const std::string& path);

}  // namespace nnc::store
