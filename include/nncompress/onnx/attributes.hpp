#pragma once
// Reading a node's attributes with a default when absent (model transforms and analyses; the
// engine's operators have their own checked accessors in exec/op_registry).
#include <onnx/onnx_pb.h>

#include <cstdint>
#include <string>
#include <vector>

namespace nnc::onnxio {

inline const onnx::AttributeProto* find_attribute(const onnx::NodeProto& n, const std::string& name) {
  for (const auto& a : n.attribute())
    if (a.name() == name) return &a;
  return nullptr;
}

inline int64_t attr_int(const onnx::NodeProto& n, const std::string& name, int64_t fallback) {
  const auto* a = find_attribute(n, name);
  return a ? a->i() : fallback;
}

inline float attr_float(const onnx::NodeProto& n, const std::string& name, float fallback) {
  const auto* a = find_attribute(n, name);
  return a ? a->f() : fallback;
}

inline std::vector<int64_t> attr_ints(const onnx::NodeProto& n, const std::string& name,
                                      std::vector<int64_t> fallback) {
  const auto* a = find_attribute(n, name);
  return a ? std::vector<int64_t>(a->ints().begin(), a->ints().end()) : fallback;
}

inline std::string attr_string(const onnx::NodeProto& n, const std::string& name) {
  const auto* a = find_attribute(n, name);
  return a ? a->s() : std::string();
}

}  // namespace nnc::onnxio
