#pragma once
// Share's evaluations saved as they are made (a Journal in the run state folder, see
// compress/run_state.hpp), so that the same command rerun after `kill -9` replays them instead of
// measuring them again. The run is deterministic, so the rerun asks for the same evaluations in
// the same order: the log is replayed in order, each record checked against the evaluation asked
// for (a hash of the codebook and of the context's settings); at the first mismatch the rest of
// the log is dropped and measuring resumes. In-order replay, not a lookup by chromosome, because
// an evaluation's result depends on the ones before it (early exit compares with the candidates
// fully measured so far, and the evaluation count ends the search): replaying them in order
// rebuilds that state exactly, so the resumed run writes the same files as an uninterrupted one.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include "nncompress/compress/share/search.hpp"

namespace nnc {
class Journal;
}

namespace nnc::share {

struct LoggedEvaluation {
  Candidate candidate;
  std::vector<uint8_t> correct;  // per validation image, when the candidate became an early-exit reference
};

class EvaluationLog {
 public:
  // Opens (or starts) the log of the run `run_key` at `path`.
  EvaluationLog(const std::filesystem::path& path, std::string_view run_key);
  ~EvaluationLog();
  // The next logged evaluation when it is the one asked for (`key`); otherwise none, and the
  // log from here on is dropped.
  std::optional<LoggedEvaluation> next(uint64_t key);
  void append(uint64_t key, const LoggedEvaluation& e);
  int replayed() const { return replayed_; }
  std::size_t logged() const;  // evaluations found on opening
  const std::filesystem::path& path() const;

 private:
  std::unique_ptr<Journal> journal_;
  std::size_t next_ = 0, found_ = 0;
  int replayed_ = 0;
};

}  // namespace nnc::share
