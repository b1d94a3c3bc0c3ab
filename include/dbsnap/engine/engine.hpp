#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dbsnap/config/config.hpp"
#include "dbsnap/pipeline/stream.hpp"
#include "dbsnap/store/manifest.hpp"

namespace dbsnap::engine {

// What a dump recorded besides its bytes.
struct DumpInfo {
  std::vector<std::string> revisions;  // sorted Alembic revision set, read from the dump's own consistent view
  std::string tool_version;
  std::string server_version;
  std::string source;  // what was dumped, for people and manifests; never a secret
  // Rows per table, counted as the dump streamed by (what `verify --restore`
  // checks a test restore against); nullopt when the engine could not count them.
  std::optional<store::TableRows> tables;
};

// What an engine may use while it works: a folder for private scratch files
// (inside the store, so on the same file system as the snapshots).
struct WorkContext {
  std::filesystem::path scratch_dir;
};

// A restore in progress. The verified dump is written into input(); nothing
// the target's users can see changes before commit(), which the caller
// invokes only after the whole stream has been checked against the
// manifest's checksums. Destroying a session without commit() abandons it
// and leaves the database exactly as it was.
class RestoreSession {
 public:
  virtual ~RestoreSession() = default;
  virtual pipeline::Sink& input() = 0;
  // Makes the restore take effect, all or nothing. Throws DbsnapError.
  virtual void commit() = 0;
  // commit(), calling `under_lock` once the session holds the target's
  // write lock and before it changes anything, so that what `under_lock`
  // reads (the pre-restore safety snapshot) is exactly what the restore
  // replaces: no writer can commit in between. An exception from it
  // abandons the restore, the target unchanged. Only for engines whose
  // Engine::locks_before_commit() is true for the target; the default runs
  // `under_lock` first and then commit().
  virtual void commit(const std::function<void()>& under_lock) {
    under_lock();
    commit();
  }
  // True when commit() itself checked, before the restored data became
  // visible, that it holds exactly the snapshot's Alembic revisions; callers
  // then need not read the revision back (one round trip less per restore).
  virtual bool checks_revision() const { return false; }
};

// What a test restore found in its scratch copy.
struct TrialResult {
  std::vector<std::string> revisions;  // the Alembic revision set it holds, sorted
  store::TableRows tables;             // rows per table, named as a manifest's `tables` names them
};

// A test restore (`verify --restore`): the dump is loaded into a scratch
// database beside the target's (never the target's own database), then read
// back. The scratch copy is removed by finish() and by the destructor,
// whatever happened; a killed run's copy is recognised and removed by the
// next test restore of the target (or, for a file, the next open of the store).
class TrialRestore {
 public:
  virtual ~TrialRestore() = default;
  // Where the dump is loaded, for messages ("scratch database 'x' on ...").
  virtual std::string where() const = 0;
  virtual pipeline::Sink& input() = 0;
  // Waits for the load to end, reads the scratch copy's revisions and the
  // rows of each of its tables, and removes the copy. Throws an `engine`
  // DbsnapError when the load failed, saying why.
  virtual TrialResult finish() = 0;
};

// One line of `dbsnap doctor`: a check, what it found and how to fix it.
struct Check {
  enum class Level { ok, warn, fail };
  Level level = Level::ok;
  std::string name;
  std::string detail;
  std::string fix;  // empty when there is nothing to do
};

// One database engine: how to dump, restore and read the Alembic revision.
// Implementations throw DbsnapError (kind engine or runtime) with a one-line
// message that says what failed and how to fix it.
class Engine {
 public:
  virtual ~Engine() = default;
  virtual std::string_view name() const = 0;
  // The target keys this engine accepts (beyond `engine`).
  virtual const std::vector<config::KeySpec>& keys() const = 0;
  // The blob's kind in its file name: "<id>.<kind>.zst".
  virtual std::string blob_extension() const = 0;
  // True when the target's database exists (a restore into a missing one
  // needs no safety snapshot).
  virtual bool exists(const config::Target& target, const WorkContext& context) = 0;
  // Streams a consistent dump of the target into `out` and finishes it.
  // Returns only when the dump is known to be complete; throws otherwise
  // (the caller, core::take_snapshot, adds that nothing was published).
  virtual DumpInfo dump(const config::Target& target, pipeline::Sink& out, const WorkContext& context) = 0;
  // The target's current Alembic revision set, sorted; empty when unversioned.
  virtual std::vector<std::string> read_revisions(const config::Target& target, const WorkContext& context) = 0;
  // True when the target's restore session can hold the target's write lock
  // across the caller's safety snapshot and its own commit
  // (RestoreSession::commit(under_lock)); otherwise the caller takes the
  // safety snapshot before begin_restore(). Default false.
  virtual bool locks_before_commit(const config::Target& target) const;
  // Prepares an all-or-nothing restore of `snapshot` into the target.
  virtual std::unique_ptr<RestoreSession> begin_restore(const config::Target& target,
                                                        const store::Manifest& snapshot,
                                                        const WorkContext& context) = 0;

  // Starts a test restore of `snapshot` into a scratch copy beside the
  // target's database (MySQL/MariaDB: a scratch schema on the same server;
  // PostgreSQL: a scratch database; SQLite: a temp file in the store's
  // scratch folder). Throws a one-line `engine` DbsnapError when the scratch
  // copy cannot be made (the user may not create it), `runtime` when the
  // server cannot be reached.
  virtual std::unique_ptr<TrialRestore> begin_trial_restore(const config::Target& target,
                                                            const store::Manifest& snapshot,
                                                            const WorkContext& context) = 0;

  // Rows per table of the target's database now, named as a manifest's
  // `tables` names them: what a rollback plan compares with a snapshot's
  // counts to say what restoring it loses. Counts every table (a full scan
  // on most engines): for plans, not for every command. Throws like
  // read_revisions.
  virtual store::TableRows count_rows(const config::Target& target, const WorkContext& context) = 0;

  // Removes what killed restores left beside the target's database (temp
  // files no live process holds a lock on), so a `kill -9` does not leave a
  // full-size copy there until the next backup or restore. Cheap (a folder
  // listing); never throws, never touches anything a process holds. `list`
  // and `verify` call it for every configured target. Default: nothing.
  virtual void remove_leftovers(const config::Target& target) noexcept;

  // Engine-specific health checks for `dbsnap doctor`: tools present with
  // their versions, credentials working, the database existing. The default
  // checks that the database exists. Never throws: failures are checks.
  virtual std::vector<Check> diagnose(const config::Target& target, const WorkContext& context);
  // The database's size in bytes (for doctor's free-space check); nullopt
  // when the engine cannot tell. Throws like read_revisions when asking
  // failed, so that doctor can say why.
  virtual std::optional<std::uint64_t> size_bytes(const config::Target& target, const WorkContext& context);
  // The server's data directory inside its container (for doctor's volume
  // check); empty when the engine cannot tell. Throws like size_bytes.
  virtual std::string data_directory(const config::Target& target, const WorkContext& context);
};

// The engine registered under `name`, or nullptr.
Engine* find_engine(std::string_view name);

// The engine a target names; a config error for an unknown one.
Engine& engine_for(const config::Target& target);

// Every registered engine name, sorted.
std::vector<std::string> engine_names();

// The key schema the config loader checks targets against: the engine's
// keys plus those common to all engines.
config::KeySchema key_schema();

}  // namespace dbsnap::engine
