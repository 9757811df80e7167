#include "nncompress/compress/run_state.hpp"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include <cstdlib>

#include "nncompress/compress/compressed_model.hpp"
#include "nncompress/compress/context.hpp"
#include "nncompress/core/hash.hpp"
#include "nncompress/core/json_text.hpp"

namespace nnc::compress {
namespace fs = std::filesystem;
namespace {

void hash_tensor(Hash64& h, const at::Tensor& t) {
  if (!t.defined()) {
    h.str("undefined");
    return;
  }
  auto c = t.detach().contiguous();
  h.str(std::string(c.dtype().name()));
  for (auto s : c.sizes()) h.value(static_cast<int64_t>(s));
  h.bytes(c.data_ptr(), static_cast<std::size_t>(c.numel()) * c.element_size());
}

void hash_dataset(Hash64& h, const data::Dataset& d) {
  hash_tensor(h, d.images);
  hash_tensor(h, d.labels);
  h.value(d.num_classes);
}

fs::path default_cache_root() {
  if (const char* d = std::getenv("NNC_CACHE_DIR"); d && *d) return d;
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) return fs::path(x) / "nncompress";
  if (const char* home = std::getenv("HOME"); home && *home) return fs::path(home) / ".cache" / "nncompress";
  return fs::temp_directory_path() / "nncompress";
}

}  // namespace

std::optional<fs::path> run_state_dir(const Context& context) {
  if (!context.use_cache) return std::nullopt;
  if (const char* d = std::getenv("NNC_RUN_STATE_DIR"); d && *d) {
    if (std::string_view(d) == "off") return std::nullopt;
    return fs::path(d);
  }
  return (context.cache_dir.empty() ? default_cache_root() : context.cache_dir) / "runs";
}

std::string run_key(std::string_view step, nlohmann::json options, const CompressedModel& model,
                    const Context& context, bool with_original) {
  Hash64 h;
  h.str("nncompress run state v1");
  h.str(step);
  if (options.is_object()) options.erase("report_dir");
  h.str(nnc::json_text(options));
  h.str(model.model().SerializeAsString());
  if (with_original) h.str(model.original().SerializeAsString());
  for (const auto& [name, mask] : model.masks()) {
    h.str(name);
    h.bytes(mask.data(), mask.size());
  }
  for (const auto& cb : model.codebooks()) {
    h.bytes(cb.values.data(), cb.values.size() * sizeof(float));
    h.value(cb.zero_entry);
  }
  for (const auto& [name, a] : model.assignments()) {
    h.str(name);
    h.value(a.codebook);
    h.bytes(a.indices.data(), a.indices.size() * sizeof(uint16_t));
    if (a.scale != 1.0f) h.value(a.scale);
  }
  const auto& s = context.splits();
  for (const auto* d : {&s.train, &s.val, &s.calib, &s.test, &s.holdout}) hash_dataset(h, *d);
  h.value(context.batch());
  h.value(context.seed());
  return h.hex();
}

std::optional<fs::path> run_state_file(Context& context, std::string_view step, const std::string& key,
                                       std::string_view extension) {
  auto dir = run_state_dir(context);
  if (!dir) return std::nullopt;
  auto path = *dir / fmt::format("{}-{}{}", step, key, extension);
  context.run_state.push_back(path);
  return path;
}

void remove_run_state(Context& context) {
  std::error_code ec;
  for (const auto& p : context.run_state) fs::remove(p, ec);
  context.run_state.clear();
}

}  // namespace nnc::compress
