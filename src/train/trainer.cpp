#include "nncompress/train/trainer.hpp"

#include <torch/torch.h>

#include <chrono>
#include <cmath>
#include <sstream>

#include "nncompress/core/error.hpp"
#include "nncompress/core/files.hpp"
#include "nncompress/data/evaluate.hpp"
#include "nncompress/exec/engine.hpp"
#include "nncompress/train/data_parallel.hpp"

namespace nnc::train {
namespace {

double lr_at(const TrainOptions& o, double progress) {
  if (o.schedule == "constant") return o.lr;
  if (o.schedule == "cosine") return o.lr * 0.5 * (1 + std::cos(M_PI * progress));
  // One-cycle: linear warm-up over the first 15% from lr/10, then cosine to lr/1000.
  const double warm = 0.15;
  if (progress < warm) return o.lr * (0.1 + 0.9 * progress / warm);
  double p = (progress - warm) / (1 - warm);
  return o.lr * (0.001 + 0.999 * 0.5 * (1 + std::cos(M_PI * p)));
}

// Per-sample random crop (2-pixel padding) and horizontal flip.
at::Tensor augment(const at::Tensor& x, float pad_value, at::Generator& gen) {
  if (x.dim() != 4) return x;
  const int64_t n = x.size(0), h = x.size(2), w = x.size(3);
  auto padded = at::constant_pad_nd(x, {2, 2, 2, 2}, pad_value);
  auto offsets = at::randint(0, 5, {n, 2}, gen, at::kLong);
  auto flips = at::randint(0, 2, {n}, gen, at::kLong);
  auto out = at::empty_like(x);
  auto off = offsets.accessor<int64_t, 2>();
  auto fl = flips.accessor<int64_t, 1>();
  for (int64_t i = 0; i < n; ++i) {
    auto crop = padded[i].narrow(1, off[i][0], h).narrow(2, off[i][1], w);
    out[i].copy_(fl[i] ? crop.flip({2}) : crop);
  }
  return out;
}

// What the epochs after `epoch` read: restored, they train exactly as if never stopped.
struct EpochState {
  int epoch = 0;
  int64_t step = 0;
  int best_epoch = 0;
  double best_val_top1 = -1;
};

void save_checkpoint(const std::filesystem::path& path, const EpochState& st, exec::Engine& engine,
                     const std::vector<at::Tensor>& codebooks, const std::vector<at::Tensor>& best,
                     const std::vector<at::Tensor>& best_codebooks, torch::optim::Optimizer& opt,
                     at::Generator& gen, const std::vector<at::Tensor>& extra) {
  torch::serialize::OutputArchive ar;
  ar.write("extra_count", torch::tensor({static_cast<int64_t>(extra.size())}));
  for (std::size_t i = 0; i < extra.size(); ++i) ar.write(fmt::format("extra{}", i), extra[i].detach());
  ar.write("meta", torch::tensor({int64_t{st.epoch}, st.step, int64_t{st.best_epoch},
                                  static_cast<int64_t>(engine.weights().size()), static_cast<int64_t>(codebooks.size()),
                                  static_cast<int64_t>(best.size()), static_cast<int64_t>(best_codebooks.size())}));
  ar.write("best_val_top1", torch::tensor({st.best_val_top1}, torch::kDouble));
  for (std::size_t i = 0; i < engine.weights().size(); ++i) ar.write(fmt::format("w{}", i), engine.weights().at(i).detach());
  for (std::size_t c = 0; c < codebooks.size(); ++c) ar.write(fmt::format("cb{}", c), codebooks[c].detach());
  for (std::size_t i = 0; i < best.size(); ++i) ar.write(fmt::format("best{}", i), best[i]);
  for (std::size_t c = 0; c < best_codebooks.size(); ++c) ar.write(fmt::format("bestcb{}", c), best_codebooks[c]);
  ar.write("generator", gen.get_state());
  auto default_generator = at::detail::getDefaultCPUGenerator();  // shares the global generator
  ar.write("default_generator", default_generator.get_state());
  torch::serialize::OutputArchive optimizer;
  opt.save(optimizer);
  ar.write("optimizer", optimizer);
  std::ostringstream bytes;
  ar.save_to(bytes);
  write_file_atomic(path, bytes.str());
}

// Restores a checkpoint written by save_checkpoint for the same model and options; throws when
// it does not fit (then nothing has been changed).
EpochState load_checkpoint(const std::filesystem::path& path, exec::Engine& engine, std::vector<at::Tensor>& codebooks,
                           std::vector<at::Tensor>& best, std::vector<at::Tensor>& best_codebooks,
                           torch::optim::Optimizer& opt, at::Generator& gen, int epochs,
                           const std::function<void(const std::vector<at::Tensor>&)>& load_extra) {
  torch::serialize::InputArchive ar;
  ar.load_from(path.string());
  at::Tensor meta, best_top1, state, default_state;
  ar.read("meta", meta);
  ar.read("best_val_top1", best_top1);
  NNC_CHECK(meta.numel() == 7 && best_top1.numel() == 1, "not a training checkpoint");
  const auto m = meta.to(torch::kLong).contiguous();
  const int64_t* v = m.data_ptr<int64_t>();
  EpochState st{static_cast<int>(v[0]), v[1], static_cast<int>(v[2]), best_top1.item<double>()};
  NNC_CHECK(st.epoch >= 1 && st.epoch <= epochs, "epoch {} of {}", st.epoch, epochs);
  NNC_CHECK(v[3] == static_cast<int64_t>(engine.weights().size()) && v[4] == static_cast<int64_t>(codebooks.size()),
            "{} weights and {} codebooks for {} and {}", v[3], v[4], engine.weights().size(), codebooks.size());
  auto read = [&](const std::string& key, const at::Tensor& like) {
    at::Tensor t;
    ar.read(key, t);
    NNC_CHECK(t.sizes() == like.sizes() && t.scalar_type() == like.scalar_type(), "{}: shape or type differs", key);
    return t;
  };
  std::vector<at::Tensor> weights, cbs, new_best, new_best_cb;
  for (std::size_t i = 0; i < engine.weights().size(); ++i) weights.push_back(read(fmt::format("w{}", i), engine.weights().at(i)));
  for (std::size_t c = 0; c < codebooks.size(); ++c) cbs.push_back(read(fmt::format("cb{}", c), codebooks[c]));
  for (int64_t i = 0; i < v[5]; ++i) new_best.push_back(read(fmt::format("best{}", i), weights.at(static_cast<std::size_t>(i))));
  for (int64_t c = 0; c < v[6]; ++c) new_best_cb.push_back(read(fmt::format("bestcb{}", c), cbs.at(static_cast<std::size_t>(c))));
  ar.read("generator", state);
  ar.read("default_generator", default_state);
  std::vector<at::Tensor> extra;
  at::Tensor extra_count;
  if (ar.try_read("extra_count", extra_count)) {
    NNC_CHECK(extra_count.numel() == 1, "not a training checkpoint");
    for (int64_t i = 0; i < extra_count.item<int64_t>(); ++i) {
      at::Tensor t;
      ar.read(fmt::format("extra{}", i), t);
      extra.push_back(t);
    }
  }
  NNC_CHECK(extra.empty() || load_extra, "it holds a caller's state that nothing reads");
  torch::serialize::InputArchive optimizer;
  ar.read("optimizer", optimizer);
  opt.load(optimizer);
  if (load_extra) load_extra(extra);  // checks, then takes the caller's state
  // Everything read and checked: now in place (the optimizer and the engine hold these tensors).
  torch::NoGradGuard ng;
  for (std::size_t i = 0; i < weights.size(); ++i) engine.weights().at(i).detach().copy_(weights[i]);
  for (std::size_t c = 0; c < cbs.size(); ++c) codebooks[c].detach().copy_(cbs[c]);
  best = std::move(new_best);
  best_codebooks = std::move(new_best_cb);
  gen.set_state(state);
  auto default_generator = at::detail::getDefaultCPUGenerator();  // shares the global generator
  default_generator.set_state(default_state);
  return st;
}

}  // namespace

TrainResult train(exec::Engine& engine, const data::Splits& splits, const TrainOptions& o, const Control& control,
                  const std::function<void(const EpochReport&)>& on_epoch) {
  NNC_CHECK_OPTION(o.epochs >= 1, "epochs", "{}: must be at least 1", o.epochs);
  NNC_CHECK_OPTION(o.lr > 0, "lr", "{}: must be positive", o.lr);
  NNC_CHECK_OPTION(o.batch >= 1, "batch", "{}: must be at least 1", o.batch);
  NNC_CHECK_OPTION(o.distill >= 0 && o.distill <= 1, "distill", "{}: must be in [0, 1]", o.distill);
  NNC_CHECK_OPTION(o.temperature > 0, "temperature", "{}: must be positive", o.temperature);
  NNC_CHECK(splits.train.size() > 0, "empty training set");
  auto start = std::chrono::steady_clock::now();
  auto gen = at::make_generator<at::CPUGeneratorImpl>(o.seed);
  torch::manual_seed(o.seed);

  engine.set_training(true);
  std::vector<at::Tensor> params;
  std::vector<std::string> names;
  // Shared weights are trained through their codebooks: the codebook values are the parameters.
  struct Shared {
    at::Tensor values;                                   // leaf, requires grad
    struct Use {
      at::Tensor weight, indices;  // weight leaf, flat int64 indices
      float scale = 1.0f;          // weight = entry value x scale
    };
    std::vector<Use> uses;
    int64_t frozen = -1;
    at::Tensor frozen_value;
    bool fixed = false;
  };
  std::vector<Shared> shared;
  std::map<std::string, std::pair<std::size_t, at::Tensor>> shared_of;  // weight -> (codebook, indices)
  for (std::size_t c = 0; c < o.codebooks.size(); ++c)
    for (const auto& [name, idx] : o.codebooks[c].indices) shared_of[name] = {c, idx.reshape({-1}).to(at::kLong)};
  shared.resize(o.codebooks.size());
  for (std::size_t c = 0; c < o.codebooks.size(); ++c) {
    auto& s = shared[c];
    s.fixed = o.codebooks[c].fixed;
    s.values = o.codebooks[c].values.detach().to(at::kFloat).clone().requires_grad_(!s.fixed);
    s.frozen = o.codebooks[c].frozen_entry;
    NNC_CHECK_CODE(s.frozen < s.values.numel(), kInternal, "codebook {}: frozen entry {} of {}", c, s.frozen,
                   s.values.numel());
    if (s.frozen >= 0) s.frozen_value = s.values.detach()[s.frozen].clone();
  }
  {
    auto all = engine.trainable();
    auto all_names = engine.trainable_names();
    for (std::size_t i = 0; i < all.size(); ++i) {
      if (all[i].dim() == 0) continue;  // scalar constants (e.g. Clip bounds) are not learned
      auto it = shared_of.find(all_names[i]);
      if (it != shared_of.end()) {
        NNC_CHECK_CODE(it->second.second.numel() == all[i].numel(), kInternal, "weight '{}': {} indices for {} elements",
                       all_names[i], it->second.second.numel(), all[i].numel());
        const auto& scales = o.codebooks[it->second.first].scales;
        const auto scale = scales.find(all_names[i]);
        shared[it->second.first].uses.push_back({all[i], it->second.second, scale == scales.end() ? 1.0f : scale->second});
        continue;
      }
      params.push_back(all[i]);
      names.push_back(all_names[i]);
    }
  }
  for (std::size_t c = 0; c < shared.size(); ++c) {
    NNC_CHECK_CODE(shared[c].uses.size() == o.codebooks[c].indices.size(), kInternal,
                   "codebook {}: some of its weights are not trainable weights of the model", c);
    if (shared[c].fixed) continue;
    params.push_back(shared[c].values);
    names.push_back(fmt::format("codebook {}", c));
  }
  // Writes every shared weight from its codebook.
  auto write_shared = [&] {
    torch::NoGradGuard ng;
    for (auto& s : shared) {
      if (s.frozen >= 0) s.values[s.frozen].copy_(s.frozen_value);
      for (auto& u : s.uses) {
        auto v = s.values.index_select(0, u.indices);
        if (u.scale != 1.0f) v = v * u.scale;  // in float, as the writers compute it
        u.weight.copy_(v.view_as(u.weight));
      }
    }
  };
  // Each entry's gradient: the sum of the gradients of the weights that use it.
  auto gather_shared_grads = [&] {
    for (auto& s : shared) {
      auto g = at::zeros_like(s.values);
      for (auto& u : s.uses) {
        if (!u.weight.grad().defined()) continue;
        auto wg = u.weight.grad().reshape({-1});
        g.index_add_(0, u.indices, u.scale != 1.0f ? wg * u.scale : wg);
        u.weight.mutable_grad().reset();
      }
      if (s.fixed) continue;
      if (s.frozen >= 0) g[s.frozen].zero_();
      s.values.mutable_grad() = g;
    }
  };
  write_shared();
  std::vector<at::Tensor> masks(params.size());
  for (std::size_t i = 0; i < params.size(); ++i) {
    auto it = o.masks.find(names[i]);
    if (it != o.masks.end()) {
      masks[i] = it->second.to(params[i].scalar_type());
      torch::NoGradGuard ng;
      params[i].mul_(masks[i]);
    }
  }
  std::unique_ptr<torch::optim::Optimizer> opt;
  if (o.optimizer == "sgd") {
    opt = std::make_unique<torch::optim::SGD>(
        params, torch::optim::SGDOptions(o.lr).momentum(0.9).nesterov(true).weight_decay(o.weight_decay));
  } else if (o.optimizer == "adam") {
    opt = std::make_unique<torch::optim::Adam>(params, torch::optim::AdamOptions(o.lr).weight_decay(o.weight_decay));
  } else if (o.optimizer == "adamw") {
    opt = std::make_unique<torch::optim::AdamW>(params, torch::optim::AdamWOptions(o.lr).weight_decay(o.weight_decay));
  } else {
    fail_option("optimizer", "'{}': unknown (sgd, adam, adamw)", o.optimizer);
  }

  const int64_t n = splits.train.size();
  const int64_t steps_per_epoch = (n + o.batch - 1) / o.batch;
  const int64_t total_steps = steps_per_epoch * o.epochs;
  data::Evaluator val(splits.val, o.eval_batch);
  TrainResult result;
  result.best_val_top1 = -1;
  std::vector<at::Tensor> best;
  int64_t step = 0;
  std::vector<at::Tensor> best_codebooks;
  std::vector<at::Tensor> codebook_values;
  for (const auto& s : shared) codebook_values.push_back(s.values);
  int first_epoch = 1;
  if (!o.checkpoint.empty() && std::filesystem::exists(o.checkpoint)) {
    try {
      const auto st =
          load_checkpoint(o.checkpoint, engine, codebook_values, best, best_codebooks, *opt, gen, o.epochs, o.load_extra);
      write_shared();
      first_epoch = st.epoch + 1;
      step = st.step;
      result.epochs_run = result.resumed_epochs = st.epoch;
      result.best_epoch = st.best_epoch;
      result.best_val_top1 = st.best_val_top1;
      control.note(fmt::format("resuming after epoch {}/{} from {}", st.epoch, o.epochs, o.checkpoint.string()));
    } catch (const std::exception& e) {
      control.note(fmt::format("{}: not used ({}); training from the start", o.checkpoint.string(), e.what()));
    }
  }
  // With other ranks (mpirun), every step's batch is shared out (data_parallel.hpp).
  DataParallel parallel(engine, o.teacher, o.distill, o.temperature);
  if (parallel.active()) control.note(fmt::format("training data-parallel on {} ranks", parallel.ranks()));
  for (int epoch = first_epoch; epoch <= o.epochs && !control.stop_requested(); ++epoch) {
    auto epoch_start = std::chrono::steady_clock::now();
    engine.set_training(true);
    auto perm = at::randperm(n, gen, at::kLong);
    double loss_sum = 0;
    int64_t seen = 0;
    Progress progress(control.reporter, fmt::format("epoch {}/{}", epoch, o.epochs), steps_per_epoch);
    int64_t b = 0;
    for (; b < steps_per_epoch && !control.stop_requested(); ++b, ++step) {
      auto idx = perm.narrow(0, b * o.batch, std::min(o.batch, n - b * o.batch));
      auto x = splits.train.images.index_select(0, idx);
      auto y = splits.train.labels.index_select(0, idx);
      if (o.augment) x = augment(x, o.pad_value, gen);
      const double lr = lr_at(o, static_cast<double>(step) / static_cast<double>(total_steps));
      for (auto& group : opt->param_groups()) group.options().set_lr(lr);
      opt->zero_grad();
      at::Tensor loss;
      const double loss_value = parallel.active()
                                    ? parallel.gradients(x, y)
                                    : (loss = batch_loss(engine, x, y, o.teacher, o.distill, o.temperature)).item<double>();
      if (!std::isfinite(loss_value)) {
        engine.set_training(false);
        throw Diverged(fmt::format("training diverged: the loss is {} at epoch {}, step {} (learning rate {:.3g}); a "
                                   "lower learning rate may train",
                                   loss_value, epoch, b + 1, lr),
                       epoch, step);
      }
      if (loss.defined()) loss.backward();
      if (o.after_backward) o.after_backward();
      for (std::size_t i = 0; i < params.size(); ++i)
        if (masks[i].defined() && params[i].grad().defined()) params[i].grad().mul_(masks[i]);
      gather_shared_grads();
      opt->step();
      write_shared();
      if (std::any_of(masks.begin(), masks.end(), [](const at::Tensor& m) { return m.defined(); })) {
        torch::NoGradGuard ng;
        for (std::size_t i = 0; i < params.size(); ++i)
          if (masks[i].defined()) params[i].mul_(masks[i]);
      }
      loss_sum += loss_value * static_cast<double>(x.size(0));
      seen += x.size(0);
      progress.update(b + 1, fmt::format("loss {:.4f} lr {:.4g}", loss_sum / static_cast<double>(seen), lr));
    }
    engine.set_training(false);
    auto m = val.evaluate(engine);
    EpochReport r{epoch, o.epochs, loss_sum / std::max<double>(1.0, static_cast<double>(seen)), m.top1,
                  lr_at(o, static_cast<double>(step) / static_cast<double>(total_steps)),
                  std::chrono::duration<double>(std::chrono::steady_clock::now() - epoch_start).count()};
    control.note(fmt::format("epoch {}/{}: train loss {:.4f}, val top-1 {:.2f}%, {:.1f}s", epoch, o.epochs, r.train_loss,
                     100 * r.val_top1, r.seconds));
    result.epochs_run = epoch;
    if (m.top1 > result.best_val_top1) {
      result.best_val_top1 = m.top1;
      result.best_epoch = epoch;
      best.clear();
      for (std::size_t i = 0; i < engine.weights().size(); ++i) best.push_back(engine.weights().at(i).detach().clone());
      best_codebooks.clear();
      for (const auto& s : shared) best_codebooks.push_back(s.values.detach().clone());
    }
    if (on_epoch) on_epoch(r);
    if (!o.checkpoint.empty() && b == steps_per_epoch) {  // a whole epoch only
      try {
        save_checkpoint(o.checkpoint, {epoch, step, result.best_epoch, result.best_val_top1}, engine, codebook_values,
                        best, best_codebooks, *opt, gen, o.save_extra ? o.save_extra() : std::vector<at::Tensor>{});
      } catch (const std::exception& e) {
        // Only a rerun after a crash loses by this: it trains from the last checkpoint written.
        control.note(fmt::format("checkpoint not written: {}", e.what()));
      }
    }
  }
  engine.set_training(false);
  result.interrupted = control.stop_requested();
  const bool restore = o.keep_best && !best.empty();
  if (restore)
    for (std::size_t i = 0; i < best.size(); ++i) engine.weights().set(i, best[i]);
  result.codebook_values = restore ? best_codebooks : std::vector<at::Tensor>{};
  if (result.codebook_values.empty())
    for (const auto& s : shared) result.codebook_values.push_back(s.values.detach().clone());
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

}  // namespace nnc::train
