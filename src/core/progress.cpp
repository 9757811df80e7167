#include "nncompress/core/progress.hpp"

#include <atomic>
#include <cstdio>

#include <fmt/format.h>

namespace nnc {
namespace {
std::atomic<bool> g_enabled{true};
}

void set_progress_enabled(bool enabled) { g_enabled = enabled; }
bool progress_enabled() { return g_enabled; }

Progress::Progress(std::string what, long total)
    : what_(std::move(what)), total_(total), start_(std::chrono::steady_clock::now()), last_(start_) {}

void Progress::update(long done, std::string_view message) {
  if (!g_enabled) return;
  auto now = std::chrono::steady_clock::now();
  bool last = done >= total_;
  if (!last && now - last_ < std::chrono::milliseconds(500) && done != 1) return;
  last_ = now;
  double secs = std::chrono::duration<double>(now - start_).count();
  std::string line = fmt::format("{} [{}/{}] {:.1f}s {}\n", what_, done, total_, secs, message);
  std::fputs(line.c_str(), stderr);
}

void Progress::finish(std::string_view message) {
  if (finished_ || !g_enabled) return;
  finished_ = true;
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  std::fputs(fmt::format("{} done in {:.1f}s {}\n", what_, secs, message).c_str(), stderr);
}

void note(std::string_view line) {
  if (!g_enabled) return;
  std::fputs(fmt::format("{}\n", line).c_str(), stderr);
}

}  // namespace nnc
