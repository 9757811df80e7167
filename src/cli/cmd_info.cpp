// nncompress info MODEL|X.nnc: operators, parameters per layer, bytes, metadata; for a
// container, what each part costs and how each tensor is stored.
#include <fmt/ranges.h>

#include <map>
#include <set>

#include "cli/command.hpp"
#include "nncompress/core/error.hpp"
#include "nncompress/core/files.hpp"
#include "nncompress/onnx/model_io.hpp"
#include "nncompress/store/container.hpp"

namespace nnc::cli {
namespace {

// A graph input's or output's shape as JSON, like an initializer's: sizes as numbers, symbolic
// dimensions by their name ("N"), unnamed unknown ones as null.
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

// The same as text: [N,1,28,28], "?" for an unnamed unknown size.
std::string shape_text(const nlohmann::json& dims) {
  std::vector<std::string> out;
  for (const auto& d : dims) out.push_back(d.is_null() ? "?" : d.is_string() ? d.get<std::string>() : d.dump());
  return fmt::format("[{}]", fmt::join(out, ","));
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

// An .nnc container: what each part costs (the container is re-encoded to account for it: the
// encoder is deterministic, so for a current-format file this is the file itself).
void container_info(const std::string& path, const std::vector<uint8_t>& bytes, bool json) {
  auto c = store::decode_container(bytes, path);
  store::ContainerStats st;
  auto again = store::encode_container(c, &st);
  const int version = bytes[4] | (bytes[5] << 8);
  onnx::ModelProto graph;
  NNC_CHECK_CODE(graph.ParseFromString(c.graph), kCorrupt, "{}: graph section is not an ONNX model", path);
  std::map<std::string, int> ops;
  for (const auto& n : graph.graph().node()) ++ops[n.op_type()];
  std::map<std::string, std::string> coder_of;
  for (const auto& [name, coder] : st.coders) coder_of[name] = store::coder_name(coder);
  std::map<std::string, std::string> positions_of(st.positions.begin(), st.positions.end());
  nlohmann::json tensors = nlohmann::json::array();
  int64_t elements = 0;
  for (const auto& t : c.tensors) {
    const char* kinds[] = {"raw", "indexed", "sparse"};
    nlohmann::json j{{"name", t.name}, {"shape", t.shape}, {"elements", t.numel()},
                     {"kind", kinds[static_cast<int>(t.kind)]}};
    if (t.codebook >= 0) j["codebook"] = t.codebook;
    if (t.codebook >= 0 && !c.scales.empty() && c.scales[static_cast<std::size_t>(t.codebook)].base >= 0) {
      j["codebook"] = c.scales[static_cast<std::size_t>(t.codebook)].base;
      j["scale"] = c.scales[static_cast<std::size_t>(t.codebook)].scale;
    }
    if (coder_of.count(t.name)) j["coder"] = coder_of.at(t.name);
    if (t.kind == store::StoredTensor::Kind::kSparse) {
      j["nonzeros"] = t.positions.size();
      j["positions"] = positions_of[t.name];
    }
    elements += t.numel();
    tensors.push_back(j);
  }
  nlohmann::json parts{{"graph", st.graph_bytes}, {"codebooks", st.codebook_bytes}, {"indices", st.index_bytes},
                       {"raw_fp32", st.raw_bytes}, {"sparse", st.sparse_bytes}, {"headers", st.header_bytes}};
  std::vector<std::size_t> cb_sizes;  // codebooks of their own values
  std::size_t scaled = 0;            // codebooks stored as another one times a per-tensor scale
  for (std::size_t i = 0; i < c.codebooks.size(); ++i) {
    if (!c.scales.empty() && c.scales[i].base >= 0) ++scaled;
    else cb_sizes.push_back(c.codebooks[i].size());
  }
  if (json) {
    print_json({{"container", path}, {"format_version", version}, {"bytes", bytes.size()},
                {"reencoded_bytes", again.size()}, {"parts", parts}, {"codebook_sizes", cb_sizes}, {"scaled_codebooks", scaled},
                {"tensors", tensors}, {"elements", elements}, {"ops", ops}, {"graph_nodes", graph.graph().node_size()}});
    return;
  }
  fmt::print("{}  (.nnc format {}, {} bytes{})\n", path, version, bytes.size(),
             again.size() == bytes.size() ? "" : fmt::format("; {} bytes in the current format", again.size()));
  const std::string codebooks =
      c.codebooks.empty() ? "none"
                          : fmt::format("{} of sizes {}{}", cb_sizes.size(), fmt::join(cb_sizes, ","),
                                        scaled ? fmt::format(", and {} per-tensor scales of them", scaled) : "");
  fmt::print("  parts: graph {} B, codebooks {} B ({}), indices {} B, raw fp32 {} B, sparse {} B, headers {} B\n",
             st.graph_bytes, st.codebook_bytes, codebooks, st.index_bytes,
             st.raw_bytes, st.sparse_bytes, st.header_bytes);
  fmt::print("  graph: {} nodes:", graph.graph().node_size());
  for (const auto& [op, n] : ops) fmt::print(" {}x{}", op, n);
  fmt::print("\n  {:<40} {:>16} {:>10} {:>8} {}\n", "tensor", "shape", "elements", "kind", "coder / non-zeros");
  for (const auto& j : tensors) {
    std::string extra = j.contains("coder") ? j["coder"].get<std::string>() : "";
    if (j.contains("nonzeros"))
      extra += fmt::format("{}{} non-zeros ({})", extra.empty() ? "" : ", ", j["nonzeros"].get<std::size_t>(),
                           j["positions"].get<std::string>());
    if (j.contains("scale")) extra += fmt::format("{}scale {:.4g}", extra.empty() ? "" : ", ", j["scale"].get<float>());
    fmt::print("  {:<40} {:>16} {:>10} {:>8} {}\n", j["name"].get<std::string>(),
               fmt::format("{}", fmt::join(j["shape"].get<std::vector<int64_t>>(), "x")), j["elements"].get<int64_t>(),
               j["kind"].get<std::string>(), extra);
  }
  fmt::print("  total: {} stored elements\n", elements);
}

}  // namespace

void register_info_command(CLI::App& app) {
  struct Opts {
    std::string model;
    GlobalOptions global;
  };
  auto opts = std::make_shared<Opts>();
  auto* cmd = app.add_subcommand("info", "Show a model's operators, parameters per layer and size");
  cmd->add_option("model", opts->model, "ONNX model or .nnc container")->required();
  add_global_options(cmd, opts->global);
  cmd->callback([opts] {
    const auto control = apply_global_options(opts->global);
    {
      auto bytes = read_file_bytes(opts->model);
      if (bytes.size() >= 4 && std::equal(bytes.begin(), bytes.begin() + 4, "NNC")) {
        container_info(opts->model, bytes, opts->global.json);
        return;
      }
    }
    auto model = onnxio::load_model(opts->model, {}, control);
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
    for (const auto& i : inputs) fmt::print("  input  {} {}\n", i["name"].get<std::string>(), shape_text(i["shape"]));
    for (const auto& o : outputs) fmt::print("  output {} {}\n", o["name"].get<std::string>(), shape_text(o["shape"]));
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
