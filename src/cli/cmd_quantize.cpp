// nncompress quantize MODEL --data ... -o OUT.onnx [--weights-only]: 8-bit integer quantisation
// in the QDQ format (compress::quantize_qdq): int8 weights per output channel, uint8 activations
// calibrated on the calibration images, int32 biases. ONNX Runtime runs the file on its int8
// kernels; the figures are measured by running the written model.
#include <fmt/format.h>

#include "cli/command.hpp"
#include "nncompress/compress/quantize/qdq.hpp"

namespace nnc::cli {

void register_quantize_command(CLI::App& app) {
  struct Opts {
    std::string model, output;
    compress::QdqOptions qdq;
    GlobalOptions global;
    DataOptions data;
  };
  auto opts = std::make_shared<Opts>();
  auto* cmd = app.add_subcommand(
      "quantize", "8-bit integer quantisation in the QDQ format runtimes execute natively (int8 weights per channel, "
                  "uint8 activations calibrated on the calibration images, int32 biases)");
  cmd->add_option("model", opts->model, "ONNX model or .nnc container")->required();
  cmd->add_option("-o,--output", opts->output, "QDQ ONNX model (ONNX Runtime runs it on its int8 kernels)")->required();
  cmd->add_flag("--weights-only", opts->qdq.weights_only, "Quantise the weights only; activations stay float");
  cmd->add_option("--calibration", opts->qdq.calibration,
                  "Activation ranges from the calibration images: minmax (all values) or percentile")
      ->capture_default_str();
  cmd->add_option("--percentile", opts->qdq.percentile, "Share of the values the percentile range keeps")
      ->capture_default_str();
  cmd->add_option("--keep-fp32", opts->qdq.keep_fp32, "Regex of layers (node or weight names) left in float");
  add_data_options(cmd, opts->data);
  add_global_options(cmd, opts->global);
  cmd->callback([opts] {
    auto& o = *opts;
    const auto control = apply_global_options(o.global);
    const auto j = compress::quantize_job(o.model, o.output, o.qdq, o.data, control);
    const auto fp32 = j["fp32_bytes"].get<std::size_t>();
    const auto bytes = j["onnx_bytes"].get<std::size_t>();
    const double tb = j["top1_before"].get<double>(), ta = j["top1_after"].get<double>();
    if (o.global.json) return print_json(j);
    fmt::print("{} -> {}: int8 weights{} ({} layers{}), test top-1 {:.2f}% -> {:.2f}% ({:+.2f} +- {:.2f} pt); ONNX file "
               "{} bytes ({:.2f}x against {} fp32 parameter bytes)\n",
               o.model, o.output, o.qdq.weights_only ? "" : " and uint8 activations", j["layers"].size(),
               o.qdq.weights_only ? "" : fmt::format(", {} activations calibrated ({})", j["activations"].size(), o.qdq.calibration),
               100 * tb, 100 * ta, -j["top1_drop_pt"].get<double>(), j["top1_drop_se_pt"].get<double>(),
               bytes, j["onnx_ratio"].get<double>(), fp32);
  });
}

}  // namespace nnc::cli
