#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <thread>

#include "dbsnap/engine/postgres/psql_session.hpp"
#include "dbsnap/engine/postgres/restore.hpp"
#include "dbsnap/engine/postgres/restore_sql.hpp"
#include "dbsnap/engine/postgres/script_gate.hpp"
#include "dbsnap/engine/postgres/text.hpp"
#include "dbsnap/engine/tool.hpp"
#include "dbsnap/util/text.hpp"

namespace dbsnap::engine::postgres {

namespace {

// A test restore (`verify --restore`) into a scratch database on the same
// server, dbsnap_test_<hash of the database's name>, created from template0
// with the database's encoding and locale. The dump loads in one transaction
// after the same prologue as a restore's, which commits (deferred
// constraints are checked); a second connection then reads the revision and
// counts each table's rows, and the scratch database is dropped. A killed
// run's scratch database is dropped by the next test restore of the target
// (when no session still uses it).
class PostgresTrial final : public TrialRestore {
 public:
  PostgresTrial(std::unique_ptr<Client> client, const store::Manifest& snapshot)
      : client_(std::move(client)),
        scratch_("dbsnap_test_" + util::short_hash(client_->database(), 16)),
        scanner_(client_->schema(), client_->table(), snapshot.id) {
    create_scratch();
    try {
      psql_ = std::make_unique<PsqlSession>(client_->server(), client_->psql("dbsnap-verify", scratch_));
      input_ = std::make_unique<ToolFeed>([this](pipeline::Bytes data) { return psql_->write(data); },
                                          [this] { return stopped("psql stopped reading the dump"); });
      gate_ = std::make_unique<ScriptGate>(*input_, scanner_);
      auto sent = psql_->send("SELECT 'dbsnap-started:1';\n" + restore_prologue(default_lock_timeout));
      if (!sent || !psql_->wait_for_line("dbsnap-started:")) {
        fail(ErrorKind::engine, "target '{}': cannot start the test restore in {}: {}", name(), where(),
             stopped("psql stopped"));
      }
    } catch (...) {
      // No destructor runs for an object whose constructor threw: the scratch database goes here.
      discard();
      throw;
    }
  }

  ~PostgresTrial() override { discard(); }

  std::string where() const override {
    return fmt::format("scratch database '{}' in {}", scratch_, client_->server().runtime().where());
  }
  pipeline::Sink& input() override { return *gate_; }

  TrialResult finish() override {
    if (psql_->closed()) fail(ErrorKind::engine, "target '{}': {}", name(), stopped("psql had stopped"));
    if (!scanner_.refusal().empty()) fail(ErrorKind::engine, "target '{}': {}", name(), scanner_.refusal());
    if (!scanner_.at_top_level()) {
      fail(ErrorKind::engine, "target '{}': the dump ends inside a COPY block or function body", name());
    }
    // The prologue's renamed schemas go, then the load commits.
    auto sent = psql_->send("\nDO " + dollar_quote(drop_old_schemas_body()) +
                            ";\nCOMMIT;\nSELECT 'dbsnap-loaded:1';\n");
    if (!sent || !psql_->wait_for_line("dbsnap-loaded:")) {
      fail(ErrorKind::engine, "target '{}': {}", name(), stopped("loading the dump into " + where() + " failed"));
    }
    if (const auto status = close(); !status.ok()) {
      fail(ErrorKind::engine, "target '{}': loading the dump into {} failed: {}", name(), where(),
           failure_text(status));
    }
    const std::string version_table = quote_identifier(client_->schema()) + "." + quote_identifier(client_->table());
    const std::string sql = fmt::format(
        "SELECT pg_catalog.format('SELECT %L || version_num::text FROM %s;', 'dbsnap-rev:', c) "
        "FROM (SELECT pg_catalog.to_regclass({0}) AS c) s WHERE c IS NOT NULL \\gexec\n",
        quote_literal(version_table)) + count_rows_sql();
    auto r = client_->server().run(client_->psql("dbsnap-verify", scratch_), sql);
    if (!r.status.ok()) {
      fail(ErrorKind::engine, "target '{}': cannot read the test restore in {}: {}", name(), where(),
           describe_failure(r.err.empty() ? r.out : r.err));
    }
    TrialResult result;
    result.revisions = tagged(r.out, "dbsnap-rev:");
    std::sort(result.revisions.begin(), result.revisions.end());
    result.revisions.erase(std::unique(result.revisions.begin(), result.revisions.end()), result.revisions.end());
    result.tables = parse_count_rows(r.out);
    drop_scratch();
    return result;
  }

