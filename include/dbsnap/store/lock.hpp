#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "dbsnap/util/error.hpp"
#include "dbsnap/util/fs.hpp"

namespace dbsnap::store {

namespace fs = std::filesystem;

// How a command holds a target: backups share it (several may run at once,
// each writes its own snapshot), whatever replaces the target's data
// (restore, upgrade, rollback) holds it alone.
enum class LockMode { shared, exclusive };

// Who holds a target's lock, as its holder note says.
struct LockHolder {
  int pid = 0;
  LockMode mode = LockMode::shared;
  std::string command;  // the holder's command line, e.g. "dbsnap restore latest --yes"
  std::string since;    // when it took the lock, RFC 3339 UTC
};

// What to lock and how long to wait for it.
struct LockRequest {
  fs::path store_root;
  std::string target;
  LockMode mode = LockMode::shared;
  std::chrono::milliseconds timeout{0};  // 0: a single try
  std::string command;                   // this process's command line, for the holder note
  // Called once, before waiting, with a sentence naming the holder(s).
  std::function<void(const std::string& message)> on_wait;
};

// <store>/.locks/<target>: a target's folder of lock, holder notes and
// records (failure_record.hpp, move_record.hpp).
fs::path target_folder(const fs::path& store_root, const std::string& target);

// A per-target lock in the store (FORMAT.md: Locks): flock(2) on
// <store>/.locks/<target>/lock. The kernel drops a flock when its holder
// dies, however it dies, so a killed dbsnap never leaves a stale lock; the
// descriptor is close-on-exec, so commands dbsnap runs do not inherit it.
// Each holder also writes a note (pid, mode, command line) beside it, which
// it keeps flocked while it lives, so that a process that has to wait can
// name whom it waits for; notes whose holder died are removed by whoever
// finds them. A process takes a target's lock once: the flocks of two
// descriptors of one process conflict like those of two processes.
class TargetLock {
 public:
  // Takes the lock, trying again every 20-200 ms until `timeout` has passed.
  // Errors: `busy` when the time ran out (the message names the holders and
  // the time waited), `interrupted` when SIGINT/SIGTERM arrived meanwhile,
  // `config` for a target name unusable as a folder, `failure` for I/O.
  static Expected<TargetLock> acquire(const LockRequest& request);

  // The live holders of a target's lock (their notes), removing notes whose
  // holder died. Empty when nobody holds it or the holders wrote no note.
  static std::vector<LockHolder> holders(const fs::path& store_root, const std::string& target);

  TargetLock(TargetLock&& other) noexcept;
  TargetLock& operator=(TargetLock&&) = delete;
  TargetLock(const TargetLock&) = delete;
  ~TargetLock();

  LockMode mode() const noexcept { return mode_; }

 private:
  TargetLock(util::UniqueFd lock_fd, LockMode mode) : lock_fd_(std::move(lock_fd)), mode_(mode) {}
  void write_note(const fs::path& dir, const std::string& command);
  util::UniqueFd lock_fd_;
  util::UniqueFd note_fd_;
  fs::path note_path_;
  LockMode mode_;
};

// "pid 1234 (dbsnap restore latest --yes)", several joined with "and";
// "another process" when `holders` is empty.
std::string describe_holders(const std::vector<LockHolder>& holders);

// Parses a holder note; false when it is not one.
bool parse_holder_note(std::string_view text, LockHolder& out);

// The text of a holder note (FORMAT.md: Locks).
std::string format_holder_note(const LockHolder& holder);

}  // namespace dbsnap::store
