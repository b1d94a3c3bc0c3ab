#include "dbsnap/engine/sqlite/restore.hpp"

#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <optional>

#include "dbsnap/engine/sqlite/file.hpp"
#include "dbsnap/util/fs.hpp"
#include "dbsnap/util/interrupt.hpp"

namespace dbsnap::engine::sqlite {

namespace {

class SqliteRestore final : public RestoreSession {
 public:
  SqliteRestore(const config::Target& target, fs::path live, util::UniqueFd fd, fs::path temp)
      : target_(target), live_(std::move(live)), fd_(std::move(fd)), temp_(std::move(temp)), sink_(fd_.get()) {}

  ~SqliteRestore() override {
    if (!temp_.empty()) remove_with_sidecars(temp_);
  }

  pipeline::Sink& input() override { return sink_; }

  void commit() override { commit(std::function<void()>()); }

  // `under_lock` (the pre-restore safety snapshot) runs while no other
  // connection can commit: with a WAL database, after the backup's first
  // empty step took the write lock (readers still read); with a rollback
  // journal, whose write lock would keep the safety snapshot's own reader
  // out, inside a read transaction of ours (a writer cannot commit while a
  // reader holds the file), and the file change counter, which every commit
  // bumps, must be the same once the backup holds the write lock: a writer
  // that committed in that moment makes the restore stop, nothing changed.
  void commit(const std::function<void()>& under_lock) override {
    value_or_throw(util::fsync_fd(fd_.get(), temp_));
    const std::string what = fmt::format("target '{}': restore into {}", target_.name, live_.string());
    try {
      std::optional<SQLite::Database> restored;
      restored.emplace(temp_.string(), SQLite::OPEN_READWRITE);
      // The integrity check (and a VACUUM) of a large image takes seconds: a
      // signal meanwhile ends them, and the restore stops before its commit point.
      sqlite3_progress_handler(restored->getHandle(), 10000,
                               [](void*) -> int { return util::interrupt_signal() != 0 ? 1 : 0; }, nullptr);
      const std::string image_mode = restored->execAndGet("PRAGMA journal_mode").getString();
      // A WAL-mode image would grow -wal/-shm files beside the live database; use a rollback journal.
      restored->exec("PRAGMA journal_mode=DELETE");
      std::string check = restored->execAndGet("PRAGMA integrity_check").getString();
      if (check != "ok") fail(ErrorKind::corrupt, "{}: the snapshot fails PRAGMA integrity_check: {}", what, check);

      std::optional<SQLite::Database> live;
      std::error_code ec;
      if (fs::exists(live_, ec)) {
        try {
          live.emplace(live_.string(), SQLite::OPEN_READWRITE);
          live->setBusyTimeout(busy_timeout_ms);
          live->execAndGet("PRAGMA schema_version");  // reads page 1: fails on a file that is not a database
        } catch (const SQLite::Exception& e) {
          // A live file SQLite cannot read is no database anyone can be using: replace it.
          std::fprintf(stderr, "dbsnap: %s is damaged (%s); replacing the file\n", live_.c_str(), e.what());
          live.reset();
        }
      }
      if (!live) {
        if (under_lock) under_lock();  // nothing to lock: no database anyone can write
        // Nothing usable to protect: the verified file becomes the database, in its original journal mode.
        if (image_mode == "wal") restored->exec("PRAGMA journal_mode=WAL");
        restored.reset();
        value_or_throw(util::fsync_fd(fd_.get(), temp_));
        mode_t mask = ::umask(0);
        ::umask(mask);
        ::fchmod(fd_.get(), 0666 & ~mask);
        for (const char* suffix : {"-journal", "-wal", "-shm"}) fs::remove(live_.string() + suffix, ec);
        if (::rename(temp_.c_str(), live_.c_str()) != 0) {
          fail(ErrorKind::engine, "{}: cannot rename the restored file into place: {}", what, std::strerror(errno));
        }
        temp_.clear();
        value_or_throw(util::fsync_dir(live_.parent_path()));
        return;
      }

      const int live_page = live->execAndGet("PRAGMA page_size").getInt();
      const std::string live_mode = live->execAndGet("PRAGMA journal_mode").getString();
      const int restored_page = restored->execAndGet("PRAGMA page_size").getInt();
      if (live_page != restored_page && live_mode == "wal") {
        // SQLite cannot change the page size of a WAL database through the
        // backup API (SQLITE_READONLY); rewrite the copy at the live page size.
        restored->exec(fmt::format("PRAGMA page_size={}", live_page));
        restored->exec("VACUUM");
      }
      // Until the backup's last step commits, a signal rolls the live file back (OnSignal::abort).
      if (!under_lock || live_mode == "wal") {
        run_backup(*live, *restored, what, OnSignal::abort, under_lock);
        return;
      }
      live->exec("BEGIN");
      live->execAndGet("SELECT count(*) FROM sqlite_master");  // holds a shared lock: no commit can happen
      const auto before = change_counter(live_);
      under_lock();
      live->exec("COMMIT");
      run_backup(*live, *restored, what, OnSignal::abort, [&] {
        if (change_counter(live_) != before) {
          fail(ErrorKind::engine, "{}: another connection committed to the database after its safety snapshot; "
               "nothing was restored (the safety snapshot stays listed); stop the application's writers "
               "(stop_containers in dbsnap.toml) or retry", what);
        }
      });
    } catch (const SQLite::Exception& e) {
      util::check_interrupted();  // SQLITE_INTERRUPT from the progress handler
      fail(ErrorKind::engine, "{}: {}", what, e.what());
    }
  }