 private:
  const std::string& name() const { return client_->name(); }

  runtime::ExitStatus close() { return psql_->close_and_wait(); }
  std::string failure_text(const runtime::ExitStatus& status) const { return psql_->failure_text(status); }
  std::string stopped(std::string_view what) { return psql_->stopped(what); }

  // Ends psql (it rolls back) and drops the scratch database; never throws:
  // what cannot be dropped is said, and the next test restore drops it.
  void discard() noexcept {
    try {
      if (psql_ && !psql_->closed()) close();
      if (created_) drop_scratch();
    } catch (const std::exception& e) {
      fmt::print(stderr, "dbsnap: warning: target '{}': cannot drop the scratch database '{}' ({}); the next test "
                 "restore drops it\n", name(), scratch_, e.what());
    }
  }

  // Drops a leftover of a killed run, then creates the scratch database with
  // the target database's encoding and locale.
  void create_scratch() {
    const std::string probe = fmt::format(
        "SELECT 'dbsnap-version:' || pg_catalog.current_setting('server_version_num');\n"
        "SELECT 'dbsnap-create:' || pg_catalog.format('CREATE DATABASE %I TEMPLATE template0 ENCODING %L "
        "LC_COLLATE %L LC_CTYPE %L;', {}, pg_catalog.pg_encoding_to_char(encoding), datcollate, datctype) "
        "FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database();\n",
        quote_literal(scratch_));
    const std::string out = client_->query(probe, "prepare a test restore");
    const auto version = tagged(out, "dbsnap-version:");
    const auto create = tagged(out, "dbsnap-create:");
    if (version.empty() || create.empty()) {
      fail(ErrorKind::engine, "target '{}': cannot read the server's version and the database's encoding", name());
    }
    if (std::atoi(version.front().c_str()) < 100000) {
      fail(ErrorKind::engine, "target '{}': {} runs server_version_num {}; dbsnap needs PostgreSQL 10 or newer",
           name(), client_->where(), version.front());
    }
    drop_scratch();
    auto r = client_->run_script(create.front() + "\n");
    if (!r.status.ok()) {
      const std::string why = describe_failure(r.err.empty() ? r.out : r.err);
      if (why.find("permission denied") != std::string::npos) {
        fail(ErrorKind::engine, "target '{}': a test restore needs a scratch database on {} and user '{}' may not "
             "create one ({}); grant it CREATEDB (ALTER ROLE ... CREATEDB) or test as a user who may",
             name(), client_->server().runtime().where(), client_->user(), why);
      }
      fail(ErrorKind::engine, "target '{}': cannot create the scratch database '{}' for a test restore: {}", name(),
           scratch_, why);
    }
    created_ = true;
  }

  // Drops the scratch database. Never with FORCE: a session that still uses
  // it is another test restore's (a killed run's psql ends with its stdin),
  // so this waits a few seconds for sessions to end, then says so.
  void drop_scratch() {
    const std::string sql = fmt::format("DROP DATABASE IF EXISTS {};\n", quote_identifier(scratch_));
    for (int attempt = 0;; ++attempt) {
      auto r = client_->run_script(sql);
      if (r.status.ok()) break;
      const std::string why = describe_failure(r.err.empty() ? r.out : r.err);
      if (why.find("is being accessed by other users") != std::string::npos && attempt < 25) {
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        continue;
      }
      fail(ErrorKind::engine, "target '{}': cannot drop the scratch database '{}' (is another test restore of it "
           "running?): {}", name(), scratch_, why);
    }
    created_ = false;
  }

  std::unique_ptr<Client> client_;
  std::string scratch_;
  ScriptScanner scanner_;
  bool created_ = false;
  std::unique_ptr<PsqlSession> psql_;
  std::unique_ptr<ToolFeed> input_;
  std::unique_ptr<ScriptGate> gate_;
};

}  // namespace

std::unique_ptr<TrialRestore> start_trial(std::unique_ptr<Client> client, const store::Manifest& snapshot) {
  return std::make_unique<PostgresTrial>(std::move(client), snapshot);
}

}  // namespace dbsnap::engine::postgres
