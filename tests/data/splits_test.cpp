#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>

#include "nncompress/core/error.hpp"
#include "nncompress/data/dataset.hpp"
#include "nncompress/data/model_data.hpp"
#include "nncompress/data/npy.hpp"

namespace fs = std::filesystem;
using namespace nnc;

namespace {
data::DataSource synthetic(int64_t n = 600) {
  data::DataSource s;
  s.train_x = torch::rand({n, 1, 4, 4});
  s.train_y = torch::arange(n) % 10;
  s.test_x = torch::rand({50, 1, 4, 4});
  s.test_y = torch::arange(50) % 10;
  s.num_classes = 10;
  return s;
}
}  // namespace

TEST(Splits, HoldOutValCalibAreDisjointFromTrainAndBalanced) {
  auto s = synthetic();
  data::SplitOptions o{200, 100, 64, 7};
  auto sp = data::make_splits(s, {}, o);
  EXPECT_EQ(sp.train.size(), 400);
  EXPECT_EQ(sp.val.size(), 100);
  EXPECT_EQ(sp.calib.size(), 64);
  EXPECT_EQ(sp.test.size(), 50);
  EXPECT_EQ(sp.holdout.size(), 200);
  EXPECT_TRUE(torch::equal(sp.holdout.images, s.train_x.narrow(0, 400, 200)));
  EXPECT_TRUE(torch::equal(torch::bincount(sp.val.labels), torch::full({10}, 10, torch::kLong)));
  // Val and calib images come only from the last 200 training images.
  auto held = s.train_x.narrow(0, 400, 200).reshape({200, -1});
  for (int64_t i = 0; i < sp.val.size(); ++i) {
    auto row = sp.val.images[i].reshape({1, -1});
    EXPECT_TRUE((held == row).all(1).any().item<bool>());
  }
  // Deterministic by seed, different with another seed.
  auto again = data::make_splits(s, {}, o);
  EXPECT_TRUE(torch::equal(again.calib.images, sp.calib.images));
  o.seed = 8;
  EXPECT_FALSE(torch::equal(data::make_splits(s, {}, o).calib.images, sp.calib.images));
}

TEST(Splits, NormalisationPerChannel) {
  auto x = torch::ones({2, 3, 2, 2});
  auto y = data::normalise(x, {{0.5f, 0.0f, 1.0f}, {0.5f, 2.0f, 1.0f}});
  EXPECT_FLOAT_EQ(y[0][0][0][0].item<float>(), 1.0f);
  EXPECT_FLOAT_EQ(y[0][1][0][0].item<float>(), 0.5f);
  EXPECT_FLOAT_EQ(y[0][2][0][0].item<float>(), 0.0f);
  EXPECT_THROW(data::normalise(x, {{0.5f, 0.5f}, {1.f, 1.f}}), Error);
}

TEST(Splits, PixelsStayUint8UntilNormalisedWithTheSameArithmetic) {
  auto raw = torch::randint(0, 256, {5, 3, 4, 4}).to(torch::kByte);
  data::Normalisation n{{0.2860f, 0.5f, 0.1f}, {0.3530f, 0.25f, 2.0f}};
  auto from_bytes = data::normalise(raw, n);
  EXPECT_EQ(from_bytes.scalar_type(), torch::kFloat);
  EXPECT_TRUE(from_bytes.is_contiguous());
  // Bit-identical to dividing by 255 first and normalising the floats.
  EXPECT_TRUE(torch::equal(from_bytes, data::normalise(raw.to(torch::kFloat) / 255.0, n)));
  EXPECT_TRUE(torch::equal(data::pixels(raw), raw.to(torch::kFloat) / 255.0));
  // A permuted (NHWC-read) uint8 view is handled too.
  auto nhwc = raw.permute({0, 2, 3, 1}).contiguous().permute({0, 3, 1, 2});
  EXPECT_TRUE(torch::equal(data::normalise(nhwc, n), from_bytes));
}

