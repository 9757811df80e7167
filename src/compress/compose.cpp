#include "nncompress/compress/compose.hpp"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/version.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <chrono>
#include <cmath>
#include <fstream>
#include <algorithm>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <utility>

#include "nncompress/compress/accuracy_guard.hpp"
#include "nncompress/compress/compressed_model.hpp"
#include "nncompress/compress/context.hpp"
#include "nncompress/compress/finetune/holdout_control.hpp"
#include "nncompress/compress/outputs.hpp"
#include "nncompress/core/byte_size.hpp"
#include "nncompress/core/error.hpp"
#include "nncompress/core/stopwatch.hpp"
#include "nncompress/data/evaluate.hpp"
#include "nncompress/exec/engine.hpp"
#include "nncompress/onnx/graph_builder.hpp"
#include "nncompress/onnx/tensor_proto.hpp"
#include "nncompress/onnx/weight_inputs.hpp"
#include "nncompress/store/entropy.hpp"

namespace nnc::compress {
namespace {

// The steps whose options take a report folder.
bool has_report_dir(const std::string& step) {
  return step == "prune" || step == "share" || step == "lowrank" || step == "fit";
}

struct State {
  CompressedModel model;
  Drop drop;
  int after_step = 0;  // its row in the step table (0: the original)
  at::Tensor correct;  // per hold-out image: top-1 right (routes are compared paired)
};

// Median batch times of the original and the compressed model on one batch of the hold-out
// images, milliseconds (the engine's latency figures of the report), measured together at the end
// in alternating runs so that both meet the same machine (a figure taken at the start alone met
// whatever else was running then); each engine's first run, which prepares its kernels, is not
// counted. {-1, -1} without hold-out images.
std::pair<double, double> batch_ms(const Context& ctx, const onnx::ModelProto& before, const onnx::ModelProto& after) {
  const auto& images = ctx.splits().holdout.images;
  if (!images.defined() || images.size(0) == 0) return {-1, -1};
  auto batch = images.narrow(0, 0, std::min<int64_t>(ctx.batch(), images.size(0)));
  auto a = ctx.make_engine(before), b = ctx.make_engine(after);
  a->run({batch});
  b->run({batch});
  std::vector<double> ms_a, ms_b;
  auto timed = [&](exec::Engine& e, std::vector<double>& ms) {
    auto t0 = std::chrono::steady_clock::now();
    e.run({batch});
    ms.push_back(1000 * seconds_since(t0));
  };
  for (int i = 0; i < 5; ++i) {
    timed(*a, ms_a);
    timed(*b, ms_b);
  }
  std::sort(ms_a.begin(), ms_a.end());
  std::sort(ms_b.begin(), ms_b.end());
  return {ms_a[2], ms_b[2]};
}

// The CPU's model name (/proc/cpuinfo), for the timings beside it.
std::string cpu_name() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("model name", 0) == 0 && line.find(':') != std::string::npos) {
      auto v = line.substr(line.find(':') + 1);
      return v.substr(v.find_first_not_of(' '));
    }
  return "unknown CPU";
}

}  // namespace

