// nncompress compress MODEL (--max-drop PT | --size 12KB) [--recipe R.yaml] -o OUT.onnx
// [--nnc OUT.nnc] [--report DIR]: the methods composed by a recipe (without --recipe the built-in
// default, or with --size the built-in size recipe) under one accuracy budget or file-size cap
// (compress::compose), the compressed ONNX, the .nnc container and the HTML report.
#include <fmt/format.h>

#include <filesystem>
#include <iostream>

#include "cli/compression_command.hpp"
#include "nncompress/compress/compressed_model.hpp"
#include "nncompress/compress/context.hpp"
#include "nncompress/compress/job.hpp"
#include "nncompress/compress/recipe.hpp"
#include "nncompress/core/error.hpp"
#include "nncompress/core/files.hpp"

namespace nnc::cli {
namespace {

std::string kb(double bytes) { return bytes >= 10240 ? fmt::format("{:.1f} KB", bytes / 1024) : fmt::format("{:.0f} B", bytes); }

void print_summary(const nlohmann::json& j) {
  const auto& f = j["final"];
  const auto& ref = j["reference"];
  fmt::print("{} -> {}{}  (recipe {})\n", j["model"].get<std::string>(), j["output"].get<std::string>(),
             j["nnc"].get<std::string>().empty() ? "" : " + " + j["nnc"].get<std::string>(),
             j["recipe"]["name"].get<std::string>());
  auto label = [](const nlohmann::json& r) { return r.value("label", r["step"].get<std::string>()); };
  const bool routed = f.contains("routes");
  const int w = routed ? 18 : 10;
  fmt::print("  {:<{}} {:>9} {:>16} {:>9} {:>10} {:>8} {:>7}\n", "step", w, "hold-out", "change (+- se)", "test", "bytes",
             "ratio", "time");
  for (const auto& r : j["steps"])
    fmt::print("  {:<{}} {:>8.2f}% {:>+8.2f} +- {:.2f} {:>8.2f}% {:>10} {:>7.2f}x {:>6.0f}s\n", label(r), w,
               100 * r["holdout_top1"].get<double>(),
               -r["holdout_drop_pt"].get<double>(), r["holdout_drop_se_pt"].get<double>(),
               100 * r["test_top1"].get<double>(), kb(r["nnc_bytes"].get<double>()), r["ratio"].get<double>(),
               r["seconds"].get<double>());
  if (routed) {
    std::string each;
    for (const auto& r : f["routes"])
      each += fmt::format("{}{}: {}", each.empty() ? "" : "; ", r["route"].get<std::string>(),
                          r["after_step"].is_null()
                              ? std::string("nothing within the limits")
                              : fmt::format("{}, hold-out {:.2f}%", kb(r["nnc_bytes"].get<double>()),
                                            100 * r["holdout_top1"].get<double>()));
    fmt::print("  routes ({}): the result is {}'s, {}\n", each, f["route"].get<std::string>(),
               j["size_cap"].is_null() ? "the smallest within the budget" : "the most accurate within the cap");
  }
  if (f.value("rolled_back", false))
    fmt::print("  {}: the result is the model after step {}\n",
               routed ? "that route's last step broke a limit" : "the last step broke the budget on the hold-out",
               f["after_step"].get<int>());
  fmt::print("  result: {:.2f}x ({} fp32 bytes of the original / {} .nnc bytes), test top-1 {:.2f}% -> {:.2f}% "
             "({:+.2f} pt){}\n",
             f["ratio"].get<double>(), j["fp32_bytes"].get<std::size_t>(), f["nnc_bytes"].get<std::size_t>(),
             100 * ref["test_top1"].get<double>(), 100 * f["test_top1"].get<double>(), -f["test_drop_pt"].get<double>(),
             (j["max_drop"].is_null() ? "" : fmt::format(", budget {} pt on the hold-out", j["max_drop"].get<double>())) +
                 (j["size_cap"].is_null() ? "" : fmt::format(", cap {} bytes", j["size_cap"].get<std::size_t>())));
  fmt::print("  ONNX file (runs in any ONNX runtime): {} bytes = {:.2f}x; batch of {} in the engine: {:.1f} -> {:.1f} "
             "ms; {:.0f}s in all\n",
             j["onnx_bytes"].get<std::size_t>(), j["onnx_ratio"].get<double>(), j["batch"].get<int64_t>(),
             j["batch_ms_before"].get<double>(), j["batch_ms_after"].get<double>(), j["seconds"].get<double>());
  if (j.contains("report")) fmt::print("  report: {}\n", (std::filesystem::path(j["report"].get<std::string>()) / "report.html").string());
}

}  // namespace

void register_compress_command(CLI::App& app) {
  struct Opts {
    ModelIo io;
    std::string recipe, report, size;
    double max_drop = 0.5;
    bool print_recipe = false, onnx_dense = false;
    GlobalOptions global;
    DataOptions data;
  };
  auto opts = std::make_shared<Opts>();
  auto* cmd = app.add_subcommand(
      "compress", "Compose the methods under one accuracy budget or file-size cap: a recipe of steps (default: prune "
                  "up its schedule with fine-tuning -> weight sharing keeping the zeros -> codebook fine-tuning; with "
                  "--size: fit)");
  cmd->add_option("model", opts->io.model, "ONNX model to compress");
  cmd->add_option("-o,--output", opts->io.output, "Compressed ONNX model (runs in any ONNX runtime)");
  cmd->add_option("--nnc", opts->io.nnc, "Also write the .nnc container");
  cmd->add_option("--max-drop", opts->max_drop,
                                   "Accuracy budget: allowed top-1 drop from the original on the hold-out (all held-out "
                                   "training images), percentage points; split across the recipe's steps and confirmed "
                                   "on the whole hold-out at the end (the test split is only measured)")
                       ->capture_default_str();
  cmd->add_option("--size", opts->size,
                  "Cap on the .nnc file instead of an accuracy budget (12KB, 1.5MB or bytes; KB = 1,024 bytes; "
                  "everything in the file counts): the recipe's fit step works to it (the built-in size recipe prunes to the "
                  "sparsity the cap asks for, then fits); with --max-drop too, the result must also be within that budget");
  cmd->add_option("--recipe", opts->recipe,
                  "Recipe (YAML or JSON; docs/recipes.md, examples in recipes/). Default: the built-in recipe, "
                  "with --size the built-in size recipe (--print-recipe shows it)");
  cmd->add_flag("--print-recipe", opts->print_recipe, "Print the recipe (the built-in one without --recipe) and exit");
  cmd->add_option("--report", opts->report,
                  "Report directory: report.html (self-contained: tables and plots), summary.json, and each "
                  "step's own report files under steps/");
  cmd->add_flag("--onnx-dense", opts->onnx_dense,
                "Write pruned, unshared weights into the ONNX file as dense zeros (default: each in its smallest "
                "form, a bitmask + values unpacked in the graph or a sparse initializer)");
  add_data_options(cmd, opts->data);
  add_global_options(cmd, opts->global);
  cmd->callback([opts, cmd] {
    auto& o = *opts;
    const bool by_size = !o.size.empty();
    const auto recipe = !o.recipe.empty() ? compress::read_recipe(o.recipe)
                        : by_size         ? compress::size_recipe()
                                          : compress::default_recipe();
    if (o.print_recipe) {
      if (o.recipe.empty())
        std::cout << (by_size ? compress::size_recipe_text() : compress::default_recipe_text());
      else
        std::cout << read_file_text(o.recipe);
      return;
    }
    if (o.io.model.empty()) throw CLI::RequiredError("MODEL (the ONNX model to compress)");
    if (o.io.output.empty()) throw CLI::RequiredError("-o OUT.onnx");
    NNC_CHECK_OPTION(o.max_drop >= 0 && o.max_drop < 100, "max_drop", "{}: must be in [0, 100) percentage points",
                     o.max_drop);
    const auto control = apply_global_options(o.global);
    o.io.compact_pruned = !o.onnx_dense;
    o.data.validate();
    const compress::JobOutputs outputs{o.io.model, o.io.output, o.io.nnc, o.report, o.io.compact_pruned};
    compress::check_outputs(outputs);
    auto model = compress::CompressedModel::load(o.io.model, control);
    auto context = compress::load_context(model, o.data, control);
    compress::ComposeOptions co;
    // With --size the accuracy budget applies only when given.
    if (!by_size || cmd->count("--max-drop") > 0) co.max_drop = o.max_drop;
    co.size = o.size;
    const auto j = compress::run_compose_job(recipe, co, model, context, outputs, command_line());
    if (o.global.json) return print_json(j);
    print_summary(j);
  });
}

}  // namespace nnc::cli
