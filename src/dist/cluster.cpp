#include "nncompress/dist/cluster.hpp"

#include <ATen/Parallel.h>
#include <fmt/format.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <limits>
#include <map>
#include <thread>

#include "nncompress/core/error.hpp"
#include "nncompress/dist/archive.hpp"

#if NNC_HAVE_MPI
// The C API only (Open MPI's mpi.h otherwise pulls in the deprecated C++ bindings).
#define OMPI_SKIP_MPICXX 1
#include <mpi.h>
#endif

namespace nnc::dist {
namespace {

int g_rank = 0, g_size = 1;
bool g_pool_open = false;
bool g_failed = false;  // a rank failed to answer: the job is aborted, not finalised

std::map<std::string, TaskFactory>& registry() {
  static std::map<std::string, TaskFactory> r;
  return r;
}

int env_int(const char* name) {
  const char* v = std::getenv(name);
  return v && *v ? std::atoi(v) : 0;
}

enum : int { kCommandTag = 1, kResultTag = 2 };
enum Command : char { kOpen = 'O', kItem = 'I', kUpdate = 'U', kClose = 'C', kQuit = 'Q' };

// Waits with little CPU: polls, sleeping longer while nothing comes (Open MPI's blocking calls
// spin a core, which the rank doing the work needs on a small machine).
class Backoff {
 public:
  void wait() {
    std::this_thread::sleep_for(std::chrono::microseconds(us_));
    us_ = std::min(us_ * 2, 2000);
  }
  void reset() { us_ = 20; }

