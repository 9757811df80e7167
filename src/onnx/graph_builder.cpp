#include "nncompress/onnx/graph_builder.hpp"

#include <fmt/format.h>

#include "nncompress/onnx/tensor_proto.hpp"

namespace nnc::onnxio {
namespace {

void set_value_info(onnx::ValueInfoProto* v, const std::string& name, const std::vector<int64_t>& shape,
                    int elem_type) {
  v->set_name(name);
  auto* tt = v->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(elem_type);
  auto* s = tt->mutable_shape();
  for (auto d : shape) {
    auto* dim = s->add_dim();
    if (d < 0) dim->set_dim_param("N");
    else dim->set_dim_value(d);
  }
}

}  // namespace

GraphBuilder::GraphBuilder(std::string graph_name, int opset) {
  model_.set_ir_version(opset >= 15 ? 8 : 7);
  model_.set_producer_name("nncompress");
  model_.set_producer_version("0.1");
  auto* op = model_.add_opset_import();
  op->set_domain("");
  op->set_version(opset);
  model_.mutable_graph()->set_name(std::move(graph_name));
}

void GraphBuilder::add_input(const std::string& name, const std::vector<int64_t>& shape, int elem_type) {
  set_value_info(model_.mutable_graph()->add_input(), name, shape, elem_type);
}

void GraphBuilder::add_output(const std::string& name, const std::vector<int64_t>& shape, int elem_type) {
  set_value_info(model_.mutable_graph()->add_output(), name, shape, elem_type);
}

void GraphBuilder::add_initializer(onnx::TensorProto value) {
  *model_.mutable_graph()->add_initializer() = std::move(value);
}

void set_attr(onnx::NodeProto& node, const Attr& attr) {
  onnx::AttributeProto* a = nullptr;
  for (auto& existing : *node.mutable_attribute())
    if (existing.name() == attr.name) a = &existing;
  if (!a) a = node.add_attribute();
  a->Clear();
  a->set_name(attr.name);
  std::visit(
      [a](const auto& v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, int64_t>) {
          a->set_type(onnx::AttributeProto::INT);
          a->set_i(v);
        } else if constexpr (std::is_same_v<T, float>) {
          a->set_type(onnx::AttributeProto::FLOAT);
          a->set_f(v);
        } else if constexpr (std::is_same_v<T, std::string>) {
          a->set_type(onnx::AttributeProto::STRING);
          a->set_s(v);
        } else if constexpr (std::is_same_v<T, std::vector<int64_t>>) {
          a->set_type(onnx::AttributeProto::INTS);
          for (auto x : v) a->add_ints(x);
        } else {
          a->set_type(onnx::AttributeProto::FLOATS);
          for (auto x : v) a->add_floats(x);
        }
      },
      attr.value);
}

std::string GraphBuilder::add_node(const std::string& op_type, const std::vector<std::string>& inputs,
                                   const std::vector<std::string>& outputs, const std::vector<Attr>& attrs,
                                   const std::string& node_name) {
  auto* node = model_.mutable_graph()->add_node();
  node->set_op_type(op_type);
  node->set_name(node_name.empty() ? (outputs.empty() ? fresh(op_type) : outputs[0]) : node_name);
  for (const auto& i : inputs) node->add_input(i);
  for (const auto& o : outputs) node->add_output(o);
  for (const auto& a : attrs) set_attr(*node, a);
  return outputs.empty() ? std::string() : outputs[0];
}

std::string GraphBuilder::fresh(const std::string& prefix) { return fmt::format("{}_{}", prefix, counter_++); }

onnx::ModelProto GraphBuilder::build() const { return model_; }

std::string node_label(const onnx::NodeProto& node) {
  if (!node.name().empty()) return node.name();
  return node.output_size() ? node.output(0) : std::string();
}

const onnx::TensorProto* find_initializer(const onnx::GraphProto& g, const std::string& name) {
  for (const auto& t : g.initializer())
    if (t.name() == name) return &t;
  return nullptr;
}

onnx::TensorProto* find_initializer(onnx::GraphProto& g, const std::string& name) {
  for (auto& t : *g.mutable_initializer())
    if (t.name() == name) return &t;
  return nullptr;
}

void remove_initializer(onnx::GraphProto& g, const std::string& name) {
  auto drop = [&](auto* field) {
    for (int i = field->size() - 1; i >= 0; --i)
      if (field->Get(i).name() == name) field->DeleteSubrange(i, 1);
  };
  drop(g.mutable_initializer());
  drop(g.mutable_input());
}

onnx::ModelProto with_graph_outputs(const onnx::ModelProto& model, const std::vector<std::string>& values) {
  onnx::ModelProto probe = model;
  auto* g = probe.mutable_graph();
  for (const auto& v : values) {
    bool already = false;
    for (const auto& o : g->output()) already = already || o.name() == v;
    if (!already) g->add_output()->set_name(v);
  }
  return probe;
}

}  // namespace nnc::onnxio
