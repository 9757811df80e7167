// nncompress fit MODEL --size 12KB -o OUT.onnx --nnc OUT.nnc: the most accurate model whose .nnc
// file fits the size, by joint pruning and per-layer quantisation learned with ADMM
// (compress::FitStep).
#include <fmt/format.h>

#include <filesystem>

#include "cli/compression_command.hpp"
#include "nncompress/compress/fit/fit_step.hpp"
#include "nncompress/compress/fit/sweep.hpp"
#include "nncompress/core/error.hpp"

namespace nnc::cli {

namespace {

// OUT.onnx -> OUT-<cap>.onnx
std::string with_cap(const std::string& path, const std::string& cap) {
  if (path.empty()) return path;
  const std::filesystem::path p(path);
  return (p.parent_path() / (p.stem().string() + "-" + cap + p.extension().string())).string();
}

// One fit per cap, from the same input; then the size-accuracy curve beside the outputs.
void run_sweep(const compress::FitOptions& base, const std::vector<std::string>& caps, const ModelIo& io,
               DataOptions& data, const Control& control, bool json) {
  std::vector<compress::Step> steps;  // every cap checked before any work
  for (const auto& cap : caps) {
    auto o = base;
    o.size = cap;
    if (!o.report_dir.empty()) o.report_dir = (std::filesystem::path(o.report_dir) / cap).string();
    steps.emplace_back(compress::FitStep(o));
  }
  std::vector<fit::SweepPoint> points;
  nlohmann::json runs = nlohmann::json::array();
  for (std::size_t i = 0; i < caps.size() && !control.stop_requested(); ++i) {
    ModelIo one = io;
    one.output = with_cap(io.output, caps[i]);
    one.nnc = with_cap(io.nnc, caps[i]);
    auto j = run_step(steps[i], one, data, control);
    points.push_back({j["size_cap"].get<int64_t>(), j["nnc_bytes"].get<int64_t>(), j["ratio"].get<double>(),
                      j["top1_before"].get<double>(), j["top1_after"].get<double>(), j["seconds"].get<double>()});
    if (!json)
      fmt::print("{}: {} bytes ({:.1f}x), test top-1 {:.2f}% -> {:.2f}%\n", one.output, points.back().nnc_bytes,
                 points.back().ratio, 100 * points.back().top1_before, 100 * points.back().top1_after);
    runs.push_back(std::move(j));
  }
  const std::filesystem::path out(io.output);
  const auto [csv, svg] = fit::write_sweep(out.parent_path() / out.stem(), points, io.model);
  if (json) return print_json({{"sweep", runs}, {"csv", csv.string()}, {"svg", svg.string()}});
  fmt::print("size-accuracy curve: {}, {}\n", csv.string(), svg.string());
}

}  // namespace

void register_fit_command(CLI::App& app) {
  struct Opts {
    ModelIo io;
    compress::FitOptions fit;
    bool no_remeasure = false, fp32_biases = false, fp32_other = false, no_keep_zeros = false;
    std::vector<std::string> sweep;
    GlobalOptions global;
    DataOptions data;
  };
  auto opts = std::make_shared<Opts>();
  auto& f = opts->fit;
  auto* cmd = app.add_subcommand(
      "fit", "Fit a model into a file size: joint pruning + per-layer quantisation learned by ADMM (CVPR 2020)");
  const std::string advanced = "Advanced";
  add_model_io_options(cmd, opts->io.model, opts->io.output, opts->io.nnc, "Compressed ONNX model (codebooks unpacked in the graph)",
                       "Also write the .nnc container; its size is at most --size");
  auto* size = cmd->add_option("--size", f.size,
                  "Cap on the .nnc file: 12KB, 1.5MB or bytes (KB = 1,024 bytes); everything in the file counts (graph, "
                  "positions, indices, codebooks, biases, headers)");
  cmd->add_option("--sweep", opts->sweep,
                  "Several caps (12KB,20KB,40KB): one fit per cap, each written as OUT-<cap>.onnx (and .nnc), and the "
                  "size-accuracy curve as OUT-sweep.csv and OUT-sweep.svg")
      ->delimiter(',')
      ->excludes(size);
  cmd->add_option("--epochs", f.epochs, "ADMM epochs (each: SGD on loss + rho/2 ||W - V + U||^2, then projection and dual update)")
      ->capture_default_str();
  cmd->add_option("--masked-epochs", f.masked_epochs,
                  "Then ADMM epochs on quantisation alone, the sparsity of the projection at --size held")
      ->capture_default_str();
  cmd->add_option("--lr", f.lr, "ADMM peak learning rate (SGD, Nesterov momentum, cosine schedule)")->capture_default_str();
  cmd->add_option("--rho", f.rho, "ADMM penalty of each phase's first epoch (grows by --rho-growth per epoch, at most 0.5 / --lr)")
      ->capture_default_str();
  cmd->add_option("--rho-growth", f.rho_growth, "Factor on rho after each epoch")->capture_default_str()->group(advanced);
  cmd->add_option("--distill", f.distill, "ADMM knowledge-distillation weight in [0, 1] (teacher: the input model)")
      ->capture_default_str();
  cmd->add_option("--augment", f.augment,
                  "Random crops/flips in ADMM and the fine-tuning after it: off, on, auto (on for convolutional "
                  "models unless their training said otherwise)")
      ->capture_default_str();
  cmd->add_option("--distortion", f.distortion,
                  "How bytes are allocated across tensors: output (each tensor's options measured by the output "
                  "distortion) or euclidean (squared weight error, re-allocated at every projection, as published)")
      ->capture_default_str()
      ->group(advanced);
  cmd->add_option("--allocation", f.allocation,
                  "knapsack (each tensor its own kept fraction and bit width) or uniform (the baseline: the same for "
                  "every tensor)")
      ->capture_default_str()
      ->group(advanced);
  cmd->add_flag("--no-remeasure", opts->no_remeasure,
                "Measure the output distortion of the options once, on the starting weights (default: again after "
                "each joint epoch until the budget reaches --size)")
      ->group(advanced);
  cmd->add_option("--anneal", f.anneal, "Fraction of the ADMM epochs over which the budget shrinks to --size")
      ->capture_default_str()
      ->group(advanced);
  cmd->add_option("--min-bits", f.min_bits, "Fewest bits per layer codebook (2^bits levels)")->capture_default_str()->group(advanced);
  cmd->add_option("--max-bits", f.max_bits, "Most bits per layer codebook")->capture_default_str()->group(advanced);
  cmd->add_flag("--prune-biases", f.prune_biases, "Biases may be pruned too (default: only quantised)")->group(advanced);
  cmd->add_flag("--fp32-biases", opts->fp32_biases, "Biases stay fp32 (default: quantised)")->group(advanced);
  cmd->add_flag("--fp32-other", opts->fp32_other,
                "The other learned parameters (LayerNorm scales and shifts, position embeddings, class tokens) stay fp32 "
                "(default: quantised like biases)")
      ->group(advanced);
  cmd->add_flag("--no-keep-zeros", opts->no_keep_zeros,
                "Start from a pruned model's weights as dense, its pruned weights free to grow back (default: its exact "
                "zeros stay zeros and fit prunes further and quantises what is left)")
      ->group(advanced);
  cmd->add_option("--densities", f.densities, "Kept fractions tried per layer (geometric from 1 to --min-density)")
      ->capture_default_str()
      ->group(advanced);
  cmd->add_option("--min-density", f.min_density, "Smallest kept fraction of a layer")->capture_default_str()->group(advanced);
  cmd->add_option("--report", f.report_dir,
                  "Report directory: layers.csv (each tensor's kept weights, bits, bytes), admm.csv and admm.svg "
                  "(validation top-1 of the trained and the projected weights epoch by epoch), fit.json; with "
                  "--sweep one folder per cap");
  cmd->add_option("--finetune-epochs", f.finetune.epochs,
                  "Fine-tuning epochs after the hard projection (masks and assignments fixed, codebook values trained)")
      ->capture_default_str();
  cmd->add_option("--finetune-lr", f.finetune.lr, "Fine-tuning peak learning rate (AdamW, cosine)")->capture_default_str();
  add_data_options(cmd, opts->data);
  add_global_options(cmd, opts->global);
  cmd->callback([opts, size] {
    auto& o = *opts;
    const auto control = apply_global_options(o.global);
    o.fit.remeasure = !o.no_remeasure;
    o.fit.biases = !o.fp32_biases;
    o.fit.other = !o.fp32_other;
    o.fit.keep_zeros = !o.no_keep_zeros;
    o.fit.finetune.augment = o.fit.augment;
    if (!o.sweep.empty()) return run_sweep(o.fit, o.sweep, o.io, o.data, control, o.global.json);
    if (size->count() == 0) fail_option("size", "is required (or --sweep SIZES)");
    const compress::Step step{compress::FitStep(o.fit)};
    auto j = run_step(step, o.io, o.data, control);
    if (o.global.json) return print_json(j);
    fmt::print("{:<24} {:>8} {:>8} {:>8} {:>5} {:>7}\n", "layer", "params", "kept", "density", "bits", "bytes");
    for (const auto& l : j["layers"])
      fmt::print("{:<24} {:>8} {:>8} {:>7.2f}% {:>5} {:>7}\n", l["layer"].get<std::string>(), l["params"].get<int64_t>(),
                 l["kept"].get<int64_t>(), 100 * l["density"].get<double>(), l["bits"].get<int>(),
                 l["bytes"].get<int64_t>());
    fmt::print("{} -> {}: test top-1 {:.2f}% -> {:.2f}% ({:.2f}% after the hard projection); .nnc {} bytes (cap {}), "
               "{:.1f}x (fp32 / .nnc)\n",
               o.io.model, o.io.output, 100 * j["top1_before"].get<double>(), 100 * j["top1_after"].get<double>(),
               100 * j["top1_projected"].get<double>(), j["nnc_bytes"].get<int64_t>(), j["size_cap"].get<int64_t>(),
               j["ratio"].get<double>());
  });
}

}  // namespace nnc::cli
