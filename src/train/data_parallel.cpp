#include "nncompress/train/data_parallel.hpp"

#include <torch/torch.h>

#include "nncompress/core/error.hpp"
#include "nncompress/dist/cluster.hpp"
#include "nncompress/dist/model_archive.hpp"
#include "nncompress/dist/tensor_archive.hpp"
#include "nncompress/exec/engine.hpp"

namespace nnc::train {

at::Tensor batch_loss(exec::Engine& engine, const at::Tensor& x, const at::Tensor& y, exec::Engine* teacher,
                      double distill, double temperature) {
  auto logits = engine.as_logits(engine.run_single(x)).reshape({x.size(0), -1});
  auto loss = at::cross_entropy_loss(logits, y);
  if (teacher != nullptr && distill > 0) {
    // The teacher runs under InferenceMode; a clone makes its logits an ordinary constant.
    auto t = teacher->as_logits(teacher->run_single(x)).reshape({x.size(0), -1}).clone();
    auto log_pt = at::log_softmax(t / temperature, 1);
    auto kl = (log_pt.exp() * (log_pt - at::log_softmax(logits / temperature, 1))).sum(1).mean();
    loss = (1 - distill) * loss + distill * temperature * temperature * kl;
  }
  return loss;
}

namespace {

// The weights that train (float initializers of rank > 0, as train() takes them), in order.
std::vector<at::Tensor> trained(exec::Engine& engine) {
  std::vector<at::Tensor> out;
  for (auto& t : engine.trainable())
    if (t.dim() > 0) out.push_back(t);
  return out;
}

// One shard's forward and backward on `engine`: its mean loss and every trained weight's
// gradient (zeros where none flows).
std::string shard_gradients(exec::Engine& engine, exec::Engine* teacher, double distill, double temperature,
                            std::string_view item) {
  dist::ArchiveReader r(item);
  auto x = dist::get_tensor(r);
  auto y = dist::get_tensor(r);
  auto weights = trained(engine);
  for (auto& w : weights) w.mutable_grad().reset();
  auto loss = batch_loss(engine, x, y, teacher, distill, temperature);
  loss.backward();
  dist::ArchiveWriter w;
  w.put(loss.item<double>());
  for (auto& t : weights) dist::put_tensor(w, t.grad().defined() ? t.grad() : at::zeros_like(t));
  return w.take();
}

class LocalShard final : public dist::Task {
 public:
  LocalShard(exec::Engine& engine, exec::Engine* teacher, double distill, double temperature)
      : engine_(engine), teacher_(teacher), distill_(distill), temperature_(temperature) {}
  std::string evaluate(std::string_view item) override {
    return shard_gradients(engine_, teacher_, distill_, temperature_, item);
  }

 private:
  exec::Engine& engine_;
  exec::Engine* teacher_;
  double distill_, temperature_;
};

// Another rank's side of "train.gradients": the model (and teacher) from the state, the weights
// of each step from its update.
class GradientWorker final : public dist::Task {
 public:
  explicit GradientWorker(std::string_view state) {
    dist::ArchiveReader r(state);
    engine_ = std::make_unique<exec::Engine>(dist::get_model(r));
    if (r.get<uint8_t>()) teacher_ = std::make_unique<exec::Engine>(dist::get_model(r));
    distill_ = r.get<double>();
    temperature_ = r.get<double>();
    NNC_CHECK(r.done(), "distributed message: training state left over");
    engine_->set_training(true);
  }
  std::string evaluate(std::string_view item) override {
    return shard_gradients(*engine_, teacher_.get(), distill_, temperature_, item);
  }
  void update(std::string_view payload) override {  // the step's weights
    dist::ArchiveReader r(payload);
    torch::NoGradGuard ng;
    for (auto& w : trained(*engine_)) {
      auto v = dist::get_tensor(r);
      NNC_CHECK(v.sizes() == w.sizes(), "distributed message: a weight of {} elements for one of {}", v.numel(),
                w.numel());
      w.copy_(v);
    }
  }

 private:
  std::unique_ptr<exec::Engine> engine_, teacher_;
  double distill_ = 0, temperature_ = 4;
};

}  // namespace

struct DataParallel::Impl {
  exec::Engine& engine;
  LocalShard local;
  std::optional<dist::Pool> pool;
  Impl(exec::Engine& e, exec::Engine* teacher, double distill, double temperature)
      : engine(e), local(e, teacher, distill, temperature) {}
};

DataParallel::DataParallel(exec::Engine& engine, exec::Engine* teacher, double distill, double temperature)
    : impl_(std::make_unique<Impl>(engine, teacher, distill, temperature)) {
  if (dist::ranks() <= 1) return;
  const bool with_teacher = teacher != nullptr && distill > 0;
  impl_->pool.emplace(
      "train.gradients",
      [&] {
        dist::ArchiveWriter w;
        dist::put_model(w, engine.to_model());
        w.put<uint8_t>(with_teacher ? 1 : 0);
        if (with_teacher) dist::put_model(w, teacher->to_model());
        w.put(distill);
        w.put(temperature);
        return w.take();
      },
      impl_->local);
}

DataParallel::~DataParallel() = default;

bool DataParallel::active() const { return impl_->pool.has_value(); }
int DataParallel::ranks() const { return impl_->pool ? impl_->pool->ranks() : 1; }

double DataParallel::gradients(const at::Tensor& x, const at::Tensor& y) {
  NNC_CHECK(active(), "data-parallel step without other ranks");
  auto weights = trained(impl_->engine);
  {
    dist::ArchiveWriter w;
    for (const auto& t : weights) dist::put_tensor(w, t.detach());
    impl_->pool->update(w.take());
  }
  const int64_t n = x.size(0), parts = std::min<int64_t>(ranks(), n);
  std::vector<std::string> items;
  std::vector<double> share;
  for (int64_t k = 0; k < parts; ++k) {
    const int64_t begin = k * n / parts, end = (k + 1) * n / parts;
    dist::ArchiveWriter w;
    dist::put_tensor(w, x.narrow(0, begin, end - begin));
    dist::put_tensor(w, y.narrow(0, begin, end - begin));
    items.push_back(w.take());
    share.push_back(static_cast<double>(end - begin) / static_cast<double>(n));
  }
  const auto results = impl_->pool->map(items);
  std::vector<at::Tensor> sum(weights.size());
  double loss = 0;
  for (std::size_t k = 0; k < results.size(); ++k) {
    NNC_CHECK(results[k].has_value(), "data-parallel step: shard {} not computed", k);
    dist::ArchiveReader r(*results[k]);
    loss += share[k] * r.get<double>();
    for (std::size_t i = 0; i < weights.size(); ++i) {
      auto g = dist::get_tensor(r) * share[k];
      sum[i] = sum[i].defined() ? sum[i] + g : g;
    }
  }
  for (std::size_t i = 0; i < weights.size(); ++i) weights[i].mutable_grad() = sum[i];
  return loss;
}

void register_distributed_tasks() {
  dist::register_task("train.gradients", [](std::string_view state) { return std::make_unique<GradientWorker>(state); });
}

}  // namespace nnc::train
