// nncompress quantize MODEL --data ... -o OUT.onnx [--weights-only]: 8-bit integer quantisation
// in the QDQ format (compress::quantize_qdq): int8 weights per output channel, uint8 activations
// calibrated on the calibration images, int32 biases. ONNX Runtime runs the file on its int8
// kernels; the figures are measured by running the written model.
#include <fmt/format.h>

#include <filesystem>

#include "cli/command.hpp"
#include "nncompress/compress/job.hpp"
#include "nncompress/compress/quantize/qdq.hpp"
#include "nncompress/data/evaluate.hpp"
#include "nncompress/data/model_data.hpp"
#include "nncompress/exec/engine.hpp"
#include "nncompress/onnx/model_io.hpp"
#include "nncompress/onnx/tensor_proto.hpp"
#include "nncompress/store/model_store.hpp"

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
    o.qdq.validate();
    o.data.validate();
    compress::check_output_path(o.output, o.model);
    auto model = store::load_any_model(o.model, control);
    data::NormalisationChoice norm;
    auto splits = data::load_splits(o.data, model, control, &norm);
    std::vector<at::Tensor> calib;
    for (int64_t i = 0; i < splits.calib.size(); i += o.data.batch)
      calib.push_back(splits.calib.images.slice(0, i, std::min(i + o.data.batch, splits.calib.size())));
    const auto q = compress::quantize_qdq(model, o.qdq, calib);
    onnxio::save_model(q.model, o.output, o.model);  // checked, atomic, never over the input
    // Measured on the file as written (the engine runs QDQ graphs).
    const auto bytes = std::filesystem::file_size(o.output);
    data::Evaluator test(splits.test, o.data.batch), val(splits.val, o.data.batch);
    exec::Engine before(model), after(onnxio::load_model(o.output, {}, control));
    const auto tb = test.evaluate(before), ta = test.evaluate(after);
    const auto vb = val.evaluate(before), va = val.evaluate(after);
    std::size_t fp32 = 0;
    for (const auto& t : model.graph().initializer())
      if (t.data_type() == onnx::TensorProto::FLOAT) fp32 += 4 * static_cast<std::size_t>(onnxio::element_count(t));
    nlohmann::json j = q.report;
    j.update({{"model", o.model},
              {"output", o.output},
              {"top1_before", tb.top1},
              {"top1_after", ta.top1},
              {"top1_drop_pt", 100 * (tb.top1 - ta.top1)},
              {"top1_drop_se_pt", 100 * data::paired_top1_se(tb.correct, ta.correct)},
              {"val_top1_before", vb.top1},
              {"val_top1_after", va.top1},
              {"fp32_bytes", fp32},
              {"onnx_bytes", bytes},
              {"onnx_ratio", static_cast<double>(fp32) / static_cast<double>(bytes)},
              {"normalisation", {{"mean", norm.normalisation.mean}, {"std", norm.normalisation.std}, {"source", norm.source}}}});
    if (o.global.json) return print_json(j);
    fmt::print("{} -> {}: int8 weights{} ({} layers{}), test top-1 {:.2f}% -> {:.2f}% ({:+.2f} +- {:.2f} pt); ONNX file "
               "{} bytes ({:.2f}x against {} fp32 parameter bytes)\n",
               o.model, o.output, o.qdq.weights_only ? "" : " and uint8 activations", j["layers"].size(),
               o.qdq.weights_only ? "" : fmt::format(", {} activations calibrated ({})", j["activations"].size(), o.qdq.calibration),
               100 * tb.top1, 100 * ta.top1, -j["top1_drop_pt"].get<double>(), j["top1_drop_se_pt"].get<double>(),
               bytes, j["onnx_ratio"].get<double>(), fp32);
  });
}

}  // namespace nnc::cli
