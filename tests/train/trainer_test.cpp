#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>

#include "nncompress/exec/tensor_proto.hpp"
#include "nncompress/exec/engine.hpp"
#include "nncompress/onnx/graph_builder.hpp"
#include "nncompress/train/trainer.hpp"

using namespace nnc;

namespace {

onnx::ModelProto mlp(uint64_t seed) {
  torch::manual_seed(seed);
  onnxio::GraphBuilder b;
  b.add_input("x", {-1, 1, 4, 4});
  nnc::exec::add_initializer(b, "fc1.w", torch::randn({32, 16}) * 0.3);
  nnc::exec::add_initializer(b, "fc1.b", torch::zeros({32}));
  nnc::exec::add_initializer(b, "fc2.w", torch::randn({4, 32}) * 0.3);
  nnc::exec::add_initializer(b, "fc2.b", torch::zeros({4}));
  b.add_node("Flatten", {"x"}, {"f"});
  b.add_node("Gemm", {"f", "fc1.w", "fc1.b"}, {"h"}, {{"transB", int64_t{1}}}, "fc1");
  b.add_node("Relu", {"h"}, {"r"});
  b.add_node("Gemm", {"r", "fc2.w", "fc2.b"}, {"y"}, {{"transB", int64_t{1}}}, "fc2");
  b.add_output("y", {-1, 4});
  return b.build();
}

// Four classes, separable by the sign pattern of two input pixels.
data::Dataset make_data(int64_t n, uint64_t seed) {
  torch::manual_seed(seed);
  data::Dataset d;
  d.images = torch::randn({n, 1, 4, 4});
  auto flat = d.images.reshape({n, 16});
  d.labels = (flat.select(1, 0) > 0).to(torch::kLong) * 2 + (flat.select(1, 5) > 0).to(torch::kLong);
  d.num_classes = 4;
  return d;
}

// Training and validation splits of the task (seeds 1 and 2).
data::Splits make_splits(int64_t train, int64_t val) {
  data::Splits s;
  s.train = make_data(train, 1);
  s.val = make_data(val, 2);
  return s;
}

train::TrainOptions options() {
  train::TrainOptions o;
  o.epochs = 6;
  o.lr = 0.01;
  o.optimizer = "adamw";
  o.weight_decay = 0;
  o.schedule = "cosine";
  o.batch = 32;
  o.augment = false;
  return o;
}

double accuracy(exec::Engine& e, const at::Tensor& x, const at::Tensor& y) {
  return e.run_single(x).argmax(1).eq(y).to(torch::kFloat).mean().item<double>();
}

}  // namespace

TEST(Trainer, LearnsASeparableTaskAndKeepsMaskedWeightsAtZero) {
  const auto s = make_splits(2000, 500);
  exec::Engine e(mlp(0));
  const double before = accuracy(e, s.val.images, s.val.labels);
  auto o = options();
  auto mask = (torch::rand({32, 16}) > 0.5).to(torch::kFloat);
  o.masks["fc1.w"] = mask;
  auto r = train::train(e, s, o);
  EXPECT_EQ(r.epochs_run, 6);
  const double after = accuracy(e, s.val.images, s.val.labels);
  EXPECT_GT(after, 0.9) << "before " << before;
  EXPECT_NEAR(r.best_val_top1, after, 1e-6);
  EXPECT_EQ(e.weights().get("fc1.w").mul(1 - mask).abs().sum().item<double>(), 0.0);
}

TEST(Trainer, DistillationFollowsTheTeacherInsteadOfTheLabels) {
  // The teacher learns the task; the students see random labels. With distill = 1 the student
  // learns the teacher's function; with distill = 0 it learns noise.
  const auto s = make_splits(2000, 500);
  exec::Engine teacher(mlp(0));
  train::train(teacher, s, options());
  const double teacher_acc = accuracy(teacher, s.val.images, s.val.labels);
  ASSERT_GT(teacher_acc, 0.9);

  data::Splits noisy = s;
  noisy.train.labels = torch::randint(0, 4, {2000}, torch::kLong);
  auto agreement = [&](double distill) {
    exec::Engine student(mlp(7));
    auto o = options();
    o.teacher = &teacher;
    o.distill = distill;
    train::train(student, noisy, o);
    auto t = teacher.run_single(s.val.images).argmax(1);
    return student.run_single(s.val.images).argmax(1).eq(t).to(torch::kFloat).mean().item<double>();
  };
  const double with = agreement(1.0), without = agreement(0.0);
  EXPECT_GT(with, 0.85);
  EXPECT_LT(without, 0.6);
}

