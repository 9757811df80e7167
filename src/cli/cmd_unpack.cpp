// nncompress unpack X.nnc -o Y.onnx: restores a plain ONNX model from a container.
#include <fmt/format.h>

#include "cli/command.hpp"
#include "nncompress/onnx/model_io.hpp"
#include "nncompress/store/model_store.hpp"

namespace nnc::cli {

void register_unpack_command(CLI::App& app) {
  struct Opts {
    std::string input, output;
    GlobalOptions global;
  };
  auto opts = std::make_shared<Opts>();
  auto* cmd = app.add_subcommand("unpack", "Restore a plain ONNX model from an .nnc container");
  cmd->add_option("container", opts->input, ".nnc file")->required();
  cmd->add_option("-o,--output", opts->output, "Output ONNX model")->required();
  add_global_options(cmd, opts->global);
  cmd->callback([opts] {
    apply_global_options(opts->global);
    auto model = store::read_nnc(opts->input);
    onnxio::save_model(model, opts->output, opts->input);
    if (opts->global.json) print_json({{"output", opts->output}, {"initializers", model.graph().initializer_size()}});
    else fmt::print("{}: {} initializers restored\n", opts->output, model.graph().initializer_size());
  });
}

}  // namespace nnc::cli
