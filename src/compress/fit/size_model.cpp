#include "nncompress/compress/fit/size_model.hpp"

#include <algorithm>

#include "nncompress/core/error.hpp"
#include "nncompress/store/model_store.hpp"

namespace nnc::fit {

int64_t fixed_container_bytes(const onnx::ModelProto& model, const std::vector<std::string>& weights) {
  onnx::ModelProto empty = model;
  store::Compression c;
  for (auto& t : *empty.mutable_graph()->mutable_initializer()) {
    if (std::find(weights.begin(), weights.end(), t.name()) == weights.end()) continue;
    NNC_CHECK(t.data_type() == onnx::TensorProto::FLOAT, "weight '{}' is not float", t.name());
    int64_t n = 1;
    for (auto d : t.dims()) n *= d;
    t.clear_float_data();
    t.clear_external_data();
    t.set_data_location(onnx::TensorProto::DEFAULT);
    t.set_raw_data(std::string(static_cast<std::size_t>(n) * 4, '\0'));
    c.sparse[t.name()] = true;
  }
  return static_cast<int64_t>(store::pack_model(empty, c).size());
}

}  // namespace nnc::fit
