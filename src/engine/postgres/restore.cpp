// A restore: one psql session in one transaction. BEGIN and the prologue
// rename every user schema aside; the verified dump loads; commit() sends the
// epilogue (the revision checked, the renamed schemas dropped, the
// transaction id printed), then COMMIT only once psql has printed that id,
// and confirms how the transaction ended. Closing psql's stdin before COMMIT
// rolls everything back: a dbsnap killed at any point changes nothing.

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

namespace dbsnap::engine::postgres {

namespace {

class PostgresRestore final : public RestoreSession {
 public:
  PostgresRestore(std::unique_ptr<Client> client, const store::Manifest& snapshot, int lock_timeout)
      : client_(std::move(client)),
        revisions_(snapshot.revisions),
        lock_timeout_(lock_timeout),
        scanner_(client_->schema(), client_->table(), snapshot.id) {
    psql_ = std::make_unique<PsqlSession>(client_->server(), client_->psql("dbsnap-restore"));
    input_ = std::make_unique<ToolFeed>([this](pipeline::Bytes data) { return psql_->write(data); },
                                        [this] { return stopped("psql stopped reading the dump"); });
    gate_ = std::make_unique<ScriptGate>(*input_, scanner_);
    // The server's version proves the session is connected (a missing
    // database gets its own message); the prologue starts the transaction.
    auto sent = psql_->send(
        "SELECT 'dbsnap-version:' || pg_catalog.current_setting('server_version_num');\n" +
        restore_prologue(lock_timeout_));
    auto version = sent ? psql_->wait_for_line("dbsnap-version:") : std::nullopt;
    if (!version) {
      const auto status = close();
      if (database_missing(psql_->stderr_text())) {
        // The suggestion is a shell command line: the name goes in single quotes there.
        std::string quoted = "'";
        for (char c : client_->database()) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
        fail(ErrorKind::engine, "target '{}': {} does not exist; create it first (createdb {}') or fix 'database'",
             name(), client_->where(), quoted);
      }
      fail(ErrorKind::engine, "target '{}': cannot start the restore ({}): {}", name(), client_->where(),
           failure_text(status));
    }
    version_ = std::atoi(version->c_str());
    if (version_ < 100000) {
      fail(ErrorKind::engine, "target '{}': {} runs server_version_num {}; dbsnap needs PostgreSQL 10 or newer",
           name(), client_->where(), *version);
    }
  }

  pipeline::Sink& input() override { return *gate_; }

  void commit() override {
    if (psql_->closed()) fail(ErrorKind::engine, "target '{}': {}", name(), stopped("psql had stopped"));
    if (!scanner_.refusal().empty()) fail(ErrorKind::engine, "target '{}': {}", name(), scanner_.refusal());
    if (!scanner_.at_top_level()) {
      fail(ErrorKind::engine, "target '{}': the dump ends inside a COPY block or function body; nothing was restored",
           name());
    }
    if (auto r = psql_->send(restore_epilogue(client_->schema(), client_->table(), revisions_, lock_timeout_,
                                              version_));
        !r) {
      fail(ErrorKind::engine, "target '{}': {}", name(), stopped("psql stopped before COMMIT"));
    }
    // COMMIT goes out only once psql is past everything that can fail or
    // wait: a dbsnap killed before this point leaves a rollback behind.
    const std::string xid = psql_->wait_for_line("dbsnap-xid:").value_or("");
    if (xid.empty() || !std::all_of(xid.begin(), xid.end(), ::isdigit)) {
      const auto status = close();
      fail(ErrorKind::engine, "target '{}': the restore was rolled back, {} is unchanged: {}", name(),
           client_->where(), failure_text(status));
    }
    // The same session then asks how its transaction ended: with
    // ON_ERROR_STOP a failed COMMIT never gets there, and a 'committed'
    // answer from the server settles it without another connection.
    (void)psql_->send("COMMIT;\n" + status_query(xid));
    const auto status = close();
    const auto values = tagged(psql_->output(), "dbsnap-status:");
    if (status.ok() && values.size() == 1 && values.front() == "committed") return;
    confirm(xid, status);
  }

  bool checks_revision() const override { return true; }

 private:
  const std::string& name() const { return client_->name(); }

  runtime::ExitStatus close() { return psql_->close_and_wait(); }
  std::string failure_text(const runtime::ExitStatus& status) const { return psql_->failure_text(status); }
  // Closes psql (it rolls back) and says why it stopped.
  std::string stopped(std::string_view what) { return psql_->stopped(what) + "; the transaction was rolled back"; }

  // The query that prints "dbsnap-status:<committed|aborted|in progress|unknown>" for transaction `xid`.
  std::string status_query(const std::string& xid) const {
    return version_ >= 130000
               ? fmt::format("SELECT 'dbsnap-status:' || coalesce(pg_catalog.pg_xact_status('{}'::xid8), 'unknown');\n",
                             xid)
               : fmt::format("SELECT 'dbsnap-status:' || coalesce(pg_catalog.txid_status({}), 'unknown');\n", xid);
  }

  // psql exits 0 even when its transaction rolled back: ask a new connection.
  void confirm(const std::string& xid, const runtime::ExitStatus& status) {
    const std::string sql = status_query(xid);
    std::string state;
    for (int attempt = 0; attempt < 50; ++attempt) {
      auto values = tagged(client_->query(sql, "confirm the restore's COMMIT"), "dbsnap-status:");
      state = values.empty() ? "unknown" : values.front();
      if (state != "in progress") break;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    if (state == "committed") return;
    if (state == "aborted") {
      fail(ErrorKind::engine, "target '{}': COMMIT of the restore failed, {} is unchanged: {}", name(),
           client_->where(), failure_text(status));
    }
    fail(ErrorKind::engine,
         "target '{}': cannot tell whether the restore committed (transaction {} is '{}'); check {} before using it",
         name(), xid, state, client_->where());
  }

  std::unique_ptr<Client> client_;
  std::vector<std::string> revisions_;
  int version_ = 0;
  int lock_timeout_;
  ScriptScanner scanner_;
  std::unique_ptr<PsqlSession> psql_;
  std::unique_ptr<ToolFeed> input_;
  std::unique_ptr<ScriptGate> gate_;
};

}  // namespace

std::unique_ptr<RestoreSession> start_restore(std::unique_ptr<Client> client, const store::Manifest& snapshot,
                                              int lock_timeout) {
  return std::make_unique<PostgresRestore>(std::move(client), snapshot, lock_timeout);
}

}  // namespace dbsnap::engine::postgres
