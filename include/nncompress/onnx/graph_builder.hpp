#pragma once
// Builds ONNX models programmatically (reference architectures, compressed-model writers,
// graph surgery, tests). Produces checker-clean models at the chosen opset.
#include <onnx/onnx_pb.h>

#include <cstdint>
#include <initializer_list>
#include <string>
#include <variant>
#include <vector>

namespace nnc::onnxio {

using AttrValue = std::variant<int64_t, float, std::string, std::vector<int64_t>, std::vector<float>>;
struct Attr {
  std::string name;
  AttrValue value;
};

class GraphBuilder {
 public:
  explicit GraphBuilder(std::string graph_name = "nncompress", int opset = 13);

  // A float input with the given shape (-1 = symbolic "N").
  void add_input(const std::string& name, const std::vector<int64_t>& shape, int elem_type = 1);
  void add_output(const std::string& name, const std::vector<int64_t>& shape, int elem_type = 1);
  void add_initializer(onnx::TensorProto value);  // (exec::from_tensor makes one from a LibTorch tensor)
  // Adds a node; returns its first output name. Node name defaults to the first output.
  std::string add_node(const std::string& op_type, const std::vector<std::string>& inputs,
                       const std::vector<std::string>& outputs, const std::vector<Attr>& attrs = {},
                       const std::string& node_name = {});
  // A fresh unique value name with the given prefix.
  std::string fresh(const std::string& prefix);

  onnx::ModelProto build() const;  // copies; producer "nncompress"
  onnx::GraphProto& graph() { return *model_.mutable_graph(); }

 private:
  onnx::ModelProto model_;
  int counter_ = 0;
};

// Utilities for graph surgery on existing models.
// How nncompress names a node in messages and tables: its name, or its first output when it has
// none (exporters often leave names empty), or "" for a nameless node without outputs.
std::string node_label(const onnx::NodeProto& node);
const onnx::TensorProto* find_initializer(const onnx::GraphProto& g, const std::string& name);
onnx::TensorProto* find_initializer(onnx::GraphProto& g, const std::string& name);
// Removes the initializer `name` and a graph input of the same name (IR < 4 exports list every
// initializer as an input too; left behind, it would become an input nobody feeds).
void remove_initializer(onnx::GraphProto& g, const std::string& name);
void set_attr(onnx::NodeProto& node, const Attr& attr);
// The model with every value in `values` that is not already a graph output appended as one
// (probing intermediate values with one engine run; look them up by name in Engine::outputs()).
onnx::ModelProto with_graph_outputs(const onnx::ModelProto& model, const std::vector<std::string>& values);

}  // namespace nnc::onnxio
