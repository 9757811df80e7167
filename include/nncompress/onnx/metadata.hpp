#pragma once
// Model metadata kept in ModelProto.metadata_props: input normalisation, class count,
// producer. Keys are namespaced "nncompress.*".
#include <optional>
#include <string>
#include <vector>

#include <onnx/onnx_pb.h>

namespace nnc::onnxio {

struct Normalisation {
  std::vector<float> mean;  // per channel (or one value for all)
  std::vector<float> std;
};

std::optional<std::string> get_metadata(const onnx::ModelProto& model, const std::string& key);
void set_metadata(onnx::ModelProto& model, const std::string& key, const std::string& value);

std::optional<Normalisation> get_normalisation(const onnx::ModelProto& model);
void set_normalisation(onnx::ModelProto& model, const Normalisation& norm);

std::optional<int> get_num_classes(const onnx::ModelProto& model);
void set_num_classes(onnx::ModelProto& model, int classes);

}  // namespace nnc::onnxio
