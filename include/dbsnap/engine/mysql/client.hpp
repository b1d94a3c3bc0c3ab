#pragma once

// The mysql/mariadb client and dump tool of one target, on top of the
// shared engine::Server (runtime, connection keys, credentials): their
// command lines, scripts run through the client, and error messages with a
// hint on how to fix them.

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "dbsnap/engine/mysql/text.hpp"
#include "dbsnap/engine/server.hpp"

namespace dbsnap::engine::mysql {

// What every script of ours starts with: predictable string literals (no
// NO_BACKSLASH_ESCAPES, no ANSI_QUOTES) whatever the server's default mode.
inline constexpr std::string_view session_prologue = "SET SESSION sql_mode = '';\n";

// The password's variable and the key defaults of MySQL/MariaDB targets.
const ServerSpec& server_spec();

// An exit status for people; docker exec reports a signal inside the
// container as 128 + N.
std::string describe(const runtime::ExitStatus& status);

class Client {
 public:
  // Checks that the server's runtime can run commands (engine::Server::check).
  explicit Client(std::shared_ptr<Server> server);

  Server& server() { return *server_; }
  const config::Target& target() const { return server_->target(); }
  const std::string& database() const { return server_->database(); }
  std::string where() const { return server_->where(); }

  // mariadb-dump or mysqldump, with its version; a `runtime` error when neither is there.
  Tool dump_tool();
  // mariadb or mysql, with its version; then client_argv() runs it directly.
  Tool client();

  // --user/--host/--port: never a password (that travels in MYSQL_PWD).
  std::vector<std::string> connection() const;
  // The client's argv: the probed client, else a constant script that finds it.
  std::vector<std::string> client_argv(std::string_view database = {}) const;
  // Starts the client reading a script on its stdin (`extra` after its options).
  std::unique_ptr<ToolInput> start(const std::vector<std::string>& argv) { return server_->start_input(argv); }

  // Runs a script through the client after session_prologue; the tool's own
  // failure is the caller's to judge.
  runtime::RunResult run_sql(const std::string& sql, std::string_view database = {});
  // Runs a script and returns its rows; throws an `engine` error saying `what` failed.
  Rows query(const std::string& sql, std::string_view what, std::string_view database = {});
  // The tool's error line with a hint on how to fix it.
  std::string explain(std::string_view err, const runtime::ExitStatus& status) const;

 private:
  [[noreturn]] void no_client() const;
  std::shared_ptr<Server> server_;
  std::string client_;  // the probed client's path, once client() ran
};

}  // namespace dbsnap::engine::mysql
