// nncompress quantize MODEL --data ... -o OUT.onnx [--nnc OUT.nnc] [--weights-only]: 8-bit integer
// quantisation in the QDQ format (compress::QuantizeStep): int8 weights per output channel,
// uint8 activations calibrated on the calibration images, int32 biases. ONNX Runtime runs the
// file on its int8 kernels; the .nnc stores the int8 weights as coded integers. A pruned or
// shared input keeps its zeros (int8 0) and has its shared values snapped to the int8 grid.
#include <fmt/format.h>

#include "cli/compression_command.hpp"
#include "nncompress/compress/quantize/quantize_step.hpp"

namespace nnc::cli {

void register_quantize_command(CLI::App& app) {
  struct Opts {
    ModelIo io;
    compress::QdqOptions qdq;
    GlobalOptions global;
    DataOptions data;
  };
  auto opts = std::make_shared<Opts>();
  auto* cmd = app.add_subcommand(
      "quantize", "8-bit integer quantisation in the QDQ format runtimes execute natively (int8 weights per channel, "
                  "uint8 activations calibrated on the calibration images, int32 biases)");
  add_model_io_options(cmd, opts->io.model, opts->io.output, opts->io.nnc,
                       "QDQ ONNX model (ONNX Runtime runs it on its int8 kernels)");
  cmd->add_flag("--weights-only", opts->qdq.weights_only, "Quantise the weights only; activations stay float");
  cmd->add_option("--calibration", opts->qdq.calibration,
                  "Activation ranges from the calibration images: minmax (all values) or percentile")
      ->capture_default_str();
  cmd->add_option("--percentile", opts->qdq.percentile, "Share of the values the percentile range keeps")
      ->capture_default_str();
  cmd->add_option("--keep-fp32", opts->qdq.keep_fp32, "Regex of layers (node or weight names) left in float");
  cmd->add_flag("--reduce-range", opts->qdq.reduce_range,
                "Weights in [-63, 63] (7 bits) instead of [-127, 127]: exact in ONNX Runtime on x86 CPUs without VNNI, "
                "whose int8 kernels can saturate on full-range weights");
  cmd->add_flag("--no-bias-correction{false}", opts->qdq.bias_correction,
                "Keep the biases as they are (default: each Conv/Gemm bias corrected for the mean change of its outputs "
                "the int8 grid makes, measured on the calibration images)");
  add_data_options(cmd, opts->data);
  add_global_options(cmd, opts->global);
  cmd->callback([opts] {
    auto& o = *opts;
    const auto control = apply_global_options(o.global);
    const compress::Step step{compress::QuantizeStep(o.qdq)};
    const auto j = run_step(step, o.io, o.data, control);
    if (!j.value("changed", true)) return o.global.json ? print_json(j) : void();
    if (o.global.json) return print_json(j);
    const auto fp32 = j["fp32_bytes"].get<std::size_t>();
    const auto bytes = j["onnx_bytes"].get<std::size_t>();
    const double tb = j["top1_before"].get<double>(), ta = j["top1_after"].get<double>();
    fmt::print("{} -> {}: int8 weights{} ({} layers{}), test top-1 {:.2f}% -> {:.2f}% ({:+.2f} +- {:.2f} pt); ONNX file "
               "{} bytes ({:.2f}x against {} fp32 parameter bytes){}\n",
               o.io.model, o.io.output, o.qdq.weights_only ? "" : " and uint8 activations", j["layers"].size(),
               o.qdq.weights_only ? "" : fmt::format(", {} activations calibrated ({})", j["activations"].size(), o.qdq.calibration),
               100 * tb, 100 * ta, -j["top1_drop_pt"].get<double>(), j["top1_drop_se_pt"].get<double>(),
               bytes, j["onnx_ratio"].get<double>(), fp32,
               !o.io.nnc.empty() ? fmt::format("; .nnc {} bytes ({:.2f}x)", j["nnc_bytes"].get<std::size_t>(),
                                                     j["ratio"].get<double>())
                                       : "");
  });
}

}  // namespace nnc::cli
