#pragma once

// A MySQL/MariaDB restore (see engine.hpp for the design): the dump loads
// into a shadow schema while the database stays as it is, and commit()
// swaps the shadow's tables in with one RENAME TABLE (swap.cpp), undoing
// what it changed when a step fails; or, when a swap cannot be done safely,
// replays the verified dump straight into the database (direct mode). A test
// restore is the same session with Purpose::trial: loaded, read, dropped.

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "dbsnap/engine/engine.hpp"
#include "dbsnap/engine/mysql/client.hpp"
#include "dbsnap/engine/mysql/client_gate.hpp"
#include "dbsnap/engine/mysql/schema_sql.hpp"
#include "dbsnap/util/fs.hpp"

namespace dbsnap::engine::mysql {

// How long a restore step waits for the restore lock, and the cap on
// lock_wait_timeout while swapping (a long transaction on a table then makes
// the swap fail and be undone instead of hanging).
inline constexpr int lock_wait_seconds = 30;
inline constexpr int swap_lock_wait_seconds = 30;

// What the restore's scripts print once a step is done.
inline constexpr std::string_view loaded_marker = "dbsnap-loaded";
inline constexpr std::string_view swapped_marker = "dbsnap-swapped";
inline constexpr std::string_view cleaned_marker = "dbsnap-cleaned";
inline constexpr std::string_view undone_marker = "dbsnap-undone";
inline constexpr std::string_view holding_marker = "dbsnap-holding";

// What a MysqlRestore is for: a restore, or a test restore (verify
// --restore), which loads the shadow schema, reads it and drops it: it never
// swaps and never loads into the database itself.
enum class Purpose { restore, trial };

// Whether inspect() also reads how to re-create triggers, views, routines and events.
enum class Definitions { skip, read };

class MysqlRestore final : public RestoreSession {
 public:
  // Takes the restore locks, removes what a killed restore left, creates the
  // shadow schema and starts the loader (or, in direct mode, a spool file in
  // the scratch folder). Throws an `engine` DbsnapError; nothing has changed then.
  MysqlRestore(std::shared_ptr<Server> server, const store::Manifest& snapshot, const WorkContext& context,
               Purpose purpose = Purpose::restore);
  // Without commit(): ends the loader (nothing it loaded is visible), drops
  // the shadow schema and releases the locks. Never commits.
  ~MysqlRestore() override;

  pipeline::Sink& input() override { return *input_; }
  void commit() override;
  // Both commit paths compare the restored revision with the snapshot's
  // before they report success (the swap before it makes anything visible).
  bool checks_revision() const override { return true; }

  // Where a test restore loads the dump.
  std::string scratch_where() const { return fmt::format("scratch schema '{}' on {}", shadow_, client_.where()); }
  // A test restore's end: waits for the load into the shadow schema, reads
  // its revisions and the rows of each of its tables, then drops it.
  TrialResult trial_result();

 private:
  [[noreturn]] void fail_sql(std::string_view what, const runtime::RunResult& r) const;
  // Two locks keep restores of one database apart. The run lock is held by a
  // session of its own (holder_) from the start of this restore to its end,
  // so no other restore can begin in between any two of its steps (the
  // shadow schema's name is the same for every restore of a database: a
  // second restore would take it for a leftover and drop it). The step lock
  // (lock_) is taken by each step's session, the loader included: a killed
  // restore's loader may still run statements left in its pipe, and the
  // next restore waits for it to finish before it touches the shadow.
  void hold_restore_lock();
  std::string run_lock_name() const { return lock_ + "-run"; }
  // Ends the holder's session, which releases the run lock; never throws.
  void release_restore_lock() noexcept;
  // The client that loads the dump: in --sandbox mode when it has one, so
  // that no line of a dump can reach a shell or a file (ClientCommandGate
  // refuses the shell commands for clients without it).
  std::vector<std::string> loader_argv(std::string_view database = {}) const;
  // Takes the restore lock, removes what a killed restore left behind, and
  // creates the shadow schema with the database's collation, unless the
  // swap cannot be done safely (then: direct mode).
  void prepare();
  // Starts the client that loads the dump into the shadow schema, holding the step lock.
  void start_loader();
  // The sinks in front of loader_: the refusal of client commands, and
  // MariaDB's sandbox line dropped for Oracle's client.
  void gate_loader();
  // Why the loading client stopped: waits for it and reads its stderr.
  std::string load_failure();
  // Runs a script of this restore; a busy restore lock gets its own message.
  Rows query(const std::string& sql, std::string_view what);
  // Drops the shadow schema under the restore lock (the loader of an
  // abandoned restore may still be finishing a statement: wait for it).
  void drop_shadow();
  // Waits until the loader has read and run the whole dump; throws when it failed.
  void wait_for_load();
  // The fallback: the verified dump goes straight into the database.
  void commit_direct();

