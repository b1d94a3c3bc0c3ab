// The restore's session: locks, the shadow schema, the loader, the direct
// mode and the test restore's read-back. The swap itself is in swap.cpp.

#include "dbsnap/engine/mysql/restore.hpp"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "dbsnap/util/text.hpp"

namespace dbsnap::engine::mysql {

MysqlRestore::MysqlRestore(std::shared_ptr<Server> server, const store::Manifest& snapshot,
                           const WorkContext& context, Purpose purpose)
    : revisions_(snapshot.revisions), client_(std::move(server)), purpose_(purpose) {
  const std::string client_version = client_.client().version;
  oracle_client_ = is_oracle(client_version);
  sandbox_ = client_has_sandbox(client_version);
  std::sort(revisions_.begin(), revisions_.end());
  shadow_ = shadow_schema(client_.database());
  old_ = old_schema(client_.database());
  lock_ = lock_name(client_.database());
  hold_restore_lock();
  prepare();
  if (direct_ && purpose_ == Purpose::trial) {
    release_restore_lock();
    fail(ErrorKind::engine, "target '{}': a test restore needs a scratch schema on {} and {}", target().name,
         client_.where(), direct_reason_);
  }
  if (direct_) {
    fmt::print(stderr,
               "dbsnap: warning: target '{}': {}; the verified dump will be loaded straight into database '{}' "
               "at the end (not all-or-nothing: the pre-restore safety snapshot is the way back)\n",
               target().name, direct_reason_, client_.database());
    auto spool = value_or_throw(util::make_private_temp(context.scratch_dir, "mysql-restore"));
    spool_fd_ = std::move(spool.first);
    spool_path_ = std::move(spool.second);
    spool_sink_ = std::make_unique<pipeline::FdSink>(spool_fd_.get());
    input_ = spool_sink_.get();
  } else {
    try {
      start_loader();
    } catch (...) {
      loader_.reset();
      drop_shadow();
      throw;
    }
  }
}

MysqlRestore::~MysqlRestore() {
  if (!spool_path_.empty()) {
    std::error_code ec;
    std::filesystem::remove(spool_path_, ec);
  }
  if (committed_) return;
  try {
    // Closing the client's stdin ends its session: nothing it loaded is visible.
    filter_.reset();
    gate_.reset();
    load_sink_.reset();
    loader_.reset();
    if (shadow_created_ && !keep_shadow_) drop_shadow();
  } catch (...) {
    // The next restore removes a leftover shadow schema.
  }
  release_restore_lock();
}

TrialResult MysqlRestore::trial_result() {
  wait_for_load();
  auto [live, shadow] = inspect(Definitions::skip);
  if (!shadow.exists) {
    fail(ErrorKind::engine, "target '{}': the scratch schema '{}' disappeared during the test restore (another "
         "restore?)", target().name, shadow_);
  }
  TrialResult result;
  result.revisions = std::move(shadow.revisions);
  std::sort(result.revisions.begin(), result.revisions.end());
  result.revisions.erase(std::unique(result.revisions.begin(), result.revisions.end()), result.revisions.end());
  if (!shadow.tables.empty()) {
    result.tables = read_counts(
        query(lock_sql(lock_, lock_wait_seconds) + count_rows_sql(shadow_, shadow.tables),
              "counting the rows of the scratch schema"));
  }
  drop_shadow();
  shadow_created_ = false;
  return result;
}

void MysqlRestore::commit() {
  if (direct_) {
    commit_direct();
  } else {
    commit_swap();
  }
  committed_ = true;
  release_restore_lock();
  if (!leftovers_.empty()) {
    fmt::print(stderr, "dbsnap: removed what an interrupted restore of '{}' had left: {}\n", target().name,
               util::join(leftovers_, ", "));
  }
}

void MysqlRestore::fail_sql(std::string_view what, const runtime::RunResult& r) const {
  if (r.err.find(lock_busy_marker) != std::string::npos) {
    fail(ErrorKind::engine, "target '{}': another dbsnap restore into {} is running (or a killed one is still "
         "finishing); try again in a minute", target().name, client_.where());
  }
  fail(ErrorKind::engine, "target '{}': {} failed: {}", target().name, what, client_.explain(r.err, r.status));
}

std::vector<std::string> MysqlRestore::loader_argv(std::string_view database) const {
  auto argv = client_.client_argv(database);
  if (sandbox_) argv.emplace_back("--sandbox");
  return argv;
}

void MysqlRestore::hold_restore_lock() {
  auto argv = client_.client_argv();
  argv.emplace_back("--unbuffered");  // the marker must come out while the client runs
  holder_ = client_.start(argv);
  const std::string sql = std::string(session_prologue) + "SET SESSION wait_timeout = 31536000;\n" +
                          lock_sql(run_lock_name(), 0) + fmt::format("SELECT '{}';\n", holding_marker);
  if (holder_->send(sql) && holder_->wait_for_stdout(holding_marker)) return;
  runtime::ExitStatus status;
  try {
    status = holder_->close_and_wait();
  } catch (...) {
    holder_.reset();
    throw;
  }
  const std::string err = holder_->stderr_text();
  holder_.reset();
  if (err.find(lock_busy_marker) != std::string::npos) {
    fail(ErrorKind::engine, "target '{}': another dbsnap restore into {} is running; try again when it is done",
         target().name, client_.where());
  }
  fail(ErrorKind::engine, "target '{}': taking the restore lock failed: {}", target().name,
       client_.explain(err, status));
}

void MysqlRestore::release_restore_lock() noexcept {
  if (!holder_) return;
  try {
    holder_->close_and_wait();
  } catch (...) {
    // Its session ends with the client anyway.
  }
  holder_.reset();
}

void MysqlRestore::prepare() {
  const std::string db = quote_string(client_.database());
  std::string sql = lock_sql(lock_, 0);
  sql += fmt::format(
      "SELECT 'leftover', SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME IN ({0}, {2});\n"
      "SET SESSION foreign_key_checks = 0;\n"
      "DROP DATABASE IF EXISTS {3};\n"
      "DROP DATABASE IF EXISTS {5};\n"
      "{6}"
      "SET @dbsnap_q = IF(@dbsnap_fk = 0, CONCAT({4}, IFNULL((SELECT "
      "DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = {1}), @@collation_server)), "
      "'DO 0');\n"
      "PREPARE dbsnap_q FROM @dbsnap_q;\nEXECUTE dbsnap_q;\nDEALLOCATE PREPARE dbsnap_q;\n"
      "SELECT 'created', IF(@dbsnap_fk = 0, 1, 0);\n",
      quote_string(shadow_), db, quote_string(old_), quote_identifier(shadow_),
      quote_string("CREATE DATABASE " + quote_identifier(shadow_) + " COLLATE "), quote_identifier(old_),
      // Foreign keys of other schemas into the database keep a swap from
      // being safe; a test restore never swaps.
      purpose_ == Purpose::trial
          ? std::string("SET @dbsnap_fk = 0;\n")
          : fmt::format("SET @dbsnap_fk = (SELECT COUNT(*) FROM information_schema.REFERENTIAL_CONSTRAINTS "
                        "WHERE UNIQUE_CONSTRAINT_SCHEMA = {0} AND CONSTRAINT_SCHEMA <> {0});\n", db));
  auto r = client_.run_sql(sql);
  const auto rows = parse_batch(r.out);
  std::vector<std::string> leftovers;  // reported once the restore worked (errors stay one line)
  for (const auto& row : rows) {
    if (row.size() == 2 && row[0] == "leftover") leftovers.push_back(row[1]);
    if (row.size() == 2 && row[0] == "created") {
      shadow_created_ = row[1] == "1";
      if (!shadow_created_) {
        direct_ = true;
        direct_reason_ = fmt::format("tables of other schemas have foreign keys into database '{}', which a "
                                     "swap would leave pointing at the old tables", client_.database());
      }
    }
  }
  leftovers_ = std::move(leftovers);
  if (r.status.ok()) return;
  const int code = error_code(r.err).value_or(0);
  if ((code == 1044 || code == 1227) && r.err.find(lock_busy_marker) == std::string::npos) {
    direct_ = true;
    direct_reason_ = fmt::format("user '{}' may not create the shadow schema '{}' ({})",
                                 target().string("user", "root"), shadow_, util::last_nonempty_line(r.err));
    return;
  }
  fail_sql("preparing the restore", r);
}

void MysqlRestore::start_loader() {
  loader_ = client_.start(loader_argv(shadow_));
  gate_loader();
  input_ = filter_.get();
  // The loader holds the restore lock for as long as it runs.
  if (auto r = loader_->send(lock_sql(lock_, lock_wait_seconds)); !r) throw DbsnapError(r.error());
}

void MysqlRestore::gate_loader() {
  load_sink_ = std::make_unique<ToolFeed>([this](pipeline::Bytes data) { return loader_->write(data); },
                                          [this] { return load_failure(); });
  gate_ = std::make_unique<ClientCommandGate>(*load_sink_);
  filter_ = std::make_unique<SandboxFilter>(*gate_, oracle_client_);
}

std::string MysqlRestore::load_failure() {
  runtime::ExitStatus status;
  try {
    status = loader_->close_and_wait();
  } catch (const DbsnapError& e) {
    return e.what();
  }
  const std::string& err = loader_->stderr_text();
  if (err.find(lock_busy_marker) != std::string::npos) {
    return fmt::format("another dbsnap restore into {} is running; try again in a minute", client_.where());
  }
  return fmt::format("loading the dump into the shadow schema '{}' failed: {}", shadow_,
                     client_.explain(err, status));
}

Rows MysqlRestore::query(const std::string& sql, std::string_view what) {
  auto r = client_.run_sql(sql);
  if (!r.status.ok()) fail_sql(what, r);
  return parse_batch(r.out);
}

void MysqlRestore::drop_shadow() {
  std::string sql = lock_sql(lock_, lock_wait_seconds);
  sql += "DROP DATABASE IF EXISTS " + quote_identifier(shadow_) + ";\n";
  client_.run_sql(sql);
}

void MysqlRestore::wait_for_load() {
  if (auto r = loader_->send(fmt::format("\nSELECT '{}';\n", loaded_marker)); !r) {
    fail(ErrorKind::engine, "target '{}': {}; target unchanged", target().name, load_failure());
  }
  const auto status = loader_->close_and_wait();
  if (!status.ok() || loader_->stdout_text().find(loaded_marker) == std::string::npos) {
    fail(ErrorKind::engine, "target '{}': loading the dump into the shadow schema '{}' failed: {}; target "
         "unchanged", target().name, shadow_, client_.explain(loader_->stderr_text(), status));
  }
}

void MysqlRestore::commit_direct() {
  if (::lseek(spool_fd_.get(), 0, SEEK_SET) != 0) {
    fail(ErrorKind::failure, "cannot rewind {}: {}", spool_path_.string(), std::strerror(errno));
  }
  Schema live{.name = client_.database()};
  read_listing(query(lock_sql(lock_, lock_wait_seconds) + listing_sql('o', live.name), "inspecting the database"),
               {{'o', &live}});
  const std::string& db = live.name;
  std::string prologue = lock_sql(lock_, lock_wait_seconds);
  if (!live.exists) prologue += "CREATE DATABASE " + quote_identifier(db) + ";\n";
  prologue += "USE " + quote_identifier(db) + ";\nSET SESSION foreign_key_checks = 0;\n";
  for (const auto& v : live.views) prologue += "DROP VIEW IF EXISTS " + qualified(db, v) + ";\n";
  for (const auto& t : live.tables) prologue += "DROP TABLE IF EXISTS " + qualified(db, t) + ";\n";
  for (const auto& r : live.routines) prologue += drop_routine_sql(db, r, Missing::ignore);
  for (const auto& e : live.events) prologue += "DROP EVENT IF EXISTS " + qualified(db, e) + ";\n";

  loader_ = client_.start(loader_argv());
  auto broken = [&](const std::string& why) {
    fail(ErrorKind::engine, "target '{}': restoring straight into database '{}' failed: {}; it is incomplete: "
         "restore the pre-restore safety snapshot (dbsnap list --target {})", target().name, db, why,
         target().name);
  };
  gate_loader();
  if (auto r = loader_->send(prologue); !r) broken(load_failure());
  pipeline::FdSource source(spool_fd_.get());
  if (auto moved = pipeline::pump(source, *filter_); !moved) broken(moved.error().message);
  if (auto r = loader_->send(fmt::format("\nSELECT '{}';\n", loaded_marker)); !r) broken(load_failure());
  const auto status = loader_->close_and_wait();
  if (!status.ok() || loader_->stdout_text().find(loaded_marker) == std::string::npos) {
    broken(client_.explain(loader_->stderr_text(), status));
  }
  Schema restored{.name = db};
  for (const auto& row : query(revisions_sql(db, version_table(target())), "reading the restored revision")) {
    if (row.size() == 2 && row[0] == "v") restored.revisions.push_back(row[1]);
  }
  std::sort(restored.revisions.begin(), restored.revisions.end());
  if (restored.revisions != revisions_) {
    broken(fmt::format("it holds revision {}, the snapshot recorded {}", util::revision_text(restored.revisions),
                       util::revision_text(revisions_)));
  }
}

}  // namespace dbsnap::engine::mysql