nlohmann::json layer_table(const CompressedModel& model) {
  nlohmann::json rows = nlohmann::json::array();
  std::map<std::string, const Factorisation*> factored;
  for (const auto& f : model.factorisations())
    for (const auto& w : f.factors) factored[w] = &f;
  std::set<std::string> seen;
  for (const auto& n : model.model().graph().node()) {
    const auto io = onnxio::weight_inputs(n);
    for (int i : io.weights) {
      if (i >= n.input_size() || n.input(i).empty() || !seen.insert(n.input(i)).second) continue;
      const auto& name = n.input(i);
      const auto* t = onnxio::find_initializer(model.model().graph(), name);
      if (!t || t->data_type() != onnx::TensorProto::FLOAT) continue;
      const auto v = onnxio::float_values(*t);
      int64_t kept = 0;
      for (float x : v) kept += x != 0.0f;
      nlohmann::json r{{"layer", n.name().empty() ? n.output(0) : n.name()}, {"op", n.op_type()}, {"weight", name},
                       {"params", v.size()}, {"kept", kept}};
      // Stored bytes, estimated as the container stores them: positions of a pruned tensor at
      // their entropy (bitmask density), indices of a shared tensor at their entropy, else fp32.
      double bits = 0;
      const double n_el = static_cast<double>(v.size());
      auto h2 = [](double p) { return p <= 0 || p >= 1 ? 0.0 : -(p * std::log2(p) + (1 - p) * std::log2(1 - p)); };
      const bool pruned = model.mask(name) != nullptr;
      if (pruned) bits += n_el * h2(static_cast<double>(kept) / n_el);
      auto a = model.assignments().find(name);
      if (a != model.assignments().end()) {
        std::vector<uint16_t> used;  // the indices of the kept elements
        const auto* mask = model.mask(name);
        for (std::size_t e = 0; e < a->second.indices.size(); ++e)
          if (!mask || (*mask)[e]) used.push_back(a->second.indices[e]);
        const auto hist = store::histogram(used, static_cast<uint32_t>(model.codebooks()[a->second.codebook].values.size()));
        const double h = store::entropy_bits(hist);
        bits += static_cast<double>(used.size()) * h;
        r["values"] = std::count_if(hist.begin(), hist.end(), [](uint32_t c) { return c > 0; });
        r["bits_per_value"] = h;
        if (a->second.scale != 1.0f) r["scale"] = a->second.scale;
      } else {
        bits += 32.0 * static_cast<double>(pruned ? kept : static_cast<int64_t>(v.size()));
      }
      r["bytes_estimate"] = std::ceil(bits / 8);
      auto f = factored.find(name);
      if (f != factored.end()) {
        r["rank"] = f->second->rank;
        r["groups"] = f->second->groups;
        r["factor_of"] = f->second->node;
      }
      rows.push_back(std::move(r));
    }
  }
  return rows;
}

