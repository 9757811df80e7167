#pragma once
// Resolves the shared data options and a model's metadata into the fixed splits; loads the
// model a compression command works on.
#include <onnx/onnx_pb.h>

#include "cli/command.hpp"
#include "nncompress/data/dataset.hpp"

namespace nnc::cli {

// load_model, then layer weights the graph computes from initializers only (a shared or
// bitmask-pruned ONNX, an export without constant folding) folded back into initializers
// (exec::fold_computed_weights), said in a note: share, prune and lowrank start from this.
onnx::ModelProto load_model_to_compress(const std::string& path);

// Normalisation from --mean/--std, else the model's metadata (load_splits/load_test_split
// infer and record it for a model without either); a model without both is an error here.
data::Normalisation resolve_normalisation(const DataOptions& options, const onnx::ModelProto& model);

// Loads --data, checks image shape and class count against the model, fits the batch
// (fit_batch), normalises (inferring the normalisation when neither flags nor metadata give
// it: see data_loading.cpp) and splits. Build engines from `model` only after this.
data::Splits load_splits(DataOptions& options, onnx::ModelProto& model);
// Only the test split (what `eval` needs): the training files are not read.
data::Dataset load_test_split(DataOptions& options, onnx::ModelProto& model);

// A model exported with a fixed batch size (torch.onnx.export without dynamic_axes declares
// e.g. [1,1,28,28]): if the graph does not depend on it, checked by running the same images
// (up to 2B+1) in declared-size batches and in one batch, the batch dimension of the input
// (and of outputs declaring it) becomes symbolic 'N', value_info is dropped and Reshape shape
// constants starting with B start with 0 (copy) instead; otherwise options.batch becomes the
// declared size. Models with a symbolic batch are left alone.
void fit_batch(onnx::ModelProto& model, const at::Tensor& images, DataOptions& options);

}  // namespace nnc::cli
