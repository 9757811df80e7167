#pragma once
// Image-classification data: loading (IDX, NPY), normalisation and the fixed splits every
// command shares:
//   train  = training split minus its last `holdout` (5,000) images; `train` never sees those
//   val    = class-balanced subset of the held-out images (--val, default 1000)
//   calib  = subset of the held-out images (--calib, default 1024)
//   holdout = all held-out images (a larger check set for final choices; never the test split)
//   test   = the full test split; no search or calibration ever sees it
// All subsets are drawn deterministically from --seed.
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

namespace nnc::data {

// Raw data as read from disk: images NCHW as stored, uint8 pixels (0-255) or float32 (pixels(x)
// gives float32 in [0,1]); labels int64. Kept as stored so that only the normalised copy is
// ever made in float.
struct DataSource {
  std::string name;  // what --data named (for messages)
  at::Tensor train_x, train_y, test_x, test_y;
  int num_classes = 0;
  bool test_is_holdout = false;  // make_source without test arrays
};

// A normalised, ready-to-run set.
struct Dataset {
  at::Tensor images;  // N x C x H x W float32, normalised
  at::Tensor labels;  // N int64
  int num_classes = 0;
  int64_t size() const { return labels.defined() ? labels.size(0) : 0; }
};

struct Normalisation {
  std::vector<float> mean{0.0f}, std{1.0f};  // per channel, or one value for all channels
};

// Held-out training images by default (the last ones of the training split), and the default
// validation and calibration images drawn from them.
inline constexpr int64_t kDefaultHoldout = 5000;
inline constexpr int64_t kDefaultVal = 1000;
inline constexpr int64_t kDefaultCalib = 1024;

struct SplitOptions {
  int64_t holdout = kDefaultHoldout;
  int64_t val = kDefaultVal;
  int64_t calib = kDefaultCalib;
  uint64_t seed = 0;
};

struct Splits {
  Dataset train, val, calib, test;
  Dataset holdout;  // all held-out training images (val and calib are drawn from them)
};

// Whether load_data reads the training arrays: always (an error names what is missing),
// never, or when the data have them (a test-only folder is not an error).
enum class TrainSplit { kRequired, kSkipped, kIfPresent };

// `name_or_dir`: "fashion-mnist" (the Debian data set directory), a directory holding
// {train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz] or {train,test}_{x,y}.npy, or an .npz file
// with the arrays train_x, train_y, test_x, test_y (docs/data.md). Training arrays not read
// stay undefined.
DataSource load_data(const std::string& name_or_dir, TrainSplit train = TrainSplit::kRequired);

// Applies (x - mean) / std per channel to float images, or (x / 255 - mean) / std to uint8
// pixels; the result is a new contiguous float32 tensor.
at::Tensor normalise(const at::Tensor& images, const Normalisation& norm);

// Images as float32 in [0,1]: uint8 pixels divided by 255, float images unchanged.
at::Tensor pixels(const at::Tensor& images);

// A data source from arrays already in memory (the Python module), checked as load_data checks
// files: images uint8 (pixels) or float32 as N x C x H x W, N x H x W x C, N x H x W or N x D;
// labels integers. The training arrays may be undefined (evaluation of a model whose
// normalisation is known). Without test arrays, the test split is the last `holdout` training
// images (the hold-out the splits take; nothing trains on them) and `test_is_holdout` says so.
DataSource make_source(std::string name, at::Tensor train_x, at::Tensor train_y, at::Tensor test_x = {},
                       at::Tensor test_y = {}, int64_t holdout = kDefaultHoldout);

Splits make_splits(const DataSource& source, const Normalisation& norm, const SplitOptions& options);

}  // namespace nnc::data
