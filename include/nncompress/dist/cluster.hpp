#pragma once
// Scale-out with MPI (Open MPI): the same command on every rank of `mpirun -np N nncompress ...`.
// Rank 0 runs the command and owns every output; the other ranks serve it: for each
// distributed phase of a method (a Pool) they receive the phase's state once, then evaluate
// the items rank 0 hands out (NSGA-II chromosomes, rate-distortion layers) and send the results
// back. Results do not depend on the number of ranks: an item's result depends on the item and
// the phase's state only, and rank 0 takes them in item order.
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "nncompress/core/control.hpp"

namespace nnc::dist {

enum class Mode {
  kAuto,  // MPI when launched by mpirun, else one process
  kMpi,   // MPI, also without mpirun (a job of one rank)
  kOff,   // one process; refused under mpirun with more than one rank (each would write the outputs)
};
Mode parse_mode(std::string_view name);  // "auto" | "mpi" | "off"; an OptionError naming "distributed"

bool built_with_mpi();
// Launched by Open MPI's mpirun (its environment): how many ranks, and how many on this machine.
int launched_ranks();
int launched_local_ranks();

// One per process (main). Starts MPI as the mode says; its end tells the other ranks to quit,
// waits (within the rank time limit) for each to answer, and finalises MPI, or aborts the whole
// job after a rank failed to answer. Rank 0 never waits on another rank without that limit:
// messages it sends (a phase's state, updates, items) that are not taken in time end the job too.
class Session {
 public:
  explicit Session(Mode mode);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;
  int rank() const { return rank_; }
  int size() const { return size_; }
  // Ranks > 0: serves rank 0 until it says quit; returns the exit status.
  int serve();

 private:
  int rank_ = 0, size_ = 1;
  bool started_ = false;
};

// Ranks of the running session (1 without one).
int ranks();

// What another rank does for rank 0 in one phase: built from the phase's state, then one result
// per item. update() receives what rank 0 tells every rank between batches of items.
class Task {
 public:
  virtual ~Task() = default;
  virtual std::string evaluate(std::string_view item) = 0;
  virtual void update(std::string_view /*payload*/) {}
};
using TaskFactory = std::function<std::unique_ptr<Task>(std::string_view state)>;
// The registry of phases other ranks can serve, by name ("share.evaluate", "prune.rd_layer").
void register_task(const std::string& name, TaskFactory factory);

// Rank 0's side of one phase. With one rank it evaluates everything with `local`.
class Pool {
 public:
  // `state` is called (and sent to every other rank) only when there are other ranks.
  Pool(std::string name, const std::function<std::string()>& state, Task& local);
  ~Pool();
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;
  int ranks() const { return ranks_; }
  // results[i] is item i's result, from whichever rank took it (this one evaluates too). After a
  // stop request no new item is started: the ones not evaluated are empty. A rank that reports
  // an error, or does not answer within the time limit (NNC_RANK_TIMEOUT seconds, default the
  // larger of 300 s and 50x the slowest item so far), ends the job with an Error naming it.
  // `measured` (optional) is called with the count of items done as each one completes.
  std::vector<std::optional<std::string>> map(const std::vector<std::string>& items, const Control& control = {},
                                              const std::function<void(std::size_t)>& measured = {});
  // Sent to every other rank's task, and given to `local`.
  void update(const std::string& payload);
  // Items evaluated by each rank so far, and the bytes sent and received.
  const std::vector<long>& items_by_rank() const { return by_rank_; }
  // Seconds each rank spent measuring items (its busy time).
  const std::vector<double>& seconds_by_rank() const { return busy_; }
  double wire_bytes() const { return wire_bytes_; }

 private:
  std::string name_;
  Task& local_;
  int ranks_ = 1;
  std::vector<long> by_rank_;
  std::vector<double> busy_;
  double wire_bytes_ = 0, slowest_ = 0;
};

}  // namespace nnc::dist
