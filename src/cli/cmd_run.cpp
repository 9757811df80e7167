// nncompress run MODEL --input A.pb|A.npy [--input ...] --output-dir DIR: runs a model on given
// tensors and writes every graph output as output_<i>.pb (graph order).
#include <filesystem>

#include <fmt/format.h>

#include "cli/command.hpp"
#include "nncompress/core/error.hpp"
#include "nncompress/core/files.hpp"
#include "nncompress/data/npy.hpp"
#include "nncompress/exec/engine.hpp"
#include "nncompress/onnx/model_io.hpp"
#include "nncompress/store/model_store.hpp"
#include "nncompress/exec/tensor_proto.hpp"
#include "nncompress/onnx/tensor_proto.hpp"

namespace nnc::cli {
namespace fs = std::filesystem;
namespace {

at::Tensor read_input(const fs::path& path) {
  if (path.extension() == ".npy") return data::read_npy(path);
  auto bytes = read_file_bytes(path);
  onnx::TensorProto proto;
  NNC_CHECK_CODE(proto.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())), kCorrupt,
                 "{}: not a TensorProto (.pb) file", path.string());
  if (proto.name().empty()) proto.set_name(path.filename().string());
  return exec::to_tensor(proto);
}

}  // namespace

void register_run_command(CLI::App& app) {
  struct Opts {
    std::string model, output_dir;
    std::vector<std::string> inputs;
    GlobalOptions global;
  };
  auto opts = std::make_shared<Opts>();
  auto* cmd = app.add_subcommand("run", "Run a model on given tensors; write its outputs as output_<i>.pb");
  cmd->add_option("model", opts->model, "ONNX model or .nnc container")->required();
  cmd->add_option("--input", opts->inputs, "Input tensor (.pb TensorProto or .npy), one per graph input, in order");
  cmd->add_option("--output-dir", opts->output_dir, "Directory for output_<i>.pb")->required();
  add_global_options(cmd, opts->global);
  cmd->callback([opts] {
    const auto control = apply_global_options(opts->global);
    auto model = store::load_any_model(opts->model, control);
    exec::Engine engine(model);
    NNC_CHECK(opts->inputs.size() == engine.inputs().size(), "model '{}' has {} inputs but {} --input were given",
              opts->model, engine.inputs().size(), opts->inputs.size());
    std::vector<at::Tensor> inputs;
    for (const auto& p : opts->inputs) inputs.push_back(read_input(p));
    auto outputs = engine.run(inputs);
    fs::create_directories(opts->output_dir);
    for (std::size_t i = 0; i < outputs.size(); ++i) {
      auto proto = exec::from_tensor(outputs[i].contiguous(), engine.outputs()[i].name);
      std::string bytes;
      proto.SerializeToString(&bytes);
      write_file_atomic(fs::path(opts->output_dir) / fmt::format("output_{}.pb", i), std::string_view(bytes));
    }
    if (opts->global.json) print_json({{"outputs", outputs.size()}});
  });
}

}  // namespace nnc::cli