nlohmann::json compose(const Recipe& recipe, const ComposeOptions& o, CompressedModel& model, Context& ctx) {
  const auto t0 = std::chrono::steady_clock::now();
  NNC_CHECK_OPTION(!o.max_drop || (*o.max_drop >= 0 && *o.max_drop < 100), "max_drop",
                   "{}: must be in [0, 100) percentage points", o.max_drop.value_or(0));
  std::optional<std::size_t> cap;
  if (!o.size.empty()) {
    cap = static_cast<std::size_t>(parse_byte_size_option("size", o.size));
    // A recipe without a fit step works to the accuracy budget; the cap then only chooses among
    // its states (on LeNet-300 the mlp recipe at 1 pt lands at 11.9 KB where fit at 17.4 KB
    // loses 1.7 pt: bench/RESULTS.md).
    const bool works_to_size = std::any_of(recipe.steps.begin(), recipe.steps.end(), [](const RecipeStep& s) {
      return s.step == "fit" || (s.step == "share" && s.options.contains("size"));
    });
    NNC_CHECK_OPTION(works_to_size || o.max_drop, "size",
                     "{}: recipe {} has no fit step and no share step with a size (the steps that work to a file "
                     "size) and no accuracy budget to work to instead: give one (max_drop, --max-drop; the result "
                     "must then meet both) or a recipe with such a step (the built-in size recipe prunes to the "
                     "sparsity the cap asks for, then fits or shares)",
                     o.size, recipe.name);
  }
  for (const auto& s : recipe.steps)
    if (!s.auto_knob.empty() && !o.max_drop)
      fail(ErrorCode::kInvalidArgument, "{}: {}'s {} is auto: give the accuracy budget (max_drop, --max-drop)",
           recipe_location(recipe, s, s.auto_knob), s.step, s.auto_knob);
  // Every step as it will be built (a fit step without a size and no cap fails here, before any work).
  for (const auto& s : recipe.steps) make_recipe_step(recipe, s, s.budgeted() ? o.max_drop : std::nullopt, o.size);
  auto within_cap = [&](const nlohmann::json& row) { return !cap || row["nnc_bytes"].get<std::size_t>() <= *cap; };
  // The steps are held to the hold-out; the test split is only measured.
  const bool test_guard = ctx.test_guard;
  ctx.test_guard = false;
  struct Restore {
    Context& c;
    bool v;
    ~Restore() { c.test_guard = v; }
  } restore_guard{ctx, test_guard};

  const data::Evaluator holdout(ctx.splits().holdout, ctx.batch());
  auto original_engine = ctx.make_engine(model.model());
  const Reference reference = measure_reference(*original_engine, holdout, ctx, "compress");
  // A hold-out the model was trained on: the steps that fine-tune continue one control.
  start_holdout_control(ctx, model, reference);
  original_engine.reset();
  const std::size_t fp32 = model.original_fp32_bytes();
  const onnx::ModelProto original_model = model.model();  // for the latency figures at the end

  nlohmann::json rows = nlohmann::json::array(), reports = nlohmann::json::array();
  auto row = [&](const std::string& step, const data::Metrics& h, const data::Metrics& t, const Drop& d, double secs) {
    const auto packed = pack_nnc(model);
    const auto s = model.summary();
    rows.push_back({{"step", step}, {"holdout_top1", h.top1}, {"test_top1", t.top1},
                    {"holdout_drop_pt", d.pt}, {"holdout_drop_se_pt", d.se_pt},
                    {"test_drop_pt", 100 * (reference.test.top1 - t.top1)},
                    {"nnc_bytes", packed.bytes.size()},
                    {"ratio", static_cast<double>(fp32) / static_cast<double>(packed.bytes.size())},
                    {"weights", s.weights}, {"pruned", s.masked}, {"shared", s.shared}, {"seconds", secs}});
  };
  row("original", reference.holdout, reference.test, {}, 0);
  std::vector<State> held;
  if (within_cap(rows.back())) held.push_back({model, {}, 0, reference.holdout.correct});

  // Budgeted steps still to come on the line of steps being run (for the equal split of what is
  // left): the unrouted ones and the longest route's.
  const std::size_t fork = recipe.fork();
  const auto routes = recipe.routes();
  auto budgeted_in = [&](std::size_t from, std::size_t to, const std::string& route) {
    std::size_t n = 0;
    for (std::size_t i = from; i < to; ++i) n += recipe.steps[i].budgeted() && recipe.steps[i].route == route;
    return n;
  };
  std::size_t route_budgeted = 0;
  for (const auto& r : routes) route_budgeted = std::max(route_budgeted, budgeted_in(fork, recipe.steps.size(), r));
  std::size_t budgeted_left = budgeted_in(0, fork, "") + route_budgeted;
  Drop used;
  // Runs step i; false when it ended its route.
  auto run_step = [&](std::size_t i) {
    const auto& rs = recipe.steps[i];
    bool route_ended = false;
    const std::string label = rs.route.empty() ? rs.step : fmt::format("{} ({})", rs.step, rs.route);
    std::optional<double> give;
    nlohmann::json budget_j = nullptr;
    if (rs.budgeted() && o.max_drop) {
      // What the earlier steps used counts with its standard error, as the final check does.
      const double left = std::max(0.0, *o.max_drop - std::max(0.0, used.pt + used.se_pt));
      const double share = budgeted_left <= 1 ? 1.0 : rs.budget.value_or(1.0 / static_cast<double>(budgeted_left));
      give = left * share;
      budget_j = {{"left_pt", left}, {"share", share}, {"given_pt", *give}};
      --budgeted_left;
    }
    RecipeStep run = rs;
    if (!o.report_dir.empty() && has_report_dir(rs.step) && !run.options.contains("report_dir"))
      run.options["report_dir"] = (o.report_dir / "steps" / fmt::format("{:02d}-{}", i + 1, rs.step)).string();
    const Step step = make_recipe_step(recipe, run, give, o.size);
    ctx.note(fmt::format("compress step {}/{}: {}{}", i + 1, recipe.steps.size(), label,
                         give ? fmt::format(" (accuracy budget {:.3f} pt: {:.0f}% of the {:.3f} pt left)", *give,
                                            100 * budget_j["share"].get<double>(), budget_j["left_pt"].get<double>())
                              : ""));
    const auto ts = std::chrono::steady_clock::now();
    nlohmann::json report;
    if (give && *give <= 0) {
      // Nothing left: the earlier steps' drop with its standard error already fills the budget,
      // so nothing this step does could be within it (a search would only spend time).
      report = {{"step", rs.step},
                {"skipped", fmt::format("no accuracy budget left: the earlier steps used {:.2f} +- {:.2f} of the {} pt",
                                        used.pt, used.se_pt, *o.max_drop)}};
      ctx.note(fmt::format("compress step {}/{}: {} skipped: {}; the model goes on unchanged", i + 1,
                           recipe.steps.size(), label, report["skipped"].get<std::string>()));
    } else {
      // A budgeted step that finds no setting within its share (a first pruning step that already
      // breaks it) leaves the model as it was, and the later steps go on with the budget it left;
      // so does pruning to a size cap that the model meets at its own sparsity (the steps after
      // it, fit, put it into the cap).
      // A step of a route that misses its target otherwise (fit or share over the size cap) ends
      // its route; the other routes go on.
      const bool prune_to_cap = rs.step == "prune" && rs.options.contains("size");
      const bool skippable = (give && !rs.options.contains("size")) || prune_to_cap;
      const bool ends_route = !rs.route.empty() && !skippable;
      std::optional<CompressedModel> before;
      std::shared_ptr<HoldoutControl> control_before;
      if (give || prune_to_cap || ends_route) {
        before = model;
        control_before = copy_holdout_control(ctx);
      }
      try {
        report = step.apply(model, ctx);
      } catch (const Error& e) {
        const auto* option = dynamic_cast<const OptionError*>(&e);
        // (Outside a route only an option error is skipped; in a route any missed target ends it.)
        if (!before || e.code() != ErrorCode::kTargetMissed || (!option && !ends_route)) {
          // Where the recipe set it: "r.yaml:12: share: keep_fp32 'x' matches no layer".
          if (option) fail(e.code(), "{}: {}: {}", recipe_location(recipe, rs, option->field()), rs.step, e.what());
          throw;
        }
        route_ended = ends_route;
        model = std::move(*before);
        ctx.holdout_control = control_before;
        std::string why = e.what();
        if (const auto cut = why.rfind("; nothing written"); cut != std::string::npos) why.erase(cut);
        report = {{"step", rs.step}, {"skipped", why}};
        ctx.note(fmt::format("compress step {}/{}: {} {} ({}); {}", i + 1, recipe.steps.size(), label,
                             give ? "found nothing within its budget" : route_ended ? "failed" : "skipped", why,
                             route_ended ? fmt::format("route {} ends here", rs.route) : "the model goes on unchanged"));
      }
    }
    const double secs = seconds_since(ts);
    auto engine = ctx.make_engine(model.model());
    const auto h = holdout.evaluate(*engine);
    const auto t = ctx.test().evaluate(*engine);
    used = holdout_drop(controlled(reference, ctx), h);
    row(rs.step, h, t, used, secs);
    if (!rs.route.empty()) {
      rows.back()["route"] = rs.route;
      rows.back()["label"] = label;  // what summaries print for the row
    }
    rows.back()["budget"] = budget_j;
    rows.back()["interrupted"] = report.value("interrupted", false);
    if (report.contains("skipped")) rows.back()["skipped"] = report["skipped"];
    reports.push_back({{"step", rs.step}, {"route", rs.route}, {"options", step.options()}, {"report", report}});
    ctx.note(fmt::format("after {}: hold-out top-1 {:.2f}% ({:+.2f} +- {:.2f} pt), test top-1 {:.2f}%, {} bytes "
                         "({:.2f}x) in {:.0f}s",
                         label, 100 * h.top1, -used.pt, used.se_pt, 100 * t.top1,
                         rows.back()["nnc_bytes"].get<std::size_t>(), rows.back()["ratio"].get<double>(), secs));
    if ((!o.max_drop || used.within(*o.max_drop)) && within_cap(rows.back()))
      held.push_back({model, used, static_cast<int>(rows.size()) - 1, h.correct});
    return !route_ended;
  };

  // One line's result: its last state within the budget (and the size cap).
  struct Outcome {
    std::string route;
    std::optional<State> state;  // none: not even the original is within the limits
    std::size_t last_row = 0;    // the line's last row
    Drop last_drop;
  };
  auto outcome = [&](const std::string& route) {
    return Outcome{route, held.empty() ? std::nullopt : std::optional<State>(held.back()), rows.size() - 1, used};
  };
  for (std::size_t i = 0; i < fork && !ctx.stop_requested(); ++i) run_step(i);
  std::vector<Outcome> outcomes;
  if (routes.empty() || ctx.stop_requested()) {
    outcomes.push_back(outcome(""));
  } else {
    // Each route from the model the unrouted steps left, with the budget they left.
    const CompressedModel fork_model = model;
    const auto fork_control = copy_holdout_control(ctx);
    const Drop fork_used = used;
    const std::vector<State> fork_held = held;
    const std::size_t fork_budgeted = budgeted_left - route_budgeted;
    for (const auto& r : routes) {
      if (ctx.stop_requested()) break;
      if (&r != &routes.front()) {
        model = fork_model;
        ctx.holdout_control = fork_control ? std::make_shared<HoldoutControl>(*fork_control) : nullptr;
        used = fork_used;
        held = fork_held;
      }
      budgeted_left = fork_budgeted + budgeted_in(fork, recipe.steps.size(), r);
      ctx.note(fmt::format("compress: route {} of {}: {}", &r - routes.data() + 1, routes.size(), r));
      for (std::size_t i = fork; i < recipe.steps.size() && !ctx.stop_requested(); ++i)
        if (recipe.steps[i].route == r && !run_step(i)) break;
      outcomes.push_back(outcome(r));
    }
  }

  // The result: with a size cap the most accurate line within it (and the budget), else the
  // smallest within the budget; each line's result is the last of its states within them. The
  // routes are in the recipe's order of preference: a later one replaces the one preferred so
  // far only when its hold-out top-1 is higher by more than the paired standard error of the
  // difference (between two models a few tenths of a point apart the hold-out's order is
  // mostly noise).
  auto top1_of = [&](const Outcome& c) { return rows[c.state->after_step]["holdout_top1"].get<double>(); };
  auto bytes_of = [&](const Outcome& c) { return rows[c.state->after_step]["nnc_bytes"].get<std::size_t>(); };
  const Outcome* best = nullptr;
  for (const auto& c : outcomes) {
    if (!c.state || c.state->after_step == 0) continue;
    bool better = !best;
    if (best) {
      const double se = data::paired_top1_se(c.state->correct, best->state->correct);
      better = cap ? top1_of(c) > top1_of(*best) + se
                   : bytes_of(c) < bytes_of(*best) && (!o.max_drop || c.state->drop.within(*o.max_drop));
    }
    if (better) best = &c;
  }
  const Outcome& last_line = outcomes.back();
  if (!best && !ctx.stop_requested()) {
    // Nothing but the original within the limits (no state at all when even it is over the cap):
    // a file of it would be no compression at all.
    std::vector<std::string> limits;
    if (cap) limits.push_back(fmt::format("the size cap {}", describe_bytes(static_cast<int64_t>(*cap))));
    if (o.max_drop) limits.push_back(fmt::format("the {} pt budget", *o.max_drop));
    fail(ErrorCode::kTargetMissed,
         "no {} within {}: the last step ({}) reached {} bytes at a hold-out drop of {:.2f} +- {:.2f} pt",
         last_line.state ? "step's model is" : "model", fmt::join(limits, " and "), recipe.steps.back().step,
         rows[last_line.last_row]["nnc_bytes"].get<std::size_t>(), last_line.last_drop.pt, last_line.last_drop.se_pt);
  }
  // Stopped before anything within the limits: what is done, as it is.
  const bool stopped_over = best == nullptr;
  if (!best) best = &last_line;
  const std::size_t chosen_row = stopped_over ? best->last_row : static_cast<std::size_t>(best->state->after_step);
  const Drop chosen_drop = stopped_over ? best->last_drop : best->state->drop;
  if (!stopped_over) model = best->state->model;
  const bool rolled_back = chosen_row != best->last_row;
  nlohmann::json final_j{{"after_step", chosen_row}, {"holdout_drop_pt", chosen_drop.pt},
                         {"holdout_drop_se_pt", chosen_drop.se_pt}, {"within", !stopped_over}};
  if (rolled_back) {
    final_j["rolled_back"] = true;
    const auto& over = rows[best->last_row];
    ctx.note(fmt::format("the final model {}: the model after step {} ({}) is the result, the last one within {}",
                         within_cap(over)
                             ? fmt::format("drops hold-out top-1 by {:.2f} +- {:.2f} pt, more than the {} pt budget",
                                           best->last_drop.pt, best->last_drop.se_pt, o.max_drop.value_or(0))
                             : fmt::format("is {} bytes, over the size cap {}", over["nnc_bytes"].get<std::size_t>(),
                                           describe_bytes(static_cast<int64_t>(*cap))),
                         chosen_row, chosen_row == 0 ? "the original" : rows[chosen_row]["step"].get<std::string>(),
                         !cap ? "the budget" : o.max_drop ? "the cap and the budget" : "the cap"));
  }
  if (!best->route.empty()) {  // (a run stopped before its routes has none)
    final_j["route"] = best->route;
    nlohmann::json routes_j = nlohmann::json::array();
    for (const auto& c : outcomes) {
      nlohmann::json rj{{"route", c.route}, {"last_row", c.last_row}, {"chosen", &c == best}};
      if (c.state && c.state->after_step > 0) {
        const auto& r = rows[c.state->after_step];
        rj.update({{"after_step", c.state->after_step}, {"nnc_bytes", r["nnc_bytes"]},
                   {"holdout_top1", r["holdout_top1"]}, {"test_top1", r["test_top1"]},
                   {"holdout_drop_pt", c.state->drop.pt}});
        if (&c != best && best->state) {
          // Against the result, paired on the hold-out images.
          rj["holdout_vs_result_pt"] = 100 * (top1_of(c) - top1_of(*best));
          rj["holdout_vs_result_se_pt"] = 100 * data::paired_top1_se(c.state->correct, best->state->correct);
        }
      } else {
        rj["after_step"] = nullptr;  // nothing compressed within the limits
      }
      routes_j.push_back(std::move(rj));
    }
    final_j["routes"] = std::move(routes_j);
    ctx.note(fmt::format("compress: route {} is the result ({} bytes, hold-out top-1 {:.2f}%){}", best->route,
                         rows[chosen_row]["nnc_bytes"].get<std::size_t>(),
                         100 * rows[chosen_row]["holdout_top1"].get<double>(),
                         cap ? ": the most accurate within the cap" : ": the smallest within the budget"));
  }
  const auto& last = rows[final_j["after_step"].get<std::size_t>()];
  final_j["nnc_bytes"] = last["nnc_bytes"];
  final_j["ratio"] = last["ratio"];
  final_j["test_top1"] = last["test_top1"];
  final_j["holdout_top1"] = last["holdout_top1"];
  final_j["test_drop_pt"] = last["test_drop_pt"];
  const auto latency = batch_ms(ctx, original_model, model.model());
  return {{"recipe", recipe.to_json()},
          {"max_drop", o.max_drop ? nlohmann::json(*o.max_drop) : nlohmann::json(nullptr)},
          {"size_cap", cap ? nlohmann::json(*cap) : nlohmann::json(nullptr)},
          {"reference", {{"holdout_top1", reference.holdout.top1}, {"test_top1", reference.test.top1},
                         {"holdout_images", reference.holdout.n}, {"test_images", reference.test.n},
                         {"flattered", reference.flattered},
                         {"holdout_control_top1", ctx.holdout_control ? nlohmann::json(ctx.holdout_control->holdout.top1)
                                                                      : nlohmann::json(nullptr)}}},
          {"fp32_bytes", fp32},
          {"steps", rows},
          {"reports", reports},
          {"final", final_j},
          {"layers", layer_table(model)},
          {"batch", ctx.batch()},
          {"cpu", fmt::format("{}, {} threads", cpu_name(), at::get_num_threads())},
          {"versions", {{"nncompress", NNC_VERSION}, {"libtorch", fmt::format("{}.{}.{}", TORCH_VERSION_MAJOR, TORCH_VERSION_MINOR, TORCH_VERSION_PATCH)}}},
          {"batch_ms_before", latency.first},
          {"batch_ms_after", latency.second},
          {"interrupted", ctx.stop_requested()},
          {"seconds", seconds_since(t0)}};
}

}  // namespace nnc::compress