 private:
  const config::Target& target_;
  fs::path live_;
  util::UniqueFd fd_;
  fs::path temp_;
  pipeline::FdSink sink_;
};


class SqliteTrial final : public TrialRestore {
 public:
  SqliteTrial(const config::Target& target, const WorkContext& context)
      : table_(version_table(target)), name_(target.name) {
    auto temp = value_or_throw(util::make_private_temp(context.scratch_dir, "sqlite-trial"));
    fd_ = std::move(temp.first);
    path_ = std::move(temp.second);
    sink_ = std::make_unique<pipeline::FdSink>(fd_.get(), path_.string());
  }
  ~SqliteTrial() override { remove_with_sidecars(path_); }

  std::string where() const override { return "a temporary copy in " + path_.parent_path().string(); }
  pipeline::Sink& input() override { return *sink_; }

  TrialResult finish() override {
    TrialResult result;
    try {
      SQLite::Database db(path_.string(), SQLite::OPEN_READWRITE);  // a private copy: its journal mode may change
      db.exec("PRAGMA journal_mode=DELETE");
      const std::string ok = db.execAndGet("PRAGMA integrity_check").getString();
      if (ok != "ok") {
        fail(ErrorKind::engine, "target '{}': the restored copy fails PRAGMA integrity_check: {}", name_, ok);
      }
      result.revisions = revisions_in(db, table_);
      result.tables = rows_in(db);
    } catch (const SQLite::Exception& e) {
      fail(ErrorKind::engine, "target '{}': the restored copy cannot be read: {}", name_, e.what());
    }
    remove_with_sidecars(path_);
    return result;
  }

 private:
  std::string table_;
  std::string name_;
  util::UniqueFd fd_;
  fs::path path_;
  std::unique_ptr<pipeline::FdSink> sink_;
};

}  // namespace

std::unique_ptr<RestoreSession> start_file_restore(const config::Target& target) {
  const fs::path live = database_file(target);
  std::error_code ec;
  if (!fs::is_directory(live.parent_path(), ec)) {
    fail(ErrorKind::engine, "target '{}': folder {} does not exist", target.name, live.parent_path().string());
  }
  remove_stale_restore_files(live);
  auto temp = value_or_throw(util::make_private_temp(live.parent_path(), restore_stem(live)));
  return std::make_unique<SqliteRestore>(target, live, std::move(temp.first), std::move(temp.second));
}

std::unique_ptr<TrialRestore> start_trial(const config::Target& target, const WorkContext& context) {
  return std::make_unique<SqliteTrial>(target, context);
}

}  // namespace dbsnap::engine::sqlite
