// nncompress train --arch NAME --data ... -o OUT.onnx: builds a reference architecture as an
// ONNX graph, trains it on the engine's autograd, saves it with its normalisation metadata.
#include <fmt/format.h>

#include "cli/command.hpp"
#include "nncompress/core/error.hpp"
#include "nncompress/data/evaluate.hpp"
#include "nncompress/exec/engine.hpp"
#include "nncompress/onnx/metadata.hpp"
#include "nncompress/onnx/model_io.hpp"
#include "nncompress/train/architectures.hpp"
#include "nncompress/train/trainer.hpp"

namespace nnc::cli {

void register_train_command(CLI::App& app) {
  struct Opts {
    std::string arch, output;
    train::TrainOptions train;
    GlobalOptions global;
    DataOptions data;
    std::string augment = "auto";
  };
  auto opts = std::make_shared<Opts>();
  auto* cmd = app.add_subcommand("train", "Train a reference architecture (lenet300, lenet5, resnet20, mobilenetv2)");
  cmd->add_option("--arch", opts->arch, "Architecture")->required();
  cmd->add_option("-o,--output", opts->output, "Output ONNX model")->required();
  cmd->add_option("--epochs", opts->train.epochs, "Epochs")->capture_default_str();
  cmd->add_option("--lr", opts->train.lr, "Peak learning rate")->capture_default_str();
  cmd->add_option("--optimizer", opts->train.optimizer, "sgd | adam | adamw")->capture_default_str();
  cmd->add_option("--weight-decay", opts->train.weight_decay, "Weight decay")->capture_default_str();
  cmd->add_option("--schedule", opts->train.schedule, "onecycle | cosine | constant")->capture_default_str();
  cmd->add_option("--augment", opts->augment,
                  "Random crops/flips: auto (for the convolutional architectures, not lenet300), on, off")
      ->capture_default_str();
  add_data_options(cmd, opts->data);
  opts->data.batch = 128;
  add_global_options(cmd, opts->global);
  cmd->callback([opts] {
    const auto control = apply_global_options(opts->global);
    auto& o = *opts;
    NNC_CHECK_OPTION(o.augment == "auto" || o.augment == "on" || o.augment == "off", "augment",
                     "'{}': expected auto, on or off", o.augment);
    auto source = data::load_data(o.data.data);
    // Normalisation statistics measured on the training images (hold-out excluded).
    const int64_t train_n = source.train_x.size(0) - o.data.holdout_for(source.train_x.size(0));
    auto tx = data::pixels(source.train_x.narrow(0, 0, train_n));
    data::Normalisation norm;
    norm.mean.clear();
    norm.std.clear();
    for (int64_t c = 0; c < tx.size(1); ++c) {
      auto ch = tx.select(1, c);
      norm.mean.push_back(ch.mean().item<float>());
      norm.std.push_back(ch.std().item<float>());
    }
    if (!o.data.mean.empty()) norm = {o.data.mean, o.data.std};
    auto model = train::build_architecture(o.arch, o.data.seed, source.num_classes, static_cast<int>(tx.size(1)),
                                           static_cast<int>(tx.size(2)), static_cast<int>(tx.size(3)));
    onnxio::set_normalisation(model, {norm.mean, norm.std});
    onnxio::set_num_classes(model, source.num_classes);
    onnxio::set_metadata(model, "nncompress.arch", o.arch);
    auto splits = data::load_splits(o.data, model, control);
    exec::Engine engine(model);
    o.train.batch = o.data.batch;
    o.train.seed = o.data.seed;
    o.train.augment = o.augment == "auto" ? o.arch != "lenet300" : o.augment == "on";
    o.train.pad_value = -norm.mean[0] / norm.std[0];
    auto result = train::train(engine, splits, o.train, control);
    auto trained = engine.to_model();
    onnxio::set_metadata(trained, "nncompress.train",
                         fmt::format("epochs={} lr={} optimizer={} batch={} seed={} best_epoch={} augment={}",
                                     result.epochs_run, o.train.lr, o.train.optimizer, o.train.batch, o.train.seed,
                                     result.best_epoch, o.train.augment ? 1 : 0));
    onnxio::save_model(trained, o.output);
    data::Evaluator test(splits.test, 512);
    auto m = test.evaluate(engine);
    if (o.global.json) {
      print_json({{"arch", o.arch}, {"output", o.output}, {"epochs", result.epochs_run},
                  {"best_epoch", result.best_epoch}, {"val_top1", result.best_val_top1}, {"top1", m.top1},
                  {"top5", m.top5}, {"loss", m.loss}, {"params", train::trainable_parameters(trained)},
                  {"seconds", result.seconds}, {"interrupted", result.interrupted}});
    } else {
      fmt::print("{}: {} trained {} epochs in {:.0f}s (best val top-1 {:.2f}% at epoch {}); test top-1 {:.2f}%{}\n",
                 o.output, o.arch, result.epochs_run, result.seconds, 100 * result.best_val_top1, result.best_epoch,
                 100 * m.top1, result.interrupted ? " (interrupted)" : "");
    }
  });
}

}  // namespace nnc::cli
