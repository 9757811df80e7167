#include "nncompress/compress/outputs.hpp"

#include <fmt/format.h>

#include <set>

#include "nncompress/compress/compressed_model.hpp"
#include "nncompress/core/files.hpp"
#include "nncompress/onnx/model_io.hpp"

namespace nnc::compress {

store::Compression storage(const CompressedModel& model) {
  store::Compression c;
  for (const auto& cb : model.codebooks()) c.codebooks.push_back(cb.values);
  for (const auto& [name, a] : model.assignments()) c.indexed[name] = store::IndexedWeight{a.codebook, a.indices, a.scale};
  for (const auto& [name, mask] : model.masks()) c.sparse[name] = true;
  return c;
}

PackedModel pack_nnc(const CompressedModel& model) {
  PackedModel p;
  p.bytes = store::pack_model(model.model(), storage(model), &p.stats);
  return p;
}

CompressedOnnx compressed_onnx(const CompressedModel& model, OnnxForm form) {
  CompressedOnnx out;
  const auto comp = storage(model);
  out.model = comp.codebooks.empty() ? model.model() : store::codebook_onnx(model.model(), comp);
  if (form.compact_pruned) {
    std::set<std::string> names;
    for (const auto& [name, mask] : model.masks())
      if (!comp.indexed.count(name)) names.insert(name);
    auto w = store::pruned_onnx(out.model, names);
    out.model = std::move(w.model);
    out.pruned = {{"masked", w.masked}, {"sparse_initializers", w.sparse}, {"dense_bytes", w.dense_bytes},
                  {"stored_bytes", w.stored_bytes}, {"dense", static_cast<int>(names.size()) - w.masked - w.sparse}};
  }
  return out;
}

nlohmann::json write_outputs(const CompressedModel& model, const OutputPaths& paths, const Control& control) {
  const std::size_t fp32 = model.original_fp32_bytes();
  nlohmann::json j{{"fp32_bytes", fp32}};
  const auto packed = pack_nnc(model);
  const auto& st = packed.stats;
  const double ratio = static_cast<double>(fp32) / static_cast<double>(packed.bytes.size());
  if (ratio < 1.0)
    control.note(fmt::format("the .nnc container ({} bytes) is larger than the model's fp32 parameters ({} bytes): for "
                             "a model this small, its graph and headers outweigh what compression saves",
                             packed.bytes.size(), fp32));
  if (!paths.nnc.empty()) write_file_atomic(paths.nnc, packed.bytes, paths.protect);
  j["nnc_bytes"] = packed.bytes.size();
  j["ratio"] = ratio;
  j["ratio_baseline"] = "fp32 bytes of all original initializers / .nnc bytes";
  j["nnc_parts"] = {{"graph", st.graph_bytes}, {"codebook", st.codebook_bytes}, {"indices", st.index_bytes},
                    {"sparse", st.sparse_bytes}, {"raw_fp32", st.raw_bytes}, {"int8", st.int8_bytes},
                    {"headers", st.header_bytes}};
  if (!paths.onnx.empty()) {
    auto onnx = compressed_onnx(model, paths.form);
    onnxio::save_model(onnx.model, paths.onnx, paths.protect);
    const auto bytes = std::filesystem::file_size(paths.onnx);
    j["onnx_bytes"] = bytes;
    j["onnx_ratio"] = static_cast<double>(fp32) / static_cast<double>(bytes);
    if (!onnx.pruned.is_null()) j["onnx_sparse"] = onnx.pruned;
  }
  return j;
}

}  // namespace nnc::compress
