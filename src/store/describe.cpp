#include "nncompress/store/describe.hpp"

#include <onnx/onnx_pb.h>

#include <map>

#include "nncompress/core/error.hpp"
#include "nncompress/store/container.hpp"

namespace nnc::store {

// The container is re-encoded to account for its parts: the encoder is deterministic, so for a
// current-format file this is the file itself.
nlohmann::json describe_container(const std::vector<uint8_t>& bytes, const std::string& path) {
  auto c = decode_container(bytes, path);
  ContainerStats st;
  const auto again = encode_container(c, &st);
  const int version = bytes[4] | (bytes[5] << 8);
  onnx::ModelProto graph;
  NNC_CHECK_CODE(graph.ParseFromString(c.graph), kCorrupt, "{}: graph section is not an ONNX model", path);
  std::map<std::string, int> ops;
  for (const auto& n : graph.graph().node()) ++ops[n.op_type()];
  std::map<std::string, std::string> coder_of;
  for (const auto& [name, coder] : st.coders) coder_of[name] = coder_name(coder);
  std::map<std::string, std::string> positions_of(st.positions.begin(), st.positions.end());
  nlohmann::json tensors = nlohmann::json::array();
  int64_t elements = 0;
  for (const auto& t : c.tensors) {
    const char* kinds[] = {"raw", "indexed", "sparse", "int8"};
    nlohmann::json j{{"name", t.name}, {"shape", t.shape}, {"elements", t.numel()},
                     {"kind", kinds[static_cast<int>(t.kind)]}};
    if (t.codebook >= 0) j["codebook"] = t.codebook;
    if (t.codebook >= 0 && !c.scales.empty() && c.scales[static_cast<std::size_t>(t.codebook)].base >= 0) {
      j["codebook"] = c.scales[static_cast<std::size_t>(t.codebook)].base;
      j["scale"] = c.scales[static_cast<std::size_t>(t.codebook)].scale;
    }
    if (coder_of.count(t.name)) j["coder"] = coder_of.at(t.name);
    if (t.is_int8()) j["element_type"] = "int8";
    if (t.kind == StoredTensor::Kind::kSparse) {
      j["nonzeros"] = t.positions.size();
      j["positions"] = positions_of[t.name];
    }
    elements += t.numel();
    tensors.push_back(j);
  }
  nlohmann::json parts{{"graph", st.graph_bytes}, {"codebooks", st.codebook_bytes}, {"indices", st.index_bytes},
                       {"raw_fp32", st.raw_bytes}, {"sparse", st.sparse_bytes}, {"int8", st.int8_bytes},
                       {"headers", st.header_bytes}};
  std::vector<std::size_t> cb_sizes;  // codebooks of their own values
  std::size_t scaled = 0;            // codebooks stored as another one times a per-tensor scale
  for (std::size_t i = 0; i < c.codebooks.size(); ++i) {
    if (!c.scales.empty() && c.scales[i].base >= 0) ++scaled;
    else cb_sizes.push_back(c.codebooks[i].size());
  }
  return {{"container", path}, {"format_version", version}, {"bytes", bytes.size()},
          {"reencoded_bytes", again.size()}, {"parts", parts}, {"codebook_sizes", cb_sizes},
          {"scaled_codebooks", scaled}, {"tensors", tensors}, {"elements", elements}, {"ops", ops},
          {"graph_nodes", graph.graph().node_size()}};
}

}  // namespace nnc::store
