#include "nncompress/onnx/model_io.hpp"

#include <onnx/checker.h>
#include <onnx/defs/schema.h>

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>

#include <climits>
#include <fstream>
#include <optional>
#include <set>

#include "nncompress/core/error.hpp"
#include "nncompress/core/files.hpp"
#include "nncompress/core/memory.hpp"
#include "nncompress/onnx/inline_functions.hpp"
#include "nncompress/onnx/sparse_initializers.hpp"

namespace nnc::onnxio {
namespace fs = std::filesystem;
namespace {

// Inlines every external-data tensor of `graph` (and its subgraphs) into raw_data.
void inline_external_data(onnx::GraphProto& graph, const fs::path& base_dir, const std::string& what);

// offset and length are decimal byte counts (ONNX writes them as strings).
std::uint64_t external_number(const std::string& value, const std::string& key, const std::string& what,
                              const std::string& tensor) {
  std::uint64_t v = 0;
  bool ok = !value.empty() && value.size() <= 18;  // below 10^18 < 2^63
  for (char c : value) ok = ok && c >= '0' && c <= '9';
  NNC_CHECK_CODE(ok, kCorrupt, "{}: tensor '{}' external data {} '{}' is not a byte count", what, tensor, key,
                 value.substr(0, 40));
  for (char c : value) v = v * 10 + static_cast<std::uint64_t>(c - '0');
  return v;
}

// The external file, resolved through any symlinks, must be a regular file inside the model's
// folder (also resolved): a link in the folder must not make the loader read /etc/passwd.
fs::path external_file(const fs::path& base_dir, const std::string& location, const std::string& what,
                       const std::string& tensor) {
  NNC_CHECK_CODE(fs::path(location).is_relative() && location.find("..") == std::string::npos, kCorrupt,
                 "{}: tensor '{}' external data location '{}' must be a relative path inside the model directory",
                 what, tensor, location);
  const fs::path file = base_dir / location;
  std::error_code ec;
  const fs::path real = fs::canonical(file, ec);
  NNC_CHECK_CODE(!ec, kIo, "{}: tensor '{}' external data {}: no such file", what, tensor, file.string());
  const fs::path folder = fs::canonical(base_dir, ec);
  NNC_CHECK_CODE(!ec, kIo, "{}: cannot resolve the model directory {}", what, base_dir.string());
  const fs::path inside = real.lexically_relative(folder);
  NNC_CHECK_CODE(!inside.empty() && *inside.begin() != "..", kCorrupt,
                 "{}: tensor '{}' external data location '{}' resolves to {}, outside the model directory", what,
                 tensor, location, real.string());
  NNC_CHECK_CODE(fs::is_regular_file(real, ec), kCorrupt, "{}: tensor '{}' external data {} is not a regular file",
                 what, tensor, file.string());
  return real;
}

void inline_tensor(onnx::TensorProto& t, const fs::path& base_dir, const std::string& what) {
  if (t.data_location() != onnx::TensorProto::EXTERNAL) return;
  std::string location;
  std::uint64_t offset = 0;
  std::optional<std::uint64_t> length;
  for (const auto& kv : t.external_data()) {
    if (kv.key() == "location") location = kv.value();
    else if (kv.key() == "offset") offset = external_number(kv.value(), "offset", what, t.name());
    else if (kv.key() == "length") length = external_number(kv.value(), "length", what, t.name());
  }
  NNC_CHECK_CODE(!location.empty(), kCorrupt, "{}: tensor '{}' has external data without a location", what,
                 t.name());
  const fs::path file = external_file(base_dir, location, what, t.name());
  std::error_code ec;
  const std::uint64_t size = fs::file_size(file, ec);
  NNC_CHECK_CODE(!ec, kIo, "{}: tensor '{}' external data {}: cannot read its size", what, t.name(), file.string());
  NNC_CHECK_CODE(offset <= size, kCorrupt, "{}: tensor '{}' external data offset {} is past the end of {}", what,
                 t.name(), offset, file.string());
  const std::uint64_t len = length.value_or(size - offset);
  NNC_CHECK_CODE(len <= size - offset, kCorrupt, "{}: tensor '{}' external data ({} bytes at {}) is truncated in {}",
                 what, t.name(), len, offset, file.string());
  // Only the tensor's own bytes are read (a model may keep hundreds of tensors in one file).
  check_fits_in_memory(len, fmt::format("{}: tensor '{}' external data", what, t.name()));
  std::string bytes(static_cast<std::size_t>(len), '\0');
  std::ifstream in(file, std::ios::binary);
  in.seekg(static_cast<std::streamoff>(offset));
  in.read(bytes.data(), static_cast<std::streamsize>(len));
  NNC_CHECK_CODE(in.good() || len == 0, kIo, "{}: tensor '{}' external data: reading {} failed", what, t.name(),
                 file.string());
  t.set_raw_data(std::move(bytes));
  t.clear_external_data();
  t.set_data_location(onnx::TensorProto::DEFAULT);
}

void inline_external_data(onnx::GraphProto& graph, const fs::path& base_dir, const std::string& what) {
  for (auto& t : *graph.mutable_initializer()) inline_tensor(t, base_dir, what);
  for (auto& node : *graph.mutable_node()) {
    for (auto& attr : *node.mutable_attribute()) {
      if (attr.has_t()) inline_tensor(*attr.mutable_t(), base_dir, what);
      if (attr.has_g()) inline_external_data(*attr.mutable_g(), base_dir, what);
      for (auto& g : *attr.mutable_graphs()) inline_external_data(g, base_dir, what);
    }
  }
}

}  // namespace

onnx::ModelProto parse_model(const void* data, std::size_t size, const std::string& what) {
  NNC_CHECK_CODE(size > 0, kCorrupt, "{}: empty file, not an ONNX model", what);
  NNC_CHECK_CODE(size < static_cast<std::size_t>(INT_MAX), kUnsupported, "{}: models over 2 GiB are unsupported",
                 what);
  google::protobuf::io::ArrayInputStream raw(data, static_cast<int>(size));
  google::protobuf::io::CodedInputStream coded(&raw);
  coded.SetTotalBytesLimit(INT_MAX);
  onnx::ModelProto model;
  bool ok = model.ParseFromCodedStream(&coded) && coded.ConsumedEntireMessage();
  NNC_CHECK_CODE(ok, kCorrupt, "{}: cannot parse ONNX protobuf (truncated or corrupt file)", what);
  NNC_CHECK_CODE(model.has_graph(), kCorrupt, "{}: not an ONNX model (no graph)", what);
  return model;
}

// The newest default-domain opset the linked ONNX library has schemas for (17 for Debian's 1.12).
int checker_max_opset() {
  const auto& map = onnx::OpSchemaRegistry::DomainToVersionRange::Instance().Map();
  auto it = map.find(onnx::ONNX_DOMAIN);
  return it == map.end() ? INT_MAX : it->second.second;
}

void check_model(const onnx::ModelProto& model, const std::string& what, const Control& control) {
  try {
    onnx::checker::check_model(model);
  } catch (const std::exception& e) {
    std::string msg = e.what();
    for (auto& c : msg)
      if (c == '\n') c = ' ';
    // A newer opset than the checker knows (PyTorch 2.x exports opset 18 and later): the checker
    // would judge its nodes by older schemas (ReduceMean's axes input, ...) and reject valid
    // models. The engine checks every node itself at load, so say so and go on.
    const int opset = opset_version(model), known = checker_max_opset();
    if (opset > known) {
      control.note(fmt::format("{}: opset {} is newer than this ONNX checker knows ({}); its check is skipped ({})", what, opset,
                       known, msg.substr(0, 160)));
      return;
    }
    // Likewise a newer IR version (PyTorch's torch.export-based exporter writes IR 10 whatever
    // the opset): the checker refuses the version number itself.
    if (model.ir_version() > onnx::Version::IR_VERSION) {
      control.note(fmt::format("{}: IR version {} is newer than this ONNX checker knows ({}); its check is skipped ({})", what,
                       model.ir_version(), static_cast<int>(onnx::Version::IR_VERSION), msg.substr(0, 160)));
      return;
    }
    fail(ErrorCode::kCorrupt, "{}: ONNX checker failed: {}", what, msg);
  }
}

onnx::ModelProto load_model(const fs::path& path, const LoadOptions& options, const Control& control) {
  auto bytes = read_file_bytes(path);
  std::string what = path.string();
  auto model = parse_model(bytes.data(), bytes.size(), what);
  fs::path base = path.parent_path();
  if (base.empty()) base = ".";
  inline_external_data(*model.mutable_graph(), base, what);
  if (int calls = inline_local_functions(model); calls > 0)
    control.note(fmt::format("{}: {} calls of model-local functions expanded into standard operators", what, calls));
  // The checker judges sparse initializers as written; every method then sees dense tensors.
  if (options.run_checker) check_model(model, what, control);
  if (int n = densify_sparse_initializers(*model.mutable_graph(), what); n > 0)
    control.note(fmt::format("{}: {} sparse initializers read as dense tensors", what, n));
  return model;
}

namespace {

// IR versions below 4 require every initializer to be listed as a graph input too. Initializers
// that compression added (factors, codebooks, folded biases) get their input entry here.
void list_initializers_as_inputs(onnx::GraphProto& g) {
  std::set<std::string> inputs;
  for (const auto& i : g.input()) inputs.insert(i.name());
  for (const auto& t : g.initializer()) {
    if (inputs.count(t.name())) continue;
    auto* vi = g.add_input();
    vi->set_name(t.name());
    auto* type = vi->mutable_type()->mutable_tensor_type();
    type->set_elem_type(t.data_type());
    auto* shape = type->mutable_shape();
    for (auto d : t.dims()) shape->add_dim()->set_dim_value(d);
  }
}

}  // namespace

void save_model(const onnx::ModelProto& model, const fs::path& path, const fs::path& protect) {
  std::optional<onnx::ModelProto> listed;  // a copy only for IR < 4 models
  if (model.has_ir_version() && model.ir_version() < 4) {
    listed = model;
    list_initializers_as_inputs(*listed->mutable_graph());
  }
  const onnx::ModelProto& out = listed ? *listed : model;
  check_model(out, path.string());
  std::string bytes;
  NNC_CHECK_CODE(out.SerializeToString(&bytes), kIo, "{}: cannot serialise model", path.string());
  write_file_atomic(path, std::string_view(bytes), protect);
}

int opset_version(const onnx::ModelProto& model) {
  for (const auto& op : model.opset_import()) {
    if (op.domain().empty() || op.domain() == "ai.onnx") return static_cast<int>(op.version());
  }
  return 1;
}

}  // namespace nnc::onnxio