  // swap.cpp
  // Lists the database and the shadow schema, and the shadow's revisions;
  // with Definitions::read, also how to re-create their triggers, views,
  // routines and events.
  std::pair<Schema, Schema> inspect(Definitions definitions);
  // Checks the loaded shadow schema and swaps it in; undo() when the swap fails.
  void commit_swap();
  // Puts the restored tables in and the old ones aside with one RENAME
  // TABLE, then replaces triggers, views, routines and events. Everything
  // before the RENAME happens in the shadow schema, except dropping views
  // of the database that are in the way of a restored table.
  std::string swap_sql(const Schema& live, const Schema& shadow) const;
  // After a failed swap: looks at what it changed and changes only that
  // back. The RENAME happened or not (it is atomic); a trigger, view,
  // routine or event is put back when it is missing or its definition is
  // not the one it had (objects the swap never reached stay untouched, even
  // when another session holds them). Always throws: the swap's failure, or
  // that the undo failed too.
  [[noreturn]] void undo(const Schema& before, const Schema& restored, const std::string& why);

  const config::Target& target() const { return client_.target(); }

  std::vector<std::string> revisions_;
  Client client_;
  Purpose purpose_;
  std::string shadow_;
  std::string old_;  // where the swap parks the database's own tables
  std::string lock_;
  bool oracle_client_ = false;  // Oracle's mysql rejects MariaDB's sandbox line
  bool sandbox_ = false;        // the client has --sandbox: the loader runs with it
  bool direct_ = false;
  RenameWait rename_wait_ = RenameWait::queue;  // what the server supports (inspect() asks it)
  std::string direct_reason_;
  std::vector<std::string> leftovers_;
  bool shadow_created_ = false;
  bool keep_shadow_ = false;
  bool committed_ = false;
  std::unique_ptr<ToolInput> holder_;  // holds the run lock (see hold_restore_lock)
  std::unique_ptr<ToolInput> loader_;
  std::unique_ptr<ToolFeed> load_sink_;
  std::unique_ptr<ClientCommandGate> gate_;
  std::unique_ptr<SandboxFilter> filter_;
  util::UniqueFd spool_fd_;
  std::filesystem::path spool_path_;
  std::unique_ptr<pipeline::FdSink> spool_sink_;
  pipeline::Sink* input_ = nullptr;
};

// A test restore: the shadow schema of a restore, loaded, read and dropped.
class MysqlTrial final : public TrialRestore {
 public:
  MysqlTrial(std::shared_ptr<Server> server, const store::Manifest& snapshot, const WorkContext& context)
      : restore_(std::move(server), snapshot, context, Purpose::trial) {}
  std::string where() const override { return restore_.scratch_where(); }
  pipeline::Sink& input() override { return restore_.input(); }
  TrialResult finish() override { return restore_.trial_result(); }

 private:
  MysqlRestore restore_;
};

}  // namespace dbsnap::engine::mysql
