#pragma once

// The MySQL/MariaDB engine: the folder's public face (the registry includes
// only this header). The other headers of engine/mysql/ are its internals,
// for its own files and its unit tests:
//   text         quoting, the client's batch output, version strings, names
//   dump_scan    what a dump says as it streams by (revisions, completeness)
//   row_counter  rows per table, counted from the dump's INSERTs
//   client_gate  what a dump may not make the client do
//   client       the client and dump tool, through the shared engine::Server
//   schema_sql   SQL that reads and re-creates a schema's objects
//   restore      the restore session; swap.cpp holds the swap and its undo
//
// MySQL and MariaDB, usually in a container. Dumps run the server's own dump
// tool (mariadb-dump or mysqldump) through the target's runtime; the Alembic
// revision is read from the dump's own INSERT into the version table (the
// --single-transaction view). Restores load the dump into a shadow schema
// (<db>_dbsnap_shadow_<hash>) while the database stays as it is, check the
// load and its revision once the stream is verified, then swap with ONE
// multi-table RENAME TABLE: the database's tables into a side schema
// (<db>_dbsnap_old_<hash>), the shadow's tables into the database. Parking the
// old tables in their own schema keeps explicitly named foreign keys apart
// (their names are unique per schema); their triggers, which cannot cross
// schemas, are dropped just before and re-created by an undo. Triggers,
// views, routines and events are re-created around the swap; a failure
// after it is undone by name, and the old tables are dropped only after
// success. A restore lock (GET_LOCK) keeps
// restores of one database apart and lets the next one remove what a killed
// one left. When a swap cannot be done safely (no right to create a schema,
// foreign keys from other schemas), the verified dump is replayed straight
// into the database at commit(), guarded by the caller's pre-restore safety
// snapshot; a warning says so.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dbsnap/engine/engine.hpp"
#include "dbsnap/engine/server.hpp"

namespace dbsnap::engine::mysql {

class MysqlEngine final : public Engine {
 public:
  MysqlEngine();
  std::string_view name() const override { return "mysql"; }
  const std::vector<config::KeySpec>& keys() const override;
  std::string blob_extension() const override { return "sql"; }
  bool exists(const config::Target& target, const WorkContext& context) override;
  DumpInfo dump(const config::Target& target, pipeline::Sink& out, const WorkContext& context) override;
  std::vector<std::string> read_revisions(const config::Target& target, const WorkContext& context) override;
  std::unique_ptr<RestoreSession> begin_restore(const config::Target& target, const store::Manifest& snapshot,
                                                const WorkContext& context) override;
  store::TableRows count_rows(const config::Target& target, const WorkContext& context) override;
  std::unique_ptr<TrialRestore> begin_trial_restore(const config::Target& target, const store::Manifest& snapshot,
                                                    const WorkContext& context) override;
  std::vector<Check> diagnose(const config::Target& target, const WorkContext& context) override;
  std::optional<std::uint64_t> size_bytes(const config::Target& target, const WorkContext& context) override;
  std::string data_directory(const config::Target& target, const WorkContext& context) override;

 private:
  ServerCache servers_;
};

}  // namespace dbsnap::engine::mysql