TEST(Trainer, RejectsABadDistillationWeight) {
  const auto s = make_splits(64, 32);
  exec::Engine e(mlp(0));
  auto o = options();
  o.distill = 1.5;
  EXPECT_THROW(train::train(e, s, o), std::exception);
}

// A loss that becomes NaN or infinite stops training with Diverged (naming the epoch, step and
// learning rate) instead of training on and leaving NaN weights.
TEST(Trainer, ADivergingLossThrowsInsteadOfTrainingOn) {
  const auto s = make_splits(256, 32);
  exec::Engine e(mlp(0));
  auto o = options();
  o.optimizer = "sgd";
  o.lr = 1e6;
  try {
    train::train(e, s, o);
    FAIL() << "a learning rate of 1e6 trained without diverging";
  } catch (const train::Diverged& d) {
    EXPECT_EQ(d.epoch, 1);
    EXPECT_LT(d.step, 8);
    EXPECT_NE(std::string(d.what()).find("training diverged: the loss is"), std::string::npos) << d.what();
  }
  // The same task at a sane learning rate trains.
  exec::Engine ok(mlp(0));
  EXPECT_NO_THROW(train::train(ok, s, options()));
}

// A run stopped after epoch 2 of 4 (as if killed: a fresh engine, only the checkpoint left) and
// started again ends with the same weights, bit for bit, as one that never stopped: masks,
// augmentation (the generator's state), AdamW's moments and a trained codebook included.
TEST(Trainer, ResumesFromAnEpochCheckpointToTheSameWeights) {
  const auto s = make_splits(500, 200);
  auto o = options();
  o.epochs = 4;
  o.augment = true;
  o.masks["fc1.w"] = (torch::rand({32, 16}, torch::TensorOptions().dtype(torch::kFloat)) > 0.5).to(torch::kFloat);
  train::SharedCodebook cb;
  cb.values = torch::linspace(-0.5, 0.5, 8);
  cb.indices["fc2.w"] = torch::randint(0, 8, {4, 32}, torch::kLong);
  o.codebooks.push_back(cb);
  const auto model = mlp(3);
  auto weights_after = [&](const train::TrainOptions& opts, int stop_after_epoch, train::TrainResult* result) {
    exec::Engine e(model);
    StopSource stop;
    Control control{stop.token()};
    auto r = train::train(e, s, opts, control, [&](const train::EpochReport& ep) {
      if (ep.epoch == stop_after_epoch) stop.request_stop();
    });
    if (result) *result = r;
    std::vector<at::Tensor> w;
    for (std::size_t i = 0; i < e.weights().size(); ++i) w.push_back(e.weights().at(i).clone());
    w.push_back(r.codebook_values.at(0));
    return w;
  };
  const auto whole = weights_after(o, 0, nullptr);
  const auto dir = std::filesystem::temp_directory_path() / "nnc_trainer_resume";
  std::filesystem::remove_all(dir);
  o.checkpoint = dir / "run.ckpt";
  train::TrainResult first, second;
  weights_after(o, 2, &first);
  ASSERT_TRUE(first.interrupted);
  ASSERT_TRUE(std::filesystem::exists(o.checkpoint));
  const auto resumed = weights_after(o, 0, &second);
  EXPECT_EQ(second.resumed_epochs, 2);
  EXPECT_EQ(second.epochs_run, 4);
  EXPECT_FALSE(second.interrupted);
  ASSERT_EQ(resumed.size(), whole.size());
  for (std::size_t i = 0; i < whole.size(); ++i) EXPECT_TRUE(torch::equal(resumed[i], whole[i])) << "tensor " << i;
  std::filesystem::remove_all(dir);
  // A checkpoint of another model is not used: training starts from the start.
  std::filesystem::create_directories(dir);
  {
    std::ofstream(o.checkpoint) << "not a checkpoint";
  }
  train::TrainResult third;
  const auto fresh = weights_after(o, 0, &third);
  EXPECT_EQ(third.resumed_epochs, 0);
  EXPECT_TRUE(torch::equal(fresh[0], whole[0]));
  std::filesystem::remove_all(dir);
}
