#include "nncompress/compress/share/evaluation_log.hpp"

#include <fmt/format.h>

#include "nncompress/core/journal.hpp"

namespace nnc::share {
namespace {

std::string encode(uint64_t key, const LoggedEvaluation& e) {
  const auto& c = e.candidate;
  RecordWriter w;
  w.put(key).put(c.k).put(c.entries).put(c.f1).put(c.val_top1).put(c.top1_se).put(c.val_top1_low).put(c.index_bits);
  w.put(static_cast<uint8_t>(c.partial));
  w.put(static_cast<uint64_t>(c.strides.size()));
  for (int s : c.strides) w.put(s);
  w.put_bytes(std::string_view(reinterpret_cast<const char*>(e.correct.data()), e.correct.size()));
  return w.bytes();
}

std::optional<LoggedEvaluation> decode(std::string_view bytes, uint64_t& key) {
  RecordReader r(bytes);
  LoggedEvaluation e;
  auto& c = e.candidate;
  uint8_t partial = 0;
  uint64_t strides = 0;
  r.get(key), r.get(c.k), r.get(c.entries), r.get(c.f1), r.get(c.val_top1), r.get(c.top1_se), r.get(c.val_top1_low);
  r.get(c.index_bits), r.get(partial), r.get(strides);
  if (!r.ok() || strides > bytes.size()) return std::nullopt;
  c.partial = partial != 0;
  c.strides.resize(strides);
  for (auto& s : c.strides) r.get(s);
  std::string correct;
  r.get_bytes(correct);
  if (!r.at_end()) return std::nullopt;
  e.correct.assign(correct.begin(), correct.end());
  return e;
}

}  // namespace

EvaluationLog::EvaluationLog(const std::filesystem::path& path, std::string_view run_key)
    : journal_(std::make_unique<Journal>(path, fmt::format("nncompress share evaluations v1 {}", run_key))),
      found_(journal_->records().size()) {}

EvaluationLog::~EvaluationLog() = default;

std::size_t EvaluationLog::logged() const { return found_; }
const std::filesystem::path& EvaluationLog::path() const { return journal_->path(); }

std::optional<LoggedEvaluation> EvaluationLog::next(uint64_t key) {
  if (next_ >= journal_->records().size()) return std::nullopt;
  uint64_t logged_key = 0;
  auto e = decode(journal_->records()[next_], logged_key);
  if (!e || logged_key != key) {
    journal_->truncate(next_);
    return std::nullopt;
  }
  ++next_;
  ++replayed_;
  return e;
}

void EvaluationLog::append(uint64_t key, const LoggedEvaluation& e) {
  // Only at the end: an evaluation that was not replayed dropped the rest (next()).
  journal_->append(encode(key, e));
  next_ = journal_->records().size();
}

}  // namespace nnc::share
