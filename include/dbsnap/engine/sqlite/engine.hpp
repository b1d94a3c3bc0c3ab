#pragma once

// The SQLite engine: the folder's public face (the registry includes only
// this header). Its internals: `file` (databases on this host: the backup
// API, revisions, row counts), `restore` (the restore into a file on this
// host and the test restore), `container` (databases inside a container,
// through constant scripts run by the container's sqlite3 or python3).
//
// SQLite databases in files on this host, or inside a container (`file` is
// then the path inside it, and the container's sqlite3 or python3 makes the
// consistent copy with the same backup API). Dumps are the database file
// itself, copied with SQLite's online backup API inside one read transaction
// (so concurrent writers never make it inconsistent, and the revision is
// read from that same transaction). Restores decompress to a temp file
// beside the database, check it with PRAGMA integrity_check, and copy it
// into the live file with the backup API: one write transaction, so other
// connections see the old or the new database, never a mix.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dbsnap/engine/engine.hpp"
#include "dbsnap/engine/per_target.hpp"
#include "dbsnap/runtime/runtime.hpp"

namespace dbsnap::engine::sqlite {

class SqliteEngine final : public Engine {
 public:
  SqliteEngine();
  std::string_view name() const override { return "sqlite"; }
  const std::vector<config::KeySpec>& keys() const override;
  std::string blob_extension() const override { return "sqlite"; }
  bool exists(const config::Target& target, const WorkContext& context) override;
  DumpInfo dump(const config::Target& target, pipeline::Sink& out, const WorkContext& context) override;
  std::vector<std::string> read_revisions(const config::Target& target, const WorkContext& context) override;
  std::unique_ptr<RestoreSession> begin_restore(const config::Target& target, const store::Manifest& snapshot,
                                                const WorkContext& context) override;
  store::TableRows count_rows(const config::Target& target, const WorkContext& context) override;
  std::unique_ptr<TrialRestore> begin_trial_restore(const config::Target& target, const store::Manifest& snapshot,
                                                    const WorkContext& context) override;
  void remove_leftovers(const config::Target& target) noexcept override;
  bool locks_before_commit(const config::Target& target) const override;
  std::optional<std::uint64_t> size_bytes(const config::Target& target, const WorkContext& context) override;
  std::string data_directory(const config::Target& target, const WorkContext& context) override;

 private:
  // The runtime of a target in a container, made and checked once.
  PerTarget<runtime::Runtime> runtimes_;
};

}  // namespace dbsnap::engine::sqlite
