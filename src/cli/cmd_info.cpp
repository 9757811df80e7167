// nncompress info MODEL: operators, parameters per layer, bytes, metadata.
#include <fmt/ranges.h>

#include <map>
#include <set>

#include "cli/command.hpp"
#include "nncompress/onnx/model_io.hpp"

namespace nnc::cli {
namespace {

std::string shape_of(const onnx::ValueInfoProto& v) {
  std::vector<std::string> dims;
  for (const auto& d : v.type().tensor_type().shape().dim())
    dims.push_back(d.has_dim_value() ? std::to_string(d.dim_value()) : (d.dim_param().empty() ? "?" : d.dim_param()));
  return "[" + fmt::format("{}", fmt::join(dims, ",")) + "]";
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

void register_info_command(CLI::App& app) {
  struct Opts {
    std::string model;
    GlobalOptions global;
  };
  auto opts = std::make_shared<Opts>();
  auto* cmd = app.add_subcommand("info", "Show a model's operators, parameters per layer and size");
  cmd->add_option("model", opts->model, "ONNX model")->required();
  add_global_options(cmd, opts->global);
  cmd->callback([opts] {
    apply_global_options(opts->global);
    auto model = onnxio::load_model(opts->model);
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
    if (opts->global.json) {
      print_json({{"model", opts->model}, {"opset", onnxio::opset_version(model)}, {"producer", model.producer_name()},
                  {"inputs", inputs}, {"outputs", outputs}, {"ops", ops}, {"nodes", g.node_size()},
                  {"initializers", layers}, {"params", params}, {"initializer_bytes", bytes},
                  {"fp32_bytes", fp32_bytes}, {"metadata", meta}});
      return;
    }
    fmt::print("{}  (opset {}, producer '{}')\n", opts->model, onnxio::opset_version(model), model.producer_name());
    for (const auto& i : inputs) fmt::print("  input  {} {}\n", i["name"].get<std::string>(), i["shape"].get<std::string>());
    for (const auto& o : outputs) fmt::print("  output {} {}\n", o["name"].get<std::string>(), o["shape"].get<std::string>());
    fmt::print("  {} nodes:", g.node_size());
    for (const auto& [op, n] : ops) fmt::print(" {}x{}", op, n);
    fmt::print("\n  {:<40} {:>16} {:>10} {:>10}\n", "initializer", "shape", "elements", "bytes");
    for (const auto& l : layers)
      fmt::print("  {:<40} {:>16} {:>10} {:>10}\n", l["name"].get<std::string>(),
                 fmt::format("{}", fmt::join(l["shape"].get<std::vector<int64_t>>(), "x")), l["elements"].get<int64_t>(),
                 l["bytes"].get<int64_t>());
    fmt::print("  total: {} parameters, {} bytes ({} fp32 bytes)\n", params, bytes, fp32_bytes);
    for (const auto& [k, v] : meta.items()) fmt::print("  metadata {} = {}\n", k, v.get<std::string>());
  });
}

}  // namespace nnc::cli
