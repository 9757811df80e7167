#include "nncompress/exec/op_registry.hpp"

#include <fmt/ranges.h>
#include <onnx/defs/schema.h>

#include "exec/ops/ops.hpp"
#include "nncompress/core/error.hpp"
#include "nncompress/exec/tensor_proto.hpp"
#include "nncompress/onnx/model_io.hpp"
#include "nncompress/onnx/tensor_proto.hpp"

namespace nnc::exec {

NodeInfo::NodeInfo(const onnx::NodeProto& node, int opset, ConstantLookup constants)
    : node_(node), opset_(opset), constants_(std::move(constants)) {}

std::string NodeInfo::label() const {
  std::string name = node_.name().empty() ? (node_.output_size() ? node_.output(0) : std::string("?"))
                                          : node_.name();
  return fmt::format("node '{}' ({})", name, node_.op_type());
}

const onnx::AttributeProto* NodeInfo::attr(std::string_view name) const {
  for (const auto& a : node_.attribute())
    if (a.name() == name) return &a;
  return nullptr;
}

namespace {

// The attribute `name` of `n` if present; invalid when its declared type is another one. (A
// type left unset, as in some very old files, is read as the one asked for.)
const onnx::AttributeProto* typed_attr(const NodeInfo& n, std::string_view name, onnx::AttributeProto::AttributeType want) {
  const auto* a = n.attr(name);
  if (a && a->type() != onnx::AttributeProto::UNDEFINED && a->type() != want)
    n.invalid(fmt::format("attribute '{}' is {}, expected {}", name, onnx::AttributeProto::AttributeType_Name(a->type()),
                          onnx::AttributeProto::AttributeType_Name(want)));
  return a;
}

}  // namespace

bool NodeInfo::has_attr(std::string_view name) const { return attr(name) != nullptr; }

int64_t NodeInfo::attr_int(std::string_view name, int64_t fallback) const {
  const auto* a = typed_attr(*this, name, onnx::AttributeProto::INT);
  return a ? a->i() : fallback;
}

float NodeInfo::attr_float(std::string_view name, float fallback) const {
  const auto* a = typed_attr(*this, name, onnx::AttributeProto::FLOAT);
  return a ? a->f() : fallback;
}

std::string NodeInfo::attr_string(std::string_view name, std::string fallback) const {
  const auto* a = typed_attr(*this, name, onnx::AttributeProto::STRING);
  return a ? a->s() : fallback;
}

std::vector<int64_t> NodeInfo::attr_ints(std::string_view name, std::vector<int64_t> fallback) const {
  const auto* a = typed_attr(*this, name, onnx::AttributeProto::INTS);
  if (!a) return fallback;
  return {a->ints().begin(), a->ints().end()};
}

std::vector<float> NodeInfo::attr_floats(std::string_view name, std::vector<float> fallback) const {
  const auto* a = typed_attr(*this, name, onnx::AttributeProto::FLOATS);
  if (!a) return fallback;
  return {a->floats().begin(), a->floats().end()};
}

std::optional<at::Tensor> NodeInfo::attr_tensor(std::string_view name) const {
  const auto* a = typed_attr(*this, name, onnx::AttributeProto::TENSOR);
  if (!a || !a->has_t()) return std::nullopt;
  return exec::to_tensor(a->t());
}

bool NodeInfo::has_input(std::size_t i) const {
  return i < num_inputs() && !node_.input(static_cast<int>(i)).empty();
}

std::optional<at::Tensor> NodeInfo::constant_input(std::size_t i) const {
  if (!has_input(i) || !constants_) return std::nullopt;
  return constants_(node_.input(static_cast<int>(i)));
}

void NodeInfo::unsupported(const std::string& what) const {
  fail(ErrorCode::kUnsupported, "{}: unsupported {}", label(), what);
}

void NodeInfo::invalid(const std::string& what) const { fail(ErrorCode::kCorrupt, "{}: {}", label(), what); }

void NodeInfo::expect_ints_in(std::string_view name, int64_t lo, int64_t hi) const {
  const auto values = attr_ints(name);
  for (auto v : values) {
    if (v < lo) invalid(fmt::format("{} [{}]: every value must be >= {}", name, fmt::join(values, ","), lo));
    if (v > hi) invalid(fmt::format("{} [{}]: every value must be <= {}", name, fmt::join(values, ","), hi));
  }
}

void NodeInfo::expect_int_in(std::string_view name, int64_t lo, int64_t hi) const {
  if (!has_attr(name)) return;
  const int64_t v = attr_int(name, lo);
  if (v < lo) invalid(fmt::format("{} {}: must be >= {}", name, v, lo));
  if (v > hi) invalid(fmt::format("{} {}: must be <= {}", name, v, hi));
}

void NodeInfo::expect_attrs(std::initializer_list<std::string_view> known) const {
  for (const auto& a : node_.attribute()) {
    bool ok = false;
    for (auto k : known) ok = ok || a.name() == k;
    if (!ok) unsupported(fmt::format("attribute '{}'", a.name()));
  }
}

void OpRegistry::add(const std::string& op_type, OpBuilder builder, int min_opset, int max_opset, OpTraits traits) {
  ops_[op_type].push_back({min_opset, max_opset, std::move(builder), traits});
}

const OpRegistry::Entry* OpRegistry::entry(std::string_view op_type, int opset) const {
  auto it = ops_.find(op_type);
  if (it == ops_.end()) return nullptr;
  for (const auto& e : it->second)
    if (opset >= e.min_opset && opset <= e.max_opset) return &e;
  return nullptr;
}

const OpBuilder* OpRegistry::find(std::string_view op_type, int opset) const {
  const Entry* e = entry(op_type, opset);
  return e ? &e->builder : nullptr;
}

OpTraits OpRegistry::traits(std::string_view op_type, int opset) const {
  const Entry* e = entry(op_type, opset);
  return e ? e->traits : OpTraits{};
}

std::vector<std::string> OpRegistry::op_types() const {
  std::vector<std::string> out;
  for (const auto& [k, v] : ops_) out.push_back(k);
  return out;
}

NodeArity node_arity(const std::string& op_type, int opset) {
  NodeArity a;
  const auto* schema = onnx::OpSchemaRegistry::Schema(op_type, opset, onnx::ONNX_DOMAIN);
  if (!schema) return a;
  a.min_inputs = schema->min_input();
  a.min_outputs = schema->min_output();
  if (opset <= onnxio::checker_max_opset()) {
    a.max_inputs = schema->max_input();
    a.max_outputs = schema->max_output();
  }
  return a;
}

void check_node_arity(const NodeInfo& n) {
  const NodeArity a = node_arity(n.op_type(), n.opset());
  auto range = [](int lo, int hi) {
    return hi == INT_MAX ? fmt::format("at least {}", lo) : lo == hi ? std::to_string(lo) : fmt::format("{} to {}", lo, hi);
  };
  const auto ins = static_cast<int64_t>(n.num_inputs()), outs = static_cast<int64_t>(n.num_outputs());
  if (ins < a.min_inputs || ins > a.max_inputs)
    n.invalid(fmt::format("has {} inputs, the operator takes {}", ins, range(a.min_inputs, a.max_inputs)));
  if (outs < a.min_outputs || outs > a.max_outputs)
    n.invalid(fmt::format("has {} outputs, the operator gives {}", outs, range(a.min_outputs, a.max_outputs)));
  for (int i = 0; i < a.min_inputs; ++i)
    if (!n.has_input(static_cast<std::size_t>(i))) n.invalid(fmt::format("required input {} is empty", i));
}

const OpRegistry& default_registry() {
  static const OpRegistry registry = [] {
    OpRegistry r;
    register_conv_ops(r);
    register_gemm_ops(r);
    register_elementwise_ops(r);
    register_pool_ops(r);
    register_norm_ops(r);
    register_shape_ops(r);
    register_recurrent_ops(r);
    register_resize_ops(r);
    register_control_flow_ops(r);
    register_indexing_ops(r);
    register_quantize_ops(r);
    return r;
  }();
  return registry;
}

}  // namespace nnc::exec
