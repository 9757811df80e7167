#include "nncompress/compress/fit/fit_step.hpp"

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <torch/torch.h>

#include <chrono>
#include <functional>
#include <cmath>

#include "nncompress/compress/common/fold_batchnorm.hpp"
#include "nncompress/compress/compressed_model.hpp"
#include "nncompress/compress/context.hpp"
#include "nncompress/compress/fit/output_distortion.hpp"
#include "nncompress/compress/fit/projection.hpp"
#include "nncompress/compress/fit/report.hpp"
#include "nncompress/compress/fit/size_model.hpp"
#include "nncompress/compress/options.hpp"
#include "nncompress/compress/outputs.hpp"
#include "nncompress/compress/run_state.hpp"
#include "nncompress/compress/prune/magnitude.hpp"
#include "nncompress/core/byte_size.hpp"
#include "nncompress/core/error.hpp"
#include "nncompress/core/json_text.hpp"
#include "nncompress/core/stopwatch.hpp"
#include "nncompress/data/evaluate.hpp"
#include "nncompress/exec/engine.hpp"
#include "nncompress/onnx/graph_builder.hpp"
#include "nncompress/onnx/weight_inputs.hpp"
#include "nncompress/train/trainer.hpp"

namespace nnc::compress {
namespace {

std::vector<float> flat_values(const at::Tensor& t) {
  auto c = t.detach().to(at::kFloat).contiguous().reshape({-1});
  return {c.data_ptr<float>(), c.data_ptr<float>() + c.numel()};
}

at::Tensor as_tensor(const std::vector<float>& v, at::IntArrayRef shape) {
  return at::from_blob(const_cast<float*>(v.data()), {static_cast<int64_t>(v.size())}, at::kFloat).clone().reshape(shape);
}

fit::GridOptions grid_of(const FitOptions& o) {
  fit::GridOptions g;
  g.min_bits = o.min_bits;
  g.max_bits = o.max_bits;
  g.densities = o.densities;
  g.min_density = o.min_density;
  g.only_nonzero = o.keep_zeros;
  return g;
}

// The options of every tensor with their measured output distortion and bytes, taken once from
// the starting weights (fit/output_distortion.hpp); empty: the Euclidean projection.
using OptionTable = std::vector<std::vector<fit::LayerOption>>;

// The projection onto the constraint set within `budget`: by squared weight error over all
// options (euclidean, as published), or to the options the table's output distortion chooses.
// The table's choice depends on the budget alone, so ADMM's target does not flip between
// options of nearly equal cost from one epoch to the next.
fit::JointProjection project(const std::vector<std::vector<float>>& values, int64_t budget, const fit::GridOptions& g,
                             const OptionTable& table, bool uniform) {
  const std::vector<std::span<const float>> spans(values.begin(), values.end());
  if (table.empty()) return fit::project_to_budget(spans, budget, g);
  return fit::project_to_options(spans, uniform ? fit::choose_uniform(table, g, budget) : fit::choose_options(table, budget));
}

using FitTensor = prune::LayerTensor;

// The projection becomes the model's state: weights, masks (pruned elements) and one codebook
// per layer (its levels, plus the exact zero of its pruned elements).
void install(CompressedModel& model, exec::Engine& engine, const std::vector<FitTensor>& layers,
             const fit::JointProjection& p) {
  std::map<std::string, Mask> masks;
  std::vector<Codebook> codebooks;
  std::map<std::string, Assignment> assignments;
  for (std::size_t l = 0; l < layers.size(); ++l) {
    const auto& pl = p.layers[l];
    const auto& name = layers[l].name;
    engine.weights().set(name, as_tensor(pl.values, engine.weights().get(name).sizes()));
    Codebook cb{pl.levels, -1};
    if (pl.kept < static_cast<int64_t>(pl.values.size())) {
      Mask m(pl.values.size());
      for (std::size_t i = 0; i < m.size(); ++i) m[i] = pl.level[i] != pl.levels.size();
      masks[name] = std::move(m);
      cb.zero_entry = static_cast<int>(cb.values.size());
      cb.values.push_back(0.0f);
    }
    codebooks.push_back(std::move(cb));
    assignments[name] = Assignment{static_cast<int>(l), pl.level, 1.0f};
  }
  // A projection that is redone (over the cap) may leave dense what the last one pruned.
  model.clear_sharing();
  for (const auto& l : layers)
    if (const auto* m = model.mask(l.name)) model.set_mask(l.name, Mask(m->size(), 1));
  model.set_model(engine.to_model(), std::move(masks));
  model.set_sharing(std::move(codebooks), std::move(assignments));
}

// The option table as JSON and back (ADMM's checkpoints; doubles round-trip exactly).
nlohmann::json table_to_json(const OptionTable& table) {
  auto j = nlohmann::json::array();
  for (const auto& layer : table) {
    auto l = nlohmann::json::array();
    for (const auto& o : layer) l.push_back({o.kept, o.bits, o.distortion, o.bytes});
    j.push_back(std::move(l));
  }
  return j;
}

OptionTable table_from_json(const nlohmann::json& j) {
  OptionTable t;
  for (const auto& layer : j) {
    t.emplace_back();
    for (const auto& o : layer)
      t.back().push_back({o.at(0).get<int64_t>(), o.at(1).get<int>(), o.at(2).get<double>(), o.at(3).get<int64_t>()});
  }
  return t;
}

at::Tensor text_tensor(const std::string& s) {
  return at::from_blob(const_cast<char*>(s.data()), {static_cast<int64_t>(s.size())}, at::kByte).clone();
}

std::string tensor_text(const at::Tensor& t) {
  NNC_CHECK(t.scalar_type() == at::kByte && t.dim() == 1, "not a text tensor");
  const auto c = t.contiguous();
  return {reinterpret_cast<const char*>(c.data_ptr<uint8_t>()), static_cast<std::size_t>(c.numel())};
}

double relative_gap(const std::vector<at::Tensor>& a, const std::vector<at::Tensor>& b) {
  double num = 0, den = 0;
  for (std::size_t l = 0; l < a.size(); ++l) {
    num += (a[l] - b[l]).pow(2).sum().item<double>();
    den += a[l].pow(2).sum().item<double>();
  }
  return den > 0 ? std::sqrt(num / den) : 0.0;
}

}  // namespace

void FitOptions::validate() const {
  parse_byte_size_option("size", size);
  NNC_CHECK_OPTION(epochs >= 0, "epochs", "{}: must not be negative", epochs);
  NNC_CHECK_OPTION(masked_epochs >= 0, "masked_epochs", "{}: must not be negative", masked_epochs);
  NNC_CHECK_OPTION(lr > 0, "lr", "{}: must be positive", lr);
  NNC_CHECK_OPTION(rho > 0, "rho", "{}: must be positive", rho);
  NNC_CHECK_OPTION(rho_growth >= 1, "rho_growth", "{}: must be at least 1", rho_growth);
  NNC_CHECK_OPTION(augment == "auto" || augment == "on" || augment == "off", "augment", "'{}': expected auto, on or off",
                   augment);
  NNC_CHECK_OPTION(distill >= 0 && distill <= 1, "distill", "{}: must be in [0, 1]", distill);
  NNC_CHECK_OPTION(min_bits >= 1 && min_bits <= 8, "min_bits", "{}: must be in 1..8", min_bits);
  NNC_CHECK_OPTION(max_bits >= min_bits && max_bits <= 8, "max_bits", "{}: must be in min_bits..8", max_bits);
  NNC_CHECK_OPTION(densities >= 2 && densities <= 1000, "densities", "{}: must be in 2..1000", densities);
  NNC_CHECK_OPTION(min_density > 0 && min_density < 1, "min_density", "{}: must be in (0, 1)", min_density);
  NNC_CHECK_OPTION(distortion == "output" || distortion == "euclidean", "distortion", "'{}': expected output or euclidean",
                   distortion);
  NNC_CHECK_OPTION(allocation == "knapsack" || allocation == "uniform", "allocation",
                   "'{}': expected knapsack or uniform", allocation);
  NNC_CHECK_OPTION(anneal >= 0 && anneal <= 1, "anneal", "{}: must be in [0, 1]", anneal);
  NNC_CHECK_OPTION(anneal_from >= 1, "anneal_from", "{}: must be at least 1", anneal_from);
  validate_nested(finetune, "finetune");
}

nlohmann::json FitStep::options() const { return options_to_json(options_); }

nlohmann::json FitStep::apply(CompressedModel& model, Context& context) const {
  const auto t0 = std::chrono::steady_clock::now();
  const auto& o = options_;
  const int64_t cap = parse_byte_size(o.size);
  // BatchNorm after a convolution is folded into it first (as exporters do): its four fp32
  // vectors per channel would otherwise stay in the file beside the compressed weights.
  int folded_bn = 0;
  {
    auto folded = fold_batchnorm(model.model(), &folded_bn);
    if (folded_bn > 0) {
      model.clear_sharing();
      model.set_model(std::move(folded));
    }
  }
  const auto layers = prune::layer_tensors(model.model(), o.biases, o.other);
  NNC_CHECK(!layers.empty(), "{}: no compressible weights ({} weights as float initializers)", model.source(),
            onnxio::weight_operators());
  std::vector<std::string> names;
  for (const auto& l : layers) names.push_back(l.name);

  // fit decides every layer's sparsity and codebook itself; a pruned model's zeros stay zeros
  // (keep_zeros: held while ADMM trains, never kept by a projection).
  model.clear_sharing();
  for (const auto& name : names)
    if (const auto* m = model.mask(name)) model.set_mask(name, Mask(m->size(), 1));
  const auto stored = static_cast<int64_t>(pack_nnc(model).bytes.size());
  NNC_CHECK(cap < stored, "size {}: nothing to do, the model stored uncompressed already fits ({})",
            describe_bytes(cap), describe_bytes(stored));
  const int64_t fixed = fit::fixed_container_bytes(model.model(), names);
  const auto grid = grid_of(o);
  auto engine = context.make_engine(model.model());
  std::map<std::string, at::Tensor> held_zeros;  // keep_zeros: 1 where a weight may be nonzero
  if (o.keep_zeros) {
    int64_t zeros = 0, total = 0;
    for (const auto& l : layers) {
      if (l.bias) continue;
      const auto w = engine->weights().get(l.name).detach();
      const auto nonzero = w.ne(0);
      const int64_t z = w.numel() - nonzero.sum().item<int64_t>();
      total += w.numel();
      if (z == 0) continue;
      zeros += z;
      held_zeros[l.name] = nonzero.to(at::kFloat);
    }
    if (zeros > 0)
      context.note(fmt::format("fit: the model's {} exact zeros ({:.1f}% of its {} layer weights) stay zeros", zeros,
                               100.0 * static_cast<double>(zeros) / static_cast<double>(total), total));
  }
  auto weights_now = [&] {
    std::vector<std::vector<float>> w;
    for (const auto& n : names) w.push_back(flat_values(engine->weights().get(n)));
    return w;
  };
  // Every tensor's options (bytes; distortion: squared error). Biases are quantised, never
  // pruned: they are few, and one-shot measurement undervalues them (it let LeNet-5 keep 3 of
  // fc1's 500 biases).
  auto options_of = [&](const std::vector<std::vector<float>>& values) {
    auto bias_grid = grid;
    bias_grid.min_density = 1.0;
    bias_grid.only_nonzero = false;
    OptionTable t;
    for (std::size_t l = 0; l < values.size(); ++l)
      t.push_back(fit::layer_options(values[l], layers[l].bias && !o.prune_biases ? bias_grid : grid));
    return t;
  };
  {
    const int64_t least = fixed + fit::min_payload_bytes(options_of(weights_now()));
    NNC_CHECK(cap >= least,
              "size {} is below the {} bytes this model needs at least: {} for its graph, headers and what stays "
              "fp32, and {} for its layer weights at their sparsest, coarsest setting",
              describe_bytes(cap), least, fixed, least - fixed);
  }
  const double before = context.test().evaluate(*engine).top1;
  context.note(fmt::format("fit: {} tensors to {} ({} bytes for the graph, headers and what stays fp32), test top-1 "
                           "before {:.2f}%",
                           layers.size(), describe_bytes(cap), fixed, 100 * before));
  int64_t budget = cap - fixed;
  // The option table of `values` (the engine's weights are set to them while it is measured).
  const auto& calib_all = context.splits().calib.images;
  const auto calib = calib_all.narrow(0, 0, std::min<int64_t>(calib_all.size(0), 256));
  auto option_table = [&](const std::vector<std::vector<float>>& values) {
    OptionTable t = options_of(values);
    if (o.distortion != "output") return t;
    std::vector<at::Tensor> kept;
    for (std::size_t l = 0; l < names.size(); ++l) {
      kept.push_back(engine->weights().get(names[l]).detach().clone());
      engine->weights().set(names[l], as_tensor(values[l], kept[l].sizes()));
    }
    fit::measure_output_distortion(*engine, calib, names, t, context.control());
    for (std::size_t l = 0; l < names.size(); ++l) engine->weights().set(names[l], kept[l]);
    return t;
  };
  OptionTable options;
  if (o.distortion == "output" || o.allocation == "uniform") options = option_table(weights_now());
  // The budget of ADMM epoch e (1-based; 0: the start), annealed down to the cap's.
  const int anneal_epochs = static_cast<int>(std::ceil(o.anneal * o.epochs));
  auto budget_at = [&](int e) {
    if (e >= anneal_epochs) return budget;
    const double f = std::pow(o.anneal_from, 1.0 - static_cast<double>(e) / anneal_epochs);
    return static_cast<int64_t>(static_cast<double>(budget) * f);
  };
  std::unique_ptr<exec::Engine> teacher;
  if (o.distill > 0 || o.finetune.distill > 0) teacher = context.make_engine(model.original());
  // Checkpoints at each ADMM epoch's end (compress/run_state.hpp): the same command rerun after a
  // crash or kill resumes the phase where it was, duals, targets, rho and option table included.
  const std::string run_state_key = run_key("fit", options_to_json(o), model, context, teacher != nullptr);

  // ADMM (Sec. 3.3): W takes SGD steps on loss + rho/2 ||W - (V - U)||^2; after each epoch
  // V = P(W + U) and U += W - V. Two phases: first sparsity and quantisation together (the
  // budget annealed down to the cap); then, with the sparsity of the projection at the cap held
  // (masks), quantisation alone, so that the weights settle near their levels before the hard
  // quantisation.
  using Projector = std::function<fit::JointProjection(const std::vector<std::vector<float>>&, int epoch)>;
  nlohmann::json admm = nlohmann::json::array();
  int admm_resumed = 0;  // epochs taken from checkpoints (a rerun after a crash or kill)
  double rho = o.rho;
  // SGD's step on the proximal term moves W by lr * rho of its distance to the target: beyond
  // 1/2 of the way per step the pull overshoots (with momentum, oscillates).
  nlohmann::json phase_lr = nlohmann::json::object();  // the learning rate each phase trained at
  const auto norm = data::resolve_normalisation({}, model.model());
  const data::Evaluator val(context.splits().val, context.batch());
  // One phase at learning rate `lr`; `attempt` > 0 names a retry (its own checkpoints).
  auto admm_attempt = [&](const std::string& phase, int epochs, const std::map<std::string, at::Tensor>& masks,
                          const Projector& projector, double lr, int attempt) {
    const double max_rho = 0.5 / lr;
    rho = o.rho;  // each phase starts gently: a new target set, new duals
    std::vector<at::Tensor> V, U, target;
    auto p = projector(weights_now(), 0);
    for (std::size_t l = 0; l < names.size(); ++l) {
      V.push_back(as_tensor(p.layers[l].values, engine->weights().get(names[l]).sizes()));
      U.push_back(at::zeros_like(V.back()));
      target.push_back(V.back().clone());
    }
    train::TrainOptions to;
    to.epochs = epochs;
    to.lr = lr;
    to.optimizer = "sgd";
    to.weight_decay = 0;
    to.schedule = "cosine";
    to.batch = 128;
    to.seed = context.seed() + admm.size();
    to.augment = resolve_augment(o.augment, model.model());
    to.pad_value = -norm.mean[0] / norm.std[0];
    to.distill = o.distill;
    to.teacher = o.distill > 0 ? teacher.get() : nullptr;
    to.keep_best = false;
    to.masks = masks;
    const std::string state_name = attempt == 0 ? "fit-" + phase : fmt::format("fit-{}-retry{}", phase, attempt);
    if (auto path = run_state_file(context, state_name, run_state_key, ".ckpt")) to.checkpoint = *path;
    to.save_extra = [&] {
      const nlohmann::json st{{"rho", rho}, {"admm", admm}, {"options", table_to_json(options)}};
      std::vector<at::Tensor> t{text_tensor(nnc::json_text(st))};
      for (const auto& u : U) t.push_back(u);
      for (const auto& x : target) t.push_back(x);
      return t;
    };
    to.load_extra = [&](const std::vector<at::Tensor>& t) {
      NNC_CHECK(t.size() == 1 + 2 * names.size(), "{} ADMM tensors for {} weights", t.size(), names.size());
      const auto st = nlohmann::json::parse(tensor_text(t[0]));
      auto table = table_from_json(st.at("options"));
      NNC_CHECK(table.size() == options.size(), "an option table of {} tensors for {}", table.size(), options.size());
      for (std::size_t l = 0; l < names.size(); ++l)
        NNC_CHECK(t[1 + l].sizes() == U[l].sizes() && t[1 + names.size() + l].sizes() == U[l].sizes(),
                  "{}: ADMM state of another shape", names[l]);
      rho = st.at("rho").get<double>();
      admm = st.at("admm");
      options = std::move(table);
      for (std::size_t l = 0; l < names.size(); ++l) {
        U[l] = t[1 + l].clone();
        target[l] = t[1 + names.size() + l].clone();
      }
    };
    to.after_backward = [&] {
      torch::NoGradGuard ng;
      for (std::size_t l = 0; l < names.size(); ++l) {
        const auto& wt = engine->weights().get(names[l]);
        if (wt.grad().defined()) wt.grad().add_(wt.detach() - target[l], rho);
      }
    };
    auto on_epoch = [&](const train::EpochReport& r) {
      torch::NoGradGuard ng;
      std::vector<at::Tensor> W;
      std::vector<std::vector<float>> wu;
      for (std::size_t l = 0; l < names.size(); ++l) {
        W.push_back(engine->weights().get(names[l]).detach().clone());
        wu.push_back(flat_values(W.back() + U[l]));
      }
      p = projector(wu, r.epoch);
      for (std::size_t l = 0; l < names.size(); ++l) {
        V[l] = as_tensor(p.layers[l].values, W[l].sizes());
        U[l] += W[l] - V[l];
        target[l] = V[l] - U[l];
      }
      const double gap = relative_gap(W, V);
      // What the projection would give now (V: its weights in the engine for one validation pass).
      for (std::size_t l = 0; l < names.size(); ++l) engine->weights().set(names[l], V[l]);
      const double projected_top1 = val.evaluate(*engine).top1;
      for (std::size_t l = 0; l < names.size(); ++l) engine->weights().set(names[l], W[l]);
      admm.push_back({{"phase", phase}, {"epoch", r.epoch}, {"val_top1", r.val_top1}, {"val_top1_projected", projected_top1},
                      {"rho", rho}, {"gap", gap}, {"predicted_bytes", fixed + p.predicted_bytes}, {"seconds", r.seconds}});
      context.note(fmt::format("ADMM {} epoch {}/{}: ||W - V|| / ||W|| = {:.4f}, rho {:.3g}, val top-1 {:.2f}% (W), "
                               "{:.2f}% (V, {} bytes)",
                               phase, r.epoch, r.epochs, gap, rho, 100 * r.val_top1, 100 * projected_top1,
                               fixed + p.predicted_bytes));
      rho = std::min(rho * o.rho_growth, max_rho);
    };
    admm_resumed += train::train(*engine, context.splits(), to, context.control(), on_epoch).resumed_epochs;
  };
  // A phase whose loss diverges (folded BatchNorm makes some networks diverge at a learning rate
  // that trains others) starts again from its first weights at a third of the learning rate.
  double admm_lr = o.lr;
  auto admm_phase = [&](const std::string& phase, int epochs, const std::map<std::string, at::Tensor>& masks,
                        const Projector& projector) {
    if (epochs <= 0 || context.stop_requested()) return;
    std::vector<at::Tensor> start;  // every weight the trainer may change, not only the compressed ones
    for (std::size_t i = 0; i < engine->weights().size(); ++i) start.push_back(engine->weights().at(i).detach().clone());
    const auto start_options = options;
    const auto start_log = admm.size();
    double& lr = admm_lr;  // a rate that diverged in one phase is not tried again in the next
    for (int attempt = 0;; ++attempt) {
      try {
        admm_attempt(phase, epochs, masks, projector, lr, attempt);
        phase_lr[phase] = lr;
        return;
      } catch (const train::Diverged& e) {
        NNC_CHECK_CODE(attempt < 3, kTargetMissed, "fit: ADMM {} phase: {} (also at learning rates down to {:.3g})", phase,
                       e.what(), lr);
        context.note(fmt::format("fit: ADMM {} phase: {}: starting the phase again at learning rate {:.3g}", phase,
                                 e.what(), lr / 3));
        torch::NoGradGuard ng;
        for (std::size_t i = 0; i < start.size(); ++i) engine->weights().at(i).detach().copy_(start[i]);
        options = start_options;
        admm.erase(admm.begin() + static_cast<std::ptrdiff_t>(start_log), admm.end());
        lr /= 3;
      }
    }
  };
  admm_phase("joint", o.epochs, held_zeros, [&](const std::vector<std::vector<float>>& v, int e) {
    // While the budget shrinks, the table is measured again on the weights ADMM has moved (W + U):
    // what one-shot pruning costs falls as the pruned weights shrink. From the cap on it is held.
    if (o.remeasure && o.distortion == "output" && e >= 1 && e <= anneal_epochs) options = option_table(v);
    return project(v, budget_at(e), grid, options, o.allocation == "uniform");
  });
  std::vector<fit::LayerOption> chosen;  // the options held by the quantisation phase
  if (o.masked_epochs > 0 && !context.stop_requested()) {
    // The sparsity and bit widths of the projection at the cap, held from here on.
    const auto w = weights_now();
    const auto at_cap = project(w, budget, grid, options, o.allocation == "uniform");
    std::map<std::string, at::Tensor> masks;
    for (std::size_t l = 0; l < names.size(); ++l) {
      chosen.push_back({at_cap.layers[l].kept, at_cap.layers[l].bits, 0, at_cap.bytes[l]});
      if (at_cap.layers[l].kept == static_cast<int64_t>(w[l].size())) continue;
      std::vector<float> m(w[l].size());
      for (std::size_t i = 0; i < m.size(); ++i) m[i] = at_cap.layers[l].level[i] != at_cap.layers[l].levels.size();
      masks[names[l]] = as_tensor(m, engine->weights().get(names[l]).sizes());
    }
    admm_phase("quantise", o.masked_epochs, masks, [&](const std::vector<std::vector<float>>& v, int) {
      return fit::project_to_options({v.begin(), v.end()}, chosen);
    });
  }

  // The hard projection of W; over the cap in the real file, again with the overshoot taken off.
  const auto w = weights_now();
  fit::JointProjection p;
  int64_t real = 0;
  for (int attempt = 0;; ++attempt) {
    p = attempt == 0 && !chosen.empty() ? fit::project_to_options({w.begin(), w.end()}, chosen)
                                        : project(w, budget, grid, options, o.allocation == "uniform");
    install(model, *engine, layers, p);
    real = static_cast<int64_t>(pack_nnc(model).bytes.size());
    if (real <= cap) break;
    NNC_CHECK_CODE(attempt < 8, kInternal, "fit: the file stays over the cap ({} > {}) after {} projections", real, cap,
                   attempt + 1);
    // The options' bytes were measured on earlier weights, so the knapsack's choice can stay the
    // same under a budget a few bytes tighter: the next budget is below what this choice claims
    // by the overshoot, doubled at every further attempt (a LeNet-300 fit stayed 6 bytes over
    // through nine projections when only the budget shrank by them).
    const int64_t cut = (real - cap) << attempt;
    context.note(fmt::format("fit: {} bytes in the file against {} predicted: projecting again {} bytes tighter", real,
                             fixed + p.predicted_bytes, cut));
    budget = std::min(budget, p.predicted_bytes) - cut;
  }
  const double projected = context.test().evaluate(*engine).top1;
  context.note(fmt::format("fit: hard projection: {} bytes (predicted {}), test top-1 {:.2f}%", real,
                           fixed + p.predicted_bytes, 100 * projected));

  nlohmann::json tuned = nullptr;
  if (o.finetune.epochs > 0 && !context.stop_requested())
    tuned = finetune_engine(*engine, model, context, o.finetune, context.seed() + 1, teacher.get());
  const auto packed = pack_nnc(model);
  NNC_CHECK_CODE(static_cast<int64_t>(packed.bytes.size()) <= cap, kInternal,
                 "fit: fine-tuning changed the file's size to {} bytes, over the cap of {}", packed.bytes.size(), cap);
  const double after = context.test().evaluate(*engine).top1;

  nlohmann::json table = nlohmann::json::array();
  for (std::size_t l = 0; l < layers.size(); ++l) {
    const auto& pl = p.layers[l];
    table.push_back({{"layer", layers[l].label}, {"weight", layers[l].name}, {"params", layers[l].params},
                     {"kept", pl.kept}, {"density", static_cast<double>(pl.kept) / static_cast<double>(layers[l].params)},
                     {"bits", pl.bits}, {"levels", pl.levels.size()}, {"bytes", p.bytes[l]}});
  }
  const auto fp32 = model.original_fp32_bytes();
  nlohmann::json out{{"step", "fit"},
          {"size_cap", cap},
          {"folded_batchnorm", folded_bn},
          {"fixed_bytes", fixed},
          {"predicted_bytes", fixed + p.predicted_bytes},
          {"nnc_bytes", packed.bytes.size()},
          {"ratio", static_cast<double>(fp32) / static_cast<double>(packed.bytes.size())},
          {"top1_before", before},
          {"top1_projected", projected},
          {"top1_after", after},
          {"drop_pt", 100 * (before - after)},
          {"layers", table},
          {"admm", admm},
          {"admm_epochs_resumed", admm_resumed},
          {"admm_lr", phase_lr},
          {"finetune", tuned},
          {"stopped", context.stop_requested()},
          {"seconds", seconds_since(t0)}};
  if (!o.report_dir.empty()) fit::write_fit_report(o.report_dir, out);
  return out;
}

}  // namespace nnc::compress
