#pragma once

// The repository lock between hosts: lock objects in the backend.
//
// A flock (util::FileLock) keeps the processes of one host apart; two hosts
// writing one bucket share no kernel. Each holder publishes its own object
// "locks/<32 hex>" (FORMAT.md, "Lock objects") saying who holds it (host,
// pid, command), how (shared or exclusive) and when it last said so. The
// protocol is restic's: publish your object first, then list "locks/"; a
// conflicting live object of somebody else means you remove yours and back
// off. Two takers that race both see each other and both back off, so no
// two conflicting holders ever go on (a listing is strongly consistent after
// a PUT on S3 and Ceph RGW, and on a folder).
//
// A holder rewrites its object every `refresh` (a thread of its own, on a
// backend of its own); an object not rewritten within `stale_after` is a
// dead holder's (a kill -9, a host that went away) and is ignored, and
// removed by the next exclusive taker. On the holder's own host an object
// whose pid is gone is stale at once. Releasing removes the object; a
// holder that cannot remove it leaves an object that goes stale.

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "dbsnap/store/backend.hpp"
#include "dbsnap/util/error.hpp"

namespace dbsnap::store::repo {

enum class LockObjectMode { shared, exclusive };

// One lock object as read back.
struct LockObjectInfo {
  std::string name;  // "locks/<32 hex>"
  std::string host;
  int pid = 0;
  LockObjectMode mode = LockObjectMode::shared;
  std::string command;
  std::int64_t created_ms = 0;
  std::int64_t refreshed_ms = 0;
};

struct LockObjectOptions {
  std::chrono::milliseconds refresh{std::chrono::minutes(5)};
  std::chrono::milliseconds stale_after{std::chrono::minutes(30)};
  std::string command;  // the holder's command line, for whoever waits
};

// The text of a lock object and its parser (FORMAT.md); parse is false for
// anything else.
std::string format_lock_object(const LockObjectInfo& info);
bool parse_lock_object(std::string_view text, LockObjectInfo& out);

// Whether `info` is a dead holder's at `now_ms` (see above).
bool is_stale(const LockObjectInfo& info, std::int64_t now_ms, std::chrono::milliseconds stale_after);

// The live lock objects in `backend` other than `except` (unreadable and
// stale ones left out). Stale ones are removed with StaleLocks::remove; a
// dead process's of this host always (its death is certain, not a guess
// from clocks).
enum class StaleLocks { keep, remove };
Expected<std::vector<LockObjectInfo>> live_lock_objects(Backend& backend, const std::string& except,
                                                        std::chrono::milliseconds stale_after, StaleLocks stale);

// "host h pid 12 (dbsnap prune), since 2026-...": the holders, for messages.
std::string describe_lock_objects(const std::vector<LockObjectInfo>& holders);

class LockObject {
 public:
  // Tries once: publishes this process's object in `mode` and keeps it when
  // no live conflicting object is there (a shared one conflicts with an
  // exclusive one; an exclusive one with any). Otherwise removes it again
  // and returns std::nullopt, `holders` naming the others. `backend` is
  // this lock's own (its refresh thread uses it). Errors: the backend's.
  static Expected<std::optional<LockObject>> try_acquire(std::unique_ptr<Backend> backend, LockObjectMode mode,
                                                         const LockObjectOptions& options,
                                                         std::vector<LockObjectInfo>* holders = nullptr);

  // Takes it, trying again every 1-5 s while a conflicting holder is there;
  // `on_wait` is told once whom it waits for. Errors: the backend's,
  // `interrupted` when SIGINT/SIGTERM arrived while waiting.
  static Expected<LockObject> acquire(std::function<Expected<std::unique_ptr<Backend>>()> open_backend,
                                      LockObjectMode mode, const LockObjectOptions& options,
                                      const std::function<void(const std::string&)>& on_wait);

  LockObject(LockObject&& other) noexcept;
  // Releases what this one held, then takes over `other`'s.
  LockObject& operator=(LockObject&& other) noexcept;
  LockObject(const LockObject&) = delete;
  // Stops the refresh thread and removes the object (errors: reported on stderr).
  ~LockObject();

  const std::string& name() const;

 private:
  struct State;
  explicit LockObject(std::unique_ptr<State> state);
  void release() noexcept;
  std::unique_ptr<State> state_;
};

}  // namespace dbsnap::store::repo
