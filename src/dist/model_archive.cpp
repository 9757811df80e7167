#include "nncompress/dist/model_archive.hpp"

namespace nnc::dist {

void put_model(ArchiveWriter& w, const onnx::ModelProto& model) { w.put(model.SerializeAsString()); }

onnx::ModelProto get_model(ArchiveReader& r) {
  std::string bytes;
  r.get(bytes);
  onnx::ModelProto m;
  NNC_CHECK(m.ParseFromString(bytes), "distributed message: the model does not parse");
  return m;
}

}  // namespace nnc::dist