TEST(Splits, BadSizesAndMissingDataAreClearErrors) {
  auto s = synthetic();
  try {
    data::make_splits(s, {}, {200, 300, 64, 0});
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), "val 300: must be between 1 and the 200 held-out images");
  }
  // Class-balanced validation is bounded by the smallest class: the error names it and the limit.
  auto skewed = synthetic();
  skewed.train_y.narrow(0, 400, 200).masked_fill_(skewed.train_y.narrow(0, 400, 200) == 3, 4);
  skewed.train_y[400 + 3] = 3;  // class 3 keeps 3 of its 20 held-out images, class 4 gets the rest
  skewed.train_y[400 + 13] = 3;
  skewed.train_y[400 + 23] = 3;
  try {
    data::make_splits(skewed, {}, {200, 100, 64, 0});
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()),
              "val 100: the validation set is class-balanced and class 3 has only 3 held-out images; use 30 or less");
  }
  EXPECT_EQ(data::make_splits(skewed, {}, {200, 30, 64, 0}).val.size(), 30);
  try {
    data::load_data("/nonexistent-dir");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), "data /nonexistent-dir: no such directory");
  }
  fs::path dir = fs::temp_directory_path() / "nnc_npy_data";
  fs::create_directories(dir);
  data::write_npy(dir / "train_x.npy", torch::randint(0, 255, {20, 4, 4}).to(torch::kByte));
  data::write_npy(dir / "train_y.npy", torch::arange(19) % 3);
  data::write_npy(dir / "test_x.npy", torch::randint(0, 255, {5, 4, 4}).to(torch::kByte));
  data::write_npy(dir / "test_y.npy", torch::arange(5) % 3);
  try {
    data::load_data(dir.string());
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), dir.string() + " (train): 20 images but 19 labels");
  }
  data::write_npy(dir / "train_y.npy", torch::arange(20) % 3);
  auto ok = data::load_data(dir.string());
  EXPECT_EQ(ok.num_classes, 3);
  EXPECT_EQ(ok.train_x.sizes(), (std::vector<int64_t>{20, 1, 4, 4}));
  EXPECT_EQ(ok.train_x.scalar_type(), torch::kByte);  // kept as stored
  EXPECT_LE(data::pixels(ok.train_x).max().item<float>(), 1.0f);
}

// --holdout: the default 5,000 is capped at half of the training images (small data sets); a
// size asked for is taken as it is, up to half of them, and refused above, even when it is
// the default's 5,000.
TEST(Splits, HoldoutSizeIsTheDefaultCappedOrWhatWasAskedFor) {
  data::DataOptions o;
  EXPECT_EQ(o.holdout_for(60000), 5000);
  EXPECT_EQ(o.holdout_for(6000), 3000);
  // The default validation and calibration sizes fit a small hold-out; sizes set are kept.
  const auto small = o.split_options(1600);
  EXPECT_EQ(small.holdout, 800);
  EXPECT_EQ(small.val, 400);
  EXPECT_EQ(small.calib, 800);
  const auto full = o.split_options(60000);
  EXPECT_EQ(full.holdout, 5000);
  EXPECT_EQ(full.val, 1000);
  EXPECT_EQ(full.calib, 1024);
  {
    data::DataOptions set;
    set.val = 700;
    set.calib_given = true;
    EXPECT_EQ(set.split_options(1600).val, 700);
    EXPECT_EQ(set.split_options(1600).calib, 1024);
  }
  o.holdout_given = true;
  EXPECT_EQ(o.holdout_for(60000), 5000);
  EXPECT_THROW(o.holdout_for(6000), OptionError);
  o.holdout = 10000;
  EXPECT_EQ(o.holdout_for(60000), 10000);
  EXPECT_EQ(o.holdout_for(20000), 10000);
  try {
    o.holdout_for(19999);
    FAIL();
  } catch (const OptionError& e) {
    EXPECT_EQ(std::string(e.what()),
              "holdout 10000: the training split has 19999 images; at most half of them (9999) can be held out");
  }
  o.holdout = 0;
  EXPECT_THROW(o.validate(), OptionError);
  // The splits follow: a larger hold-out leaves fewer training images.
  auto s = synthetic();
  o.holdout = 250;
  auto sp = data::make_splits(s, {}, {o.holdout_for(600), 100, 64, 0});
  EXPECT_EQ(sp.holdout.size(), 250);
  EXPECT_EQ(sp.train.size(), 350);
}

TEST(Splits, FashionMnistLoads) {
  if (!fs::exists("/usr/share/datasets/fashion-mnist")) GTEST_SKIP() << "dataset-fashion-mnist not installed";
  auto s = data::load_data("fashion-mnist");
  EXPECT_EQ(s.train_x.sizes(), (std::vector<int64_t>{60000, 1, 28, 28}));
  EXPECT_EQ(s.test_y.size(0), 10000);
  EXPECT_EQ(s.num_classes, 10);
  EXPECT_NEAR(data::pixels(s.train_x).mean().item<double>(), 0.286, 0.001);
  EXPECT_NEAR(data::pixels(s.train_x).std().item<double>(), 0.353, 0.001);
}
