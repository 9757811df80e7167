#include "nncompress/core/reporter.hpp"

namespace nnc {

Progress::Progress(Reporter* reporter, std::string what, long total, std::chrono::milliseconds min_interval)
    : reporter_(reporter),
      what_(std::move(what)),
      total_(total),
      min_interval_(min_interval),
      start_(std::chrono::steady_clock::now()),
      last_(start_) {}

void Progress::update(long done, std::string_view message) {
  if (!reporter_) return;
  const auto now = std::chrono::steady_clock::now();
  const bool last = done >= total_;
  if (!last && done != 1 && now - last_ < min_interval_) return;
  last_ = now;
  reporter_->progress({what_, done, total_, std::chrono::duration<double>(now - start_).count(), message, false});
}

void Progress::finish(std::string_view message) {
  if (finished_ || !reporter_) return;
  finished_ = true;
  const auto now = std::chrono::steady_clock::now();
  reporter_->progress({what_, total_, total_, std::chrono::duration<double>(now - start_).count(), message, true});
}

}  // namespace nnc
