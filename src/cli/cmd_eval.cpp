// nncompress eval MODEL --data ...: top-1/top-5/loss on the full test split.
#include <fmt/format.h>

#include "cli/command.hpp"
#include "nncompress/data/evaluate.hpp"
#include "nncompress/exec/engine.hpp"
#include "nncompress/onnx/model_io.hpp"
#include "nncompress/store/model_store.hpp"

#include <chrono>

namespace nnc::cli {

void register_eval_command(CLI::App& app) {
  struct Opts {
    std::string model;
    GlobalOptions global;
    DataOptions data;
  };
  auto opts = std::make_shared<Opts>();
  auto* cmd = app.add_subcommand("eval", "Measure a model on the full test split (top-1, top-5, loss)");
  cmd->add_option("model", opts->model, "ONNX model or .nnc container")->required();
  add_data_options(cmd, opts->data, /*splits=*/false);
  add_global_options(cmd, opts->global);
  cmd->callback([opts] {
    auto start = std::chrono::steady_clock::now();
    const auto control = apply_global_options(opts->global);
    auto model = store::load_any_model(opts->model, control);
    data::NormalisationChoice norm;
    auto test = data::load_test_split(opts->data, model, control, &norm);
    exec::Engine engine(model);
    data::Evaluator eval(std::move(test), opts->data.batch);
    auto m = eval.evaluate(engine);
    double total = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (opts->global.json) {
      print_json({{"model", opts->model}, {"top1", m.top1}, {"top5", m.top5}, {"loss", m.loss},
                  {"macro_f1", m.macro_f1}, {"n", m.n}, {"seconds", m.seconds}, {"total_seconds", total},
                  {"normalisation", data::normalisation_json(norm)}});
    } else {
      fmt::print("{}: test top-1 {:.2f}%  top-5 {:.2f}%  loss {:.4f}  ({} images, {:.2f}s inference, {:.2f}s total)\n",
                 opts->model, 100 * m.top1, 100 * m.top5, m.loss, m.n, m.seconds, total);
    }
  });
}

}  // namespace nnc::cli
