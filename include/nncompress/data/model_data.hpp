#pragma once
// Data for a given model: reads a data set, checks its images against the model's input,
// resolves the input normalisation (given, recorded in the model's metadata, or inferred on
// held-out training images and recorded), fits the batch to a model exported with a fixed batch
// size, and makes the fixed splits (dataset.hpp).
#include <ATen/core/Tensor.h>
#include <onnx/onnx_pb.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "nncompress/core/control.hpp"
#include "nncompress/data/dataset.hpp"

namespace nnc::data {

struct DataOptions {
  std::string data = "fashion-mnist";  // the Debian data set, or a folder of IDX or NPY files
  std::vector<float> mean, std;         // per-channel normalisation (overrides the model's metadata)
  // Held-out training images: the last `holdout` of the training split, which no training sees;
  // the budget checks, validation and calibration use them. The default is 5,000 (at most half
  // of the training images); more makes the budget checks less noisy and leaves fewer to train on.
  int64_t holdout = kDefaultHoldout;
  bool holdout_given = false;           // `holdout` was asked for (never capped), not the default
  int64_t val = kDefaultVal;            // validation images (class-balanced, from the held-out training images)
  int64_t calib = kDefaultCalib;        // calibration images (from the held-out training images)
  bool val_given = false, calib_given = false;  // asked for, as holdout_given
  uint64_t seed = 0;                    // every random choice
  int64_t batch = 256;
  // Data already in memory (the Python module; data::make_source): used instead of reading
  // `data`, which then only names it in messages.
  std::shared_ptr<const DataSource> source;
  // Whether given mean/std are written into the model's metadata (outputs say how they were
  // measured). False for float arrays used as given (already normalised: mean 0, std 1), so that
  // outputs keep the model's own normalisation.
  bool record_given = true;

  template <typename V>
  void visit(V& v) {
    v("data", data);
    v("mean", mean);
    v("std", std);
    v("holdout", holdout);
    v("val", val);
    v("calib", calib);
    v("seed", seed);
    v("batch", batch);
  }
  void validate() const;  // OptionError naming the field
  // The hold-out size for a training split of `train_images`: the default is capped at half of
  // them; a size asked for (`holdout_given`, even 5,000) that is larger is an OptionError.
  int64_t holdout_for(int64_t train_images) const;
  // The split sizes for a training split of `train_images`: the defaults fit themselves to small
  // data (the hold-out as holdout_for, validation at most half of it, calibration at most all of
  // it); sizes asked for are taken as they are, and make_splits refuses those that do not fit.
  SplitOptions split_options(int64_t train_images) const;
};

// How the normalisation was found: "given", "metadata", or "inferred: <candidate>" with every
// candidate's held-out top-1 (reports put it in their JSON).
struct NormalisationChoice {
  Normalisation normalisation;
  std::string source;
  nlohmann::json tried;
};
// As reports give it: mean, std, source, and the candidates tried when it was inferred.
nlohmann::json normalisation_json(const NormalisationChoice& choice);

// Normalisation from the options, else the model's metadata; neither is an error here.
Normalisation resolve_normalisation(const DataOptions& options, const onnx::ModelProto& model);

// Loads `options.data`, checks image shape and class count against the model, fits the batch
// (fit_batch), normalises (inferring the normalisation when neither options nor metadata give
// it) and splits. Build engines from `model` only after this.
Splits load_splits(DataOptions& options, onnx::ModelProto& model, const Control& control = {},
                   NormalisationChoice* choice = nullptr);
// Only the test split (what evaluation needs): the training files are not read unless the
// normalisation has to be inferred.
Dataset load_test_split(DataOptions& options, onnx::ModelProto& model, const Control& control = {},
                        NormalisationChoice* choice = nullptr);

// A model exported with a fixed batch size (torch.onnx.export without dynamic_axes declares
// e.g. [1,1,28,28]): if the graph does not depend on it, checked by running the same images
// (up to 2B+1) in declared-size batches and in one batch, the batch dimension of the input
// (and of outputs declaring it) becomes symbolic 'N', value_info is dropped and Reshape shape
// constants starting with B start with 0 (copy) instead; otherwise options.batch becomes the
// declared size. Models with a symbolic batch are left alone.
void fit_batch(onnx::ModelProto& model, const at::Tensor& images, DataOptions& options, const Control& control = {});

}  // namespace nnc::data
