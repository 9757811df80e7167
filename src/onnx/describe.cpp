#include "nncompress/onnx/describe.hpp"

#include <map>
#include <set>

#include "nncompress/onnx/model_io.hpp"

namespace nnc::onnxio {
namespace {

// A graph input's or output's shape: sizes as numbers, symbolic dimensions by their name ("N"),
// unnamed unknown ones as null.
nlohmann::json shape_of(const onnx::ValueInfoProto& v) {
  nlohmann::json dims = nlohmann::json::array();
  for (const auto& d : v.type().tensor_type().shape().dim()) {
    if (d.has_dim_value())
      dims.push_back(d.dim_value());
    else if (!d.dim_param().empty())
      dims.push_back(d.dim_param());
    else
      dims.push_back(nullptr);
  }
  return dims;
}

int64_t element_bytes(int type) {
  switch (type) {
    case onnx::TensorProto::DOUBLE:
    case onnx::TensorProto::INT64:
    case onnx::TensorProto::UINT64: return 8;
    case onnx::TensorProto::FLOAT:
    case onnx::TensorProto::INT32:
    case onnx::TensorProto::UINT32: return 4;
    case onnx::TensorProto::FLOAT16:
    case onnx::TensorProto::INT16:
    case onnx::TensorProto::UINT16: return 2;
    default: return 1;
  }
}

}  // namespace

nlohmann::json describe_model(const onnx::ModelProto& model) {
  const auto& g = model.graph();
  std::map<std::string, int> ops;
  for (const auto& n : g.node()) ++ops[n.op_type()];
  nlohmann::json layers = nlohmann::json::array();
  int64_t params = 0, bytes = 0, fp32_bytes = 0;
  for (const auto& t : g.initializer()) {
    int64_t n = 1;
    std::vector<int64_t> dims(t.dims().begin(), t.dims().end());
    for (auto d : dims) n *= d;
    params += n;
    bytes += n * element_bytes(t.data_type());
    if (t.data_type() == onnx::TensorProto::FLOAT) fp32_bytes += n * 4;
    layers.push_back({{"name", t.name()}, {"shape", dims}, {"elements", n}, {"bytes", n * element_bytes(t.data_type())}});
  }
  nlohmann::json meta = nlohmann::json::object();
  for (const auto& kv : model.metadata_props()) meta[kv.key()] = kv.value();
  nlohmann::json inputs = nlohmann::json::array(), outputs = nlohmann::json::array();
  std::set<std::string> init_names;
  for (const auto& t : g.initializer()) init_names.insert(t.name());
  for (const auto& i : g.input())
    if (!init_names.count(i.name())) inputs.push_back({{"name", i.name()}, {"shape", shape_of(i)}});
  for (const auto& o : g.output()) outputs.push_back({{"name", o.name()}, {"shape", shape_of(o)}});
  return {{"opset", opset_version(model)}, {"producer", model.producer_name()}, {"inputs", inputs},
          {"outputs", outputs}, {"ops", ops}, {"nodes", g.node_size()}, {"initializers", layers},
          {"params", params}, {"initializer_bytes", bytes}, {"fp32_bytes", fp32_bytes}, {"metadata", meta}};
}

}  // namespace nnc::onnxio
