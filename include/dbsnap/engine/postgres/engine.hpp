#pragma once

// The PostgreSQL engine: the folder's public face (the registry includes
// only this header). The other headers of engine/postgres/ are its
// internals, for its own files and its unit tests:
//   text            quoting, COPY's text format, dump header and trailer, psql's messages
//   script_scanner  what a pg_dump script says, line by line (revisions, rows, refusals)
//   meta_command    psql meta-commands anywhere in the script's SQL
//   script_gate     what stands between the dump and psql
//   restore_sql     the SQL around the dump in the restore's transaction
//   client          psql and pg_dump, through the shared engine::Server
//   psql_session    psql driven statement by statement
//   restore         the restore (restore.cpp) and the test restore (trial.cpp)
//
// PostgreSQL, usually in a container. Dumps run pg_dump (plain SQL,
// --no-owner --no-privileges) through the target's runtime, and the Alembic
// revision is read from the dump's own COPY block of the version table (the
// dump's consistent snapshot). Restores run one psql session in a
// transaction dbsnap drives: BEGIN, every user schema renamed aside
// (extensions, event triggers, publications, casts, foreign-data wrappers and
// large objects dropped) and a fresh public schema, then the dump; commit()
// checks the restored revision, drops the renamed schemas (waiting for other
// sessions' locks without holding any, up to lock_timeout seconds), prints
// the transaction id, sends COMMIT and confirms from a new connection that
// the transaction committed. Closing psql's stdin without COMMIT rolls it all
// back, so a dbsnap killed at any point changes nothing; other sessions read
// the old data until COMMIT. Lines that would end the transaction early (the
// BEGIN/COMMIT pg_dump writes around large objects) are refused before psql
// sees them.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dbsnap/engine/engine.hpp"
#include "dbsnap/engine/server.hpp"

namespace dbsnap::engine::postgres {

class PostgresEngine final : public Engine {
 public:
  PostgresEngine();
  std::string_view name() const override { return "postgres"; }
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

}  // namespace dbsnap::engine::postgres
