#pragma once
// Data-parallel training steps over the ranks of an MPI run (dist/cluster.hpp): each step's batch
// is cut into one contiguous shard per rank; rank 0 sends the current weights and the shards,
// every rank runs forward and backward on its shard, and rank 0 sets each trainable weight's
// gradient to the shard gradients weighted by shard size, and the loss likewise: the full
// batch's gradient up to the order of float additions. BatchNormalization in training mode
// normalises with each shard's own statistics (as PyTorch's DistributedDataParallel without
// SyncBatchNorm); models exported with BatchNorm folded have none.
#include <ATen/core/Tensor.h>

#include <memory>
#include <optional>

namespace nnc::exec {
class Engine;
}
namespace nnc::dist {
class Pool;
}

namespace nnc::train {

// The loss of one batch: cross-entropy, mixed with the teacher's distillation term when
// `teacher` is given and `distill` > 0 (TrainOptions).
at::Tensor batch_loss(exec::Engine& engine, const at::Tensor& x, const at::Tensor& y, exec::Engine* teacher,
                      double distill, double temperature);

class DataParallel {
 public:
  // Opens the "train.gradients" phase when there are other ranks (active() says); `engine` is in
  // training mode.
  DataParallel(exec::Engine& engine, exec::Engine* teacher, double distill, double temperature);
  ~DataParallel();
  bool active() const;
  int ranks() const;
  // One step's gradients: leaves every trainable weight's gradient set as the whole batch's,
  // returns the batch's mean loss.
  double gradients(const at::Tensor& x, const at::Tensor& y);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Registers the "train.gradients" task that the other ranks serve.
void register_distributed_tasks();

}  // namespace nnc::train