 private:
  int us_ = 20;
};

#if NNC_HAVE_MPI
// How long rank 0 waits for another rank (a result, or taking a message) before it calls the rank
// dead or hung: NNC_RANK_TIMEOUT seconds if set, else 300 s or 50 times the slowest item so far.
double rank_limit(double slowest) {
  const int fixed = env_int("NNC_RANK_TIMEOUT");
  return fixed > 0 ? fixed : std::max(300.0, 50 * slowest);
}

// Sends without blocking past `limit` seconds: a message above the transport's eager size waits
// for the receiver to take it, and a stopped rank never does. False if it was not taken in time.
bool try_send(int to, int tag, const std::string& bytes, double limit) {
  NNC_CHECK(bytes.size() < (1ull << 31), "distributed message of {} bytes (at most 2 GiB)", bytes.size());
  MPI_Request req;
  MPI_Isend(bytes.data(), static_cast<int>(bytes.size()), MPI_BYTE, to, tag, MPI_COMM_WORLD, &req);
  const auto t0 = std::chrono::steady_clock::now();
  Backoff backoff;
  for (;;) {
    int done = 0;
    MPI_Test(&req, &done, MPI_STATUS_IGNORE);
    if (done) return true;
    if (std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() > limit) return false;
    backoff.wait();
  }
}

// Rank 0 sends to rank `to` (`what` names the message in the error if the rank does not take it).
void send(int to, int tag, const std::string& bytes, std::string_view what, double slowest = 0) {
  const double limit = rank_limit(slowest);
  if (try_send(to, tag, bytes, limit)) return;
  g_failed = true;
  fail(ErrorCode::kInternal,
       "rank {} did not answer within {:.0f} s ({} not taken): it died or hangs; the job stops (rerun the same "
       "command to resume from the run state)",
       to, limit, what);
}

// The next message with `tag` from `from` (MPI_ANY_SOURCE: any rank) if one has arrived.
std::optional<std::pair<int, std::string>> poll(int from, int tag) {
  int flag = 0;
  MPI_Status st;
  MPI_Iprobe(from, tag, MPI_COMM_WORLD, &flag, &st);
  if (!flag) return std::nullopt;
  int n = 0;
  MPI_Get_count(&st, MPI_BYTE, &n);
  std::string bytes(static_cast<std::size_t>(n), '\0');
  MPI_Recv(bytes.data(), n, MPI_BYTE, st.MPI_SOURCE, tag, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
  return std::make_pair(st.MPI_SOURCE, std::move(bytes));
}

std::string command(Command c, const std::function<void(ArchiveWriter&)>& body = {}) {
  ArchiveWriter w;
  w.put(c);
  if (body) body(w);
  return w.take();
}

// Rank 0 at the end of the job: tells every other rank to quit and waits for each one's answer
// (results of an abandoned phase still on the way are dropped). False, with the error printed,
// if a rank did not answer within the time limit.
bool all_quit(int size) {
  const double limit = rank_limit(0);
  for (int r = 1; r < size; ++r)
    if (!try_send(r, kCommandTag, command(kQuit), limit)) {
      std::fprintf(stderr, "nncompress: error: rank %d did not take the end of the job within %.0f s: it died or hangs\n",
                   r, limit);
      return false;
    }
  std::vector<bool> quit(static_cast<std::size_t>(size), false);
  int left = size - 1;
  const auto t0 = std::chrono::steady_clock::now();
  Backoff backoff;
  while (left > 0) {
    if (auto msg = poll(MPI_ANY_SOURCE, kResultTag)) {
      backoff.reset();
      ArchiveReader r(msg->second);
      if (r.get<Command>() == kQuit && !quit[static_cast<std::size_t>(msg->first)]) {
        quit[static_cast<std::size_t>(msg->first)] = true;
        --left;
      }
      continue;
    }
    if (std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() > limit) {
      for (int r = 1; r < size; ++r)
        if (!quit[static_cast<std::size_t>(r)])
          std::fprintf(stderr,
                       "nncompress: error: rank %d did not answer within %.0f s at the end of the job: it died or "
                       "hangs (the outputs were written)\n",
                       r, limit);
      return false;
    }
    backoff.wait();
  }
  return true;
}
#endif

}  // namespace

Mode parse_mode(std::string_view name) {
  if (name == "auto") return Mode::kAuto;
  if (name == "mpi") return Mode::kMpi;
  if (name == "off") return Mode::kOff;
  fail_option("distributed", "'{}': expected auto, mpi or off", name);
}

bool built_with_mpi() { return NNC_HAVE_MPI != 0; }

int launched_ranks() { return env_int("OMPI_COMM_WORLD_SIZE"); }
int launched_local_ranks() { return env_int("OMPI_COMM_WORLD_LOCAL_SIZE"); }

int ranks() { return g_size; }

void register_task(const std::string& name, TaskFactory factory) { registry()[name] = std::move(factory); }

Session::Session(Mode mode) {
  const int launched = launched_ranks();
  if (mode == Mode::kOff) {
    NNC_CHECK_OPTION(launched <= 1, "distributed",
                     "off, but mpirun started {} ranks: each would do the whole job and write the same outputs "
                     "(drop --distributed off, or run without mpirun)",
                     launched);
    return;
  }
  if (mode == Mode::kAuto && launched < 1) return;
#if NNC_HAVE_MPI
  int initialised = 0;
  MPI_Initialized(&initialised);
  if (!initialised) MPI_Init(nullptr, nullptr);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &size_);
  // Errors come back as codes (the default handler would abort without saying why).
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  started_ = true;
  g_rank = rank_;
  g_size = size_;
#else
  if (mode == Mode::kAuto && launched == 1) return;  // one rank: nothing to share out
  fail_option("distributed",
              "{}: this build of nncompress has no MPI (install libopenmpi-dev and configure again; {} ranks were "
              "launched)",
              mode == Mode::kMpi ? "mpi" : "auto", launched);
#endif
}

Session::~Session() {
#if NNC_HAVE_MPI
  if (!started_) return;
  // MPI_Finalize waits for every rank: rank 0 first hears each one say it is quitting, so that a
  // rank that hangs ends the job with an error instead of holding it forever.
  if (g_failed || (rank_ == 0 && size_ > 1 && !all_quit(size_))) {
    std::signal(SIGTERM, SIG_DFL);  // mpirun ends this rank too: no "finishing the current step" note
    std::fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  MPI_Finalize();
  g_size = 1;
#endif
}

int Session::serve() {
#if NNC_HAVE_MPI
  // Ctrl-C reaches every rank of the terminal's job: rank 0 decides what stops.
  std::signal(SIGINT, SIG_IGN);
  std::unique_ptr<Task> task;
  std::string task_error;  // a phase this rank could not set up: every item answers with it
  Backoff backoff;
  for (;;) {
    auto msg = poll(0, kCommandTag);
    if (!msg) {
      backoff.wait();
      continue;
    }
    backoff.reset();
    ArchiveReader r(msg->second);
    const auto c = r.get<Command>();
    if (c == kQuit) {
      try_send(0, kResultTag, command(kQuit), std::numeric_limits<double>::infinity());
      return 0;
    }
    if (c == kClose) {
      task.reset();
      task_error.clear();
      continue;
    }
    if (c == kOpen) {
      std::string name;
      r.get(name);
      at::set_num_threads(std::max(1, r.get<int>()));
      const auto state = r.raw(r.get<uint64_t>());
      task.reset();
      task_error.clear();
      try {
        auto it = registry().find(name);
        NNC_CHECK(it != registry().end(), "no distributed task '{}' in this build", name);
        task = it->second(state);
      } catch (const std::exception& e) {
        task_error = e.what();
      }
      continue;
    }
    if (c == kUpdate) {
      if (task) task->update(r.raw(r.get<uint64_t>()));
      continue;
    }
    if (c == kItem) {
      const auto id = r.get<uint64_t>();
      const auto item = r.raw(r.get<uint64_t>());
      std::string result, error = task ? "" : (task_error.empty() ? "no open phase" : task_error);
      const auto t0 = std::chrono::steady_clock::now();
      if (task) {
        try {
          result = task->evaluate(item);
        } catch (const std::exception& e) {
          error = e.what();
        }
      }
      const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      // Rank 0 takes results whenever it polls; if it hangs, mpirun ends this rank.
      try_send(0, kResultTag,
               command(kItem,
                       [&](ArchiveWriter& w) {
                         w.put(id);
                         w.put<uint8_t>(error.empty() ? 0 : 1);
                         w.put(seconds);
                         w.put(error.empty() ? result : error);
                       }),
               std::numeric_limits<double>::infinity());
    }
  }
#else
  return 0;
#endif
}

Pool::Pool(std::string name, const std::function<std::string()>& state, Task& local)
    : name_(std::move(name)),
      local_(local),
      ranks_(g_size),
      by_rank_(static_cast<std::size_t>(g_size), 0),
      busy_(static_cast<std::size_t>(g_size), 0.0) {
  NNC_CHECK(g_rank == 0, "a distributed phase is opened by rank 0 only");
  if (ranks_ > 1) {  // one phase at a time on the other ranks (with one rank, nothing is shared)
    NNC_CHECK(!g_pool_open, "distributed phase '{}' opened inside another", name_);
    g_pool_open = true;
  }
#if NNC_HAVE_MPI
  if (ranks_ > 1) {
    const auto s = state();
    const auto open = command(kOpen, [&](ArchiveWriter& w) {
      w.put(name_);
      w.put<int>(at::get_num_threads());
      w.put(s);
    });
    for (int r = 1; r < ranks_; ++r) send(r, kCommandTag, open, fmt::format("the state of {}", name_));
    wire_bytes_ += static_cast<double>(open.size()) * (ranks_ - 1);
  }
#else
  (void)state;
#endif
}

Pool::~Pool() {
#if NNC_HAVE_MPI
  if (ranks_ > 1 && !g_failed)
    for (int r = 1; r < ranks_; ++r)  // a destructor does not throw: a rank that does not take it fails the job
      if (!try_send(r, kCommandTag, command(kClose), rank_limit(slowest_))) g_failed = true;
#endif
  if (ranks_ > 1) g_pool_open = false;
}

void Pool::update(const std::string& payload) {
#if NNC_HAVE_MPI
  if (ranks_ > 1) {
    const auto u = command(kUpdate, [&](ArchiveWriter& w) { w.put(payload); });
    for (int r = 1; r < ranks_; ++r) send(r, kCommandTag, u, fmt::format("an update of {}", name_), slowest_);
    wire_bytes_ += static_cast<double>(u.size()) * (ranks_ - 1);
  }
#endif
  local_.update(payload);
}

std::vector<std::optional<std::string>> Pool::map(const std::vector<std::string>& items, const Control& control,
                                                  const std::function<void(std::size_t)>& measured) {
  std::vector<std::optional<std::string>> results(items.size());
  std::size_t done = 0;
  auto count = [&] {
    ++done;
    if (measured) measured(done);
  };
  auto timed_local = [&](std::size_t i) {
    const auto t0 = std::chrono::steady_clock::now();
    results[i] = local_.evaluate(items[i]);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    slowest_ = std::max(slowest_, s);
    busy_[0] += s;
    ++by_rank_[0];
    count();
  };
  if (ranks_ == 1) {
    for (std::size_t i = 0; i < items.size() && !control.stop_requested(); ++i) timed_local(i);
    return results;
  }
#if NNC_HAVE_MPI
  using Clock = std::chrono::steady_clock;
  std::deque<std::size_t> queue;
  for (std::size_t i = 0; i < items.size(); ++i) queue.push_back(i);
  // Each other rank has up to two items: the one it measures and the next, already received, so
  // that it does not wait for this rank to finish its own item before it gets more work.
  constexpr std::size_t kInFlight = 2;
  struct Out {
    std::size_t item;
    Clock::time_point since;  // when the rank could start it (sent, or its previous item done)
  };
  std::vector<std::deque<Out>> out(static_cast<std::size_t>(ranks_));
  auto hand_out = [&](int r, bool start) {
    auto& o = out[static_cast<std::size_t>(r)];
    while (o.size() < kInFlight && !queue.empty() && !control.stop_requested()) {
      // At the start this rank keeps one item for itself; a second item goes out only while
      // there is work for every rank, so the last items of a batch go to whoever is free.
      if (o.empty() ? start && queue.size() <= 1 : queue.size() < static_cast<std::size_t>(ranks_)) break;
      const auto i = queue.front();
      queue.pop_front();
      const auto msg = command(kItem, [&](ArchiveWriter& w) {
        w.put<uint64_t>(i);
        w.put(items[i]);
      });
      send(r, kCommandTag, msg, fmt::format("item {} of {}", i, name_), slowest_);
      wire_bytes_ += static_cast<double>(msg.size());
      o.push_back(Out{i, Clock::now()});
    }
  };
  auto outstanding = [&] {
    for (const auto& o : out)
      if (!o.empty()) return true;
    return false;
  };
  // Takes every result that has arrived; checks the others' time.
  auto collect = [&] {
    bool any = false;
    while (auto msg = poll(MPI_ANY_SOURCE, kResultTag)) {
      any = true;
      wire_bytes_ += static_cast<double>(msg->second.size());
      const int r = msg->first;
      ArchiveReader rd(msg->second);
      rd.get<Command>();
      const auto id = rd.get<uint64_t>();
      const bool failed = rd.get<uint8_t>() != 0;
      const double seconds = rd.get<double>();
      std::string payload;
      rd.get(payload);
      auto& o = out[static_cast<std::size_t>(r)];
      NNC_CHECK(!o.empty() && o.front().item == id, "rank {} answered item {} it was not given", r, id);
      if (failed) {
        g_failed = true;
        fail(ErrorCode::kInternal, "rank {} failed in {}: {}", r, name_, payload);
      }
      slowest_ = std::max(slowest_, seconds);
      busy_[static_cast<std::size_t>(r)] += seconds;
      results[id] = std::move(payload);
      ++by_rank_[static_cast<std::size_t>(r)];
      count();
      o.pop_front();
      if (!o.empty()) o.front().since = Clock::now();
      hand_out(r, false);
    }
    const double limit = rank_limit(slowest_);
    for (int r = 1; r < ranks_; ++r) {
      const auto& o = out[static_cast<std::size_t>(r)];
      if (!o.empty() && std::chrono::duration<double>(Clock::now() - o.front().since).count() > limit) {
        g_failed = true;
        fail(ErrorCode::kInternal,
             "rank {} did not answer within {:.0f} s ({}, item {}): it died or hangs; the job stops (rerun the same "
             "command to resume from the run state)",
             r, limit, name_, o.front().item);
      }
    }
    return any;
  };
  // One item each first (this rank keeps at least one), then the second while work is plentiful.
  for (int r = 1; r < ranks_; ++r) hand_out(r, true);
  Backoff backoff;
  while (true) {
    collect();
    if (!queue.empty() && !control.stop_requested()) {
      const auto i = queue.front();
      queue.pop_front();
      timed_local(i);
      continue;
    }
    if (!outstanding()) break;
    if (collect())
      backoff.reset();
    else
      backoff.wait();
  }
#endif
  return results;
}

}  // namespace nnc::dist
