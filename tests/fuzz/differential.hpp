#pragma once
// The two .nnc readers side by side: store::decode_container (C++) and nnc_decode (the C99
// decoder in src/store/decode.c). The same bytes, their CRC-32 trailer re-sealed so that the
// record checks are reached, must be refused by both or decoded by both to the same graph bytes,
// tensor names, shapes, element types and float32 / int8 bits; a file both accept also goes through the writer and
// back unchanged (codebooks included, which the C decoder does not return). Used by the libFuzzer
// target (tests/fuzz/nnc_fuzz.cpp) and by the replay of tests/fuzz/nnc/ (tests/store).
#include <fmt/format.h>

#include <cstring>
#include <span>
#include <string>
#include <vector>

#include "decode.h"
#include "nncompress/core/error.hpp"
#include "nncompress/store/container.hpp"

namespace nnc::fuzz {

// The bytes with their last four replaced by the CRC-32 of the others (as a writer seals them).
inline std::vector<uint8_t> sealed(std::span<const uint8_t> in) {
  std::vector<uint8_t> out(in.begin(), in.end());
  if (out.size() < 4) return out;
  const uint32_t crc = nnc_crc32(out.data(), out.size() - 4);
  for (int i = 0; i < 4; ++i) out[out.size() - 4 + static_cast<std::size_t>(i)] = static_cast<uint8_t>(crc >> (8 * i));
  return out;
}

inline bool same_floats(const std::vector<float>& a, const float* b, std::size_t n) {
  return a.size() == n && (n == 0 || std::memcmp(a.data(), b, n * sizeof(float)) == 0);
}

// "" when the C decoder's model equals the C++ reader's content, else the first difference.
inline std::string compare(const store::ContainerContent& c, const nnc_model& m) {
  const std::string c_graph = m.graph_size ? std::string(reinterpret_cast<const char*>(m.graph), m.graph_size) : "";
  if (c.graph != c_graph) return fmt::format("graph: C++ {} bytes, C {} bytes", c.graph.size(), m.graph_size);
  if (c.tensors.size() != m.count) return fmt::format("C++ {} tensors, C {}", c.tensors.size(), m.count);
  for (std::size_t i = 0; i < m.count; ++i) {
    const auto& t = c.tensors[i];
    const auto& u = m.tensors[i];
    if (t.name != u.name) return fmt::format("tensor {}: C++ name '{}', C '{}'", i, t.name, u.name);
    if (t.shape != std::vector<int64_t>(u.dims, u.dims + u.rank)) return fmt::format("tensor '{}': shapes differ", t.name);
    if (t.is_int8() != (u.elem_type == 3)) return fmt::format("tensor '{}': element types differ", t.name);
    if (t.is_int8()) {
      const auto q = t.decode_int8();
      if (q.size() != u.numel || (u.numel && std::memcmp(q.data(), u.data_i8, u.numel) != 0))
        return fmt::format("tensor '{}': int8 values differ", t.name);
      continue;
    }
    if (!same_floats(t.decode(c.codebooks), u.data, u.numel)) return fmt::format("tensor '{}': values differ", t.name);
  }
  return "";
}

inline std::string same_content(const store::ContainerContent& a, const store::ContainerContent& b) {
  if (a.graph != b.graph) return "graph";
  if (a.codebooks.size() != b.codebooks.size()) return "codebook count";
  for (std::size_t i = 0; i < a.codebooks.size(); ++i)
    if (!same_floats(a.codebooks[i], b.codebooks[i].data(), b.codebooks[i].size())) return fmt::format("codebook {}", i);
  if (a.tensors.size() != b.tensors.size()) return "tensor count";
  for (std::size_t i = 0; i < a.tensors.size(); ++i) {
    const auto& t = a.tensors[i];
    const auto values = b.tensors[i].decode(b.codebooks);
    if (t.name != b.tensors[i].name || t.shape != b.tensors[i].shape || t.is_int8() != b.tensors[i].is_int8() ||
        !same_floats(t.decode(a.codebooks), values.data(), values.size()))
      return fmt::format("tensor '{}'", t.name);
  }
  return "";
}

// "" when both readers agree on the (already sealed) bytes, else what they disagree on.
inline std::string readers_disagree(std::span<const uint8_t> bytes) {
  std::string cpp_error;
  store::ContainerContent c;
  try {
    c = store::decode_container(bytes, "fuzz.nnc");
  } catch (const Error& e) {
    cpp_error = e.what();
  }
  nnc_model m;
  char err[256] = "";
  const bool c_ok = nnc_decode(bytes.data(), bytes.size(), &m, err, sizeof err) == 0;
  std::string diff;
  if (c_ok != cpp_error.empty()) {
    diff = fmt::format("C++ {}; C {}", cpp_error.empty() ? "accepts" : "refuses: " + cpp_error,
                       c_ok ? "accepts" : std::string("refuses: ") + err);
  } else if (c_ok) {
    diff = compare(c, m);
    if (diff.empty()) {
      try {
        const auto again = store::encode_container(c);
        const std::string d = same_content(c, store::decode_container(again, "rewritten.nnc"));
        if (!d.empty()) diff = "written and read back, it differs: " + d;
      } catch (const Error& e) {
        diff = std::string("the writer or reader refuses what was read: ") + e.what();
      }
    }
  }
  if (c_ok) nnc_free(&m);
  return diff;
}

}  // namespace nnc::fuzz
