// nncompress info MODEL|X.nnc: operators, parameters per layer, bytes, metadata; for a
// container, what each part costs and how each tensor is stored (onnxio::describe_model,
// store::describe_container).
#include <fmt/ranges.h>

#include "cli/command.hpp"
#include "nncompress/core/files.hpp"
#include "nncompress/core/json_text.hpp"
#include "nncompress/onnx/describe.hpp"
#include "nncompress/onnx/model_io.hpp"
#include "nncompress/store/describe.hpp"

namespace nnc::cli {
namespace {

// A shape as text: [N,1,28,28], "?" for an unnamed unknown size.
std::string shape_text(const nlohmann::json& dims) {
  std::vector<std::string> out;
  for (const auto& d : dims) out.push_back(d.is_null() ? "?" : d.is_string() ? d.get<std::string>() : nnc::json_text(d));
  return fmt::format("[{}]", fmt::join(out, ","));
}

std::string dims_text(const nlohmann::json& shape) {
  return fmt::format("{}", fmt::join(shape.get<std::vector<int64_t>>(), "x"));
}

void print_ops(const nlohmann::json& ops) {
  for (const auto& [op, n] : ops.items()) fmt::print(" {}x{}", op, n.get<int>());
}

void print_container(const nlohmann::json& j) {
  const auto bytes = j["bytes"].get<std::size_t>(), again = j["reencoded_bytes"].get<std::size_t>();
  fmt::print("{}  (.nnc format {}, {} bytes{})\n", j["container"].get<std::string>(), j["format_version"].get<int>(), bytes,
             again == bytes ? "" : fmt::format("; {} bytes in the current format", again));
  const auto sizes = j["codebook_sizes"].get<std::vector<std::size_t>>();
  const auto scaled = j["scaled_codebooks"].get<std::size_t>();
  const std::string codebooks =
      sizes.empty() && scaled == 0
          ? "none"
          : fmt::format("{} of sizes {}{}", sizes.size(), fmt::join(sizes, ","),
                        scaled ? fmt::format(", and {} per-tensor scales of them", scaled) : "");
  const auto& p = j["parts"];
  const auto int8 = p["int8"].get<std::size_t>();
  fmt::print("  parts: graph {} B, codebooks {} B ({}), indices {} B, raw fp32 {} B, sparse {} B, {}headers {} B\n",
             p["graph"].get<std::size_t>(), p["codebooks"].get<std::size_t>(), codebooks, p["indices"].get<std::size_t>(),
             p["raw_fp32"].get<std::size_t>(), p["sparse"].get<std::size_t>(),
             int8 ? fmt::format("int8 values {} B, ", int8) : "", p["headers"].get<std::size_t>());
  fmt::print("  graph: {} nodes:", j["graph_nodes"].get<int>());
  print_ops(j["ops"]);
  fmt::print("\n  {:<40} {:>16} {:>10} {:>8} {}\n", "tensor", "shape", "elements", "kind", "coder / non-zeros");
  for (const auto& t : j["tensors"]) {
    std::string extra = t.contains("coder") ? t["coder"].get<std::string>() : "";
    if (t.contains("nonzeros"))
      extra += fmt::format("{}{} non-zeros ({})", extra.empty() ? "" : ", ", t["nonzeros"].get<std::size_t>(),
                           t["positions"].get<std::string>());
    if (t.contains("scale")) extra += fmt::format("{}scale {:.4g}", extra.empty() ? "" : ", ", t["scale"].get<float>());
    fmt::print("  {:<40} {:>16} {:>10} {:>8} {}\n", t["name"].get<std::string>(), dims_text(t["shape"]),
               t["elements"].get<int64_t>(), t["kind"].get<std::string>(), extra);
  }
  fmt::print("  total: {} stored elements\n", j["elements"].get<int64_t>());
}

void print_model(const std::string& path, const nlohmann::json& j) {
  fmt::print("{}  (opset {}, producer '{}')\n", path, j["opset"].get<int>(), j["producer"].get<std::string>());
  for (const auto& i : j["inputs"]) fmt::print("  input  {} {}\n", i["name"].get<std::string>(), shape_text(i["shape"]));
  for (const auto& o : j["outputs"]) fmt::print("  output {} {}\n", o["name"].get<std::string>(), shape_text(o["shape"]));
  fmt::print("  {} nodes:", j["nodes"].get<int>());
  print_ops(j["ops"]);
  fmt::print("\n  {:<40} {:>16} {:>10} {:>10}\n", "initializer", "shape", "elements", "bytes");
  for (const auto& l : j["initializers"])
    fmt::print("  {:<40} {:>16} {:>10} {:>10}\n", l["name"].get<std::string>(), dims_text(l["shape"]),
               l["elements"].get<int64_t>(), l["bytes"].get<int64_t>());
  fmt::print("  total: {} parameters, {} bytes ({} fp32 bytes)\n", j["params"].get<int64_t>(),
             j["initializer_bytes"].get<int64_t>(), j["fp32_bytes"].get<int64_t>());
  for (const auto& [k, v] : j["metadata"].items()) fmt::print("  metadata {} = {}\n", k, v.get<std::string>());
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
    nlohmann::json j;
    bool container = false;
    {
      const auto bytes = read_file_bytes(opts->model);
      container = bytes.size() >= 4 && std::equal(bytes.begin(), bytes.begin() + 4, "NNC");
      if (container) j = store::describe_container(bytes, opts->model);
    }
    if (!container) {
      j = onnxio::describe_model(onnxio::load_model(opts->model, {}, control));
      j["model"] = opts->model;
    }
    if (opts->global.json) return print_json(j);
    if (container) return print_container(j);
    print_model(opts->model, j);
  });
}

}  // namespace nnc::cli
