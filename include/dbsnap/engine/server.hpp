#pragma once

// How the server engines (MySQL/MariaDB, PostgreSQL) reach their database
// server: through the target's runtime (docker/podman exec, or this host),
// with the target's connection keys (database, user, host, port) and its
// credentials. Each engine adds only what differs, in its own folder: its
// client's command line and how it explains its errors (mysql/client.hpp,
// postgres/client.hpp).
//
// The password is read by the runtime area (runtime::Secret: password_env or
// password_from_container) and delivered by it, in the tool's environment;
// Server carries it from one to the other and never hands it out, so engine
// code cannot put it on an argv or in a message.
//
// An engine instance keeps one Server per target (ServerCache): the runtime is
// made and checked once per target and process, not once per call.

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dbsnap/config/config.hpp"
#include "dbsnap/engine/per_target.hpp"
#include "dbsnap/engine/tool.hpp"
#include "dbsnap/runtime/runtime.hpp"

namespace dbsnap::engine {

// What a server engine tells Server about itself.
struct ServerSpec {
  std::string password_variable;  // the variable its tools read the password from: MYSQL_PWD, PGPASSWORD
  std::string default_user;       // the user when the target names none: root, postgres
  std::string database_help;      // the `database` key's help text
  std::string port_help;          // the `port` key's help text
};

// A tool found where the database runs.
struct Tool {
  std::string path;
  std::string version;  // its --version line
};

// One target's database server.
class Server {
 public:
  // Reads the target's connection keys and credentials and makes its runtime
  // (a compose service is resolved to its container here). Throws a `config`
  // DbsnapError for a missing `database`, an empty `user`, a port out of
  // range or bad credential keys, and what runtime::make_runtime throws.
  Server(const config::Target& target, const ServerSpec& spec);

  const config::Target& target() const noexcept { return target_; }
  const std::string& database() const noexcept { return database_; }
  const std::string& user() const noexcept { return user_; }
  // Empty: the local socket.
  const std::string& host() const noexcept { return host_; }
  // nullopt: the tool's default port.
  std::optional<int> port() const noexcept { return port_; }
  runtime::Runtime& runtime() noexcept { return *runtime_; }
  const runtime::Runtime& runtime() const noexcept { return *runtime_; }
  // "database 'x' in container 'db'", for messages.
  std::string where() const;

  // Checks that commands can run where the database is (the daemon answers,
  // the container runs): once per Server; later calls return at once. Throws
  // a `runtime` DbsnapError saying how to fix it.
  void check();

  // Runs a client to completion with `input` on its stdin and the password
  // in its environment. Throws a `runtime` error when the exec itself failed;
  // the tool's own failure is in the result for the caller to judge.
  runtime::RunResult run(const std::vector<std::string>& argv, const std::string& input = {});
  // Streams a tool's stdout into `out` (stream_from, with the password).
  ToolRun stream(const std::vector<std::string>& argv, pipeline::Sink& out);
  // Starts a tool reading a script on its stdin, with the password.
  std::unique_ptr<ToolInput> start_input(const std::vector<std::string>& argv);
  // The same as a bare session, for callers that read its stdout themselves.
  std::unique_ptr<runtime::InputSession> start_session(const std::vector<std::string>& argv);

  // The first of `names` installed where the database runs, with its
  // --version line (a constant script run without the password; the names
  // are its arguments); nullopt when none is. Throws a `runtime` error when
  // the look itself fails.
  std::optional<Tool> find_tool(const std::vector<std::string>& names);

  // The keys every server engine accepts: database, user, host, port and
  // the credential keys.
  static std::vector<config::KeySpec> keys(const ServerSpec& spec);

 private:
  config::Target target_;
  std::unique_ptr<runtime::Runtime> runtime_;
  runtime::Secret secret_;
  std::string database_;
  std::string user_;
  std::string host_;
  std::optional<int> port_;
  std::mutex check_mutex_;
  bool checked_ = false;
};

// The Servers of one engine instance, one per target (see PerTarget).
class ServerCache : public PerTarget<Server> {
 public:
  explicit ServerCache(const ServerSpec& spec)
      : PerTarget<Server>([spec](const config::Target& target) { return std::make_shared<Server>(target, spec); }) {}
};

}  // namespace dbsnap::engine
