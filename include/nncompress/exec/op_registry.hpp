#pragma once
// Operator registry: ONNX op type (default domain) + opset range -> builder. A builder runs
// once at load, reads and validates the node's attributes (throwing "unsupported" for anything
// it cannot honour) and returns the kernel that runs it. Adding an operator touches one file in
// src/exec/ops/ and one register_*_ops call in op_registry.cpp.
#include <ATen/core/Tensor.h>
#include <onnx/onnx_pb.h>

#include <climits>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace nnc::exec {

struct RunContext {
  bool training = false;
  // Changes whenever cached derived data (folded BatchNorm weights) may be stale: after any
  // training-mode run, since kernels update BatchNorm statistics without bumping versions.
  uint64_t generation = 0;
  // Inference fast path: kernels registered with OpTraits::onednn may receive and return oneDNN
  // (mkldnn) tensors; see src/exec/onednn.hpp. Always false in training mode.
  bool onednn = false;
  // >= 0 while Engine::recalibrate_batchnorm runs: BatchNormalization normalises with batch
  // statistics and folds them into its running statistics with this weight (ATen convention);
  // everything else behaves as at inference.
  double batchnorm_momentum = -1;
  // Inference: dense-in, dense-out kernels may run on oneDNN (Gemm/MatMul against a 2-D weight
  // as an inner product). Unlike `onednn`, layout planning never switches it off.
  bool onednn_dense = false;
};

// A compiled kernel: reads inputs (absent optional inputs are undefined tensors), writes outputs.
using OpFn = std::function<void(const RunContext&, std::span<const at::Tensor>, std::span<at::Tensor>)>;

// What a builder sees of a node at load time.
class NodeInfo {
 public:
  using ConstantLookup = std::function<std::optional<at::Tensor>(const std::string&)>;
  NodeInfo(const onnx::NodeProto& node, int opset, ConstantLookup constants);

  const onnx::NodeProto& proto() const { return node_; }
  const std::string& op_type() const { return node_.op_type(); }
  int opset() const { return opset_; }
  std::string label() const;  // "node 'name' (OpType)" for messages

  // Typed accessors: an attribute present with another type (strides given as one INT) is
  // invalid, never silently read as the fallback.
  bool has_attr(std::string_view name) const;
  int64_t attr_int(std::string_view name, int64_t fallback) const;
  float attr_float(std::string_view name, float fallback) const;
  std::string attr_string(std::string_view name, std::string fallback) const;
  std::vector<int64_t> attr_ints(std::string_view name, std::vector<int64_t> fallback = {}) const;
  std::vector<float> attr_floats(std::string_view name, std::vector<float> fallback = {}) const;
  std::optional<at::Tensor> attr_tensor(std::string_view name) const;
  const onnx::AttributeProto* attr(std::string_view name) const;

  std::size_t num_inputs() const { return static_cast<std::size_t>(node_.input_size()); }
  bool has_input(std::size_t i) const;  // present and non-empty name
  std::size_t num_outputs() const { return static_cast<std::size_t>(node_.output_size()); }
  // Value of input i if it is known at load (initializer of integer type or Constant output).
  std::optional<at::Tensor> constant_input(std::size_t i) const;

  // Throws nnc::Error(kUnsupported) "<label>: unsupported <what>".
  [[noreturn]] void unsupported(const std::string& what) const;
  // Throws nnc::Error(kCorrupt) "<label>: <what>": an attribute or input that breaks the
  // operator's rules (strides 0, a kernel_shape the weight contradicts, an axis out of range).
  [[noreturn]] void invalid(const std::string& what) const;
  // Throws unsupported for any attribute not in `known`.
  void expect_attrs(std::initializer_list<std::string_view> known) const;
  // Every value of the INTS attribute `name` (when present) lies in [lo, hi], else invalid
  // "<label>: strides [1,0]: every value must be >= 1". The default bound keeps products of
  // two such values (dilation x kernel, stride x size) inside int64.
  void expect_ints_in(std::string_view name, int64_t lo, int64_t hi = INT32_MAX) const;
  // The INT attribute `name` (when present) lies in [lo, hi], else invalid.
  void expect_int_in(std::string_view name, int64_t lo, int64_t hi = INT32_MAX) const;

 private:
  const onnx::NodeProto& node_;
  int opset_;
  ConstantLookup constants_;
};

using OpBuilder = std::function<OpFn(const NodeInfo&)>;

struct OpTraits {
  // The kernel accepts oneDNN (mkldnn) inputs under RunContext::onednn (handling, or densifying,
  // every case itself); without it the engine hands the kernel dense tensors only.
  bool onednn = false;
};

class OpRegistry {
 public:
  void add(const std::string& op_type, OpBuilder builder, int min_opset = 1, int max_opset = INT_MAX,
           OpTraits traits = {});
  const OpBuilder* find(std::string_view op_type, int opset) const;
  OpTraits traits(std::string_view op_type, int opset) const;  // default traits if unknown
  std::vector<std::string> op_types() const;

 private:
  struct Entry {
    int min_opset, max_opset;
    OpBuilder builder;
    OpTraits traits;
  };
  const Entry* entry(std::string_view op_type, int opset) const;
  std::map<std::string, std::vector<Entry>, std::less<>> ops_;
};

// The registry with every operator nncompress runs.
const OpRegistry& default_registry();

// Input and output counts a node of this operator may have, from the ONNX schema of its opset
// (onnx::OpSchemaRegistry); minimums only where the linked ONNX library does not know the opset
// (a newer operator version may take more inputs), and at least one input and one output for an
// operator it does not know at all.
struct NodeArity {
  int min_inputs = 1, max_inputs = INT_MAX, min_outputs = 1, max_outputs = INT_MAX;
};
NodeArity node_arity(const std::string& op_type, int opset);
// Throws invalid when the node has too few or too many inputs or outputs, or a required input
// (one of the first min_inputs) is left empty. Kernels index their inputs and outputs freely
// after this check.
void check_node_arity(const NodeInfo& n);

}  // namespace nnc::exec
