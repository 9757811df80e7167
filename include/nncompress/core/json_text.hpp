#pragma once
// JSON as text, never throwing: a string that is not UTF-8 (a file name or a layer name in
// Latin-1, a recipe value) is written with U+FFFD in place of its bad bytes, where
// nlohmann::json::dump() would throw at the end of an hour's work (summary, reports, caches).
#include <string>

#include <nlohmann/json.hpp>

namespace nnc {

inline std::string json_text(const nlohmann::json& j, int indent = -1) {
  return j.dump(indent, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace nnc
