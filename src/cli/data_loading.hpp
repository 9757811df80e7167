#pragma once
// Resolves the shared data options and a model's metadata into the fixed splits.
#include <onnx/onnx_pb.h>

#include "cli/command.hpp"
#include "nncompress/data/dataset.hpp"

namespace nnc::cli {

// Normalisation from --mean/--std, else the model's metadata; a model without metadata and
// no flags is an error.
data::Normalisation resolve_normalisation(const DataOptions& options, const onnx::ModelProto& model);

// Loads --data, normalises, splits, and checks image shape and class count against the model.
data::Splits load_splits(const DataOptions& options, const onnx::ModelProto& model);
// Only the test split (what `eval` needs): the training files are not read.
data::Dataset load_test_split(const DataOptions& options, const onnx::ModelProto& model);

}  // namespace nnc::cli
