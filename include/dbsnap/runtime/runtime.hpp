#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dbsnap/config/config.hpp"
#include "dbsnap/pipeline/stream.hpp"
#include "dbsnap/runtime/process.hpp"

namespace dbsnap::runtime {

// Where a database tool gets its password from. Never from argv: either
// dbsnap's own environment (`password_env = "VAR"`), copied into the tool's
// environment, or the container's environment (`password_from_container`),
// read by the container's own shell.
struct Secret {
  enum class Source { none, dbsnap_env, container_env };
  Source source = Source::none;
  std::string variable;  // the variable holding the password, in dbsnap's or the container's environment
  std::string tool_var;  // the variable the tool reads: MYSQL_PWD, PGPASSWORD
  std::string target;    // the target it belongs to, for messages

  // Reads `password_env` / `password_from_container` from a target; at most one may be set.
  static Secret from_target(const config::Target& target, std::string tool_var);
};

// A command started where the database is, its stdout read as a stream
// (how dump tools run). read() returns the command's stdout; 0 at its end.
class OutputStream : public pipeline::Source {
 public:
  // Ends the command early, here and where it runs (a container's process
  // outlives its client; see Runtime::stop_remote).
  virtual void abort() = 0;
  // Waits for the command to end: the tool's exit status. When the status is
  // not ok, whatever the command left running where it ran is ended.
  virtual ExitStatus wait() = 0;
  // The command's stderr (the last 64 KiB), complete after wait().
  virtual const std::string& stderr_text() const = 0;
};

// A command started where the database is that reads a script we write on
// its stdin (mysql, psql, a shell receiving a file); its stdout is read as
// it comes, by a thread of the caller's, and its stderr kept.
class InputSession {
 public:
  virtual ~InputSession() = default;
  // Writes to the command's stdin: an `interrupted` error when a
  // SIGINT/SIGTERM arrives meanwhile, another error when it stopped reading.
  virtual Expected<void> write(pipeline::Bytes data) = 0;
  // Closes the command's stdin so that it reads EOF.
  virtual void close_stdin() = 0;
  // Reads the command's stdout: 0 at its end. For one reader thread; a
  // signal does not end it (the stream ends when the command does).
  virtual Expected<std::size_t> read_stdout(pipeline::MutableBytes buffer) = 0;
  // Gives up on the command without waiting: a read_stdout blocked in
  // another thread returns. What ran in a container is not stopped by that.
  virtual void abort() = 0;
  // Waits for the command to end; call once the stdout reader is done.
  virtual ExitStatus wait() = 0;
  // The command's stderr (the last 64 KiB), complete after wait().
  virtual const std::string& stderr_text() const = 0;
};

// How and where a target's commands run: on this host, or inside a container
// through `docker exec -i` / `podman exec -i` (never -t: a TTY rewrites
// newlines and merges stderr into the data).
class Runtime {
 public:
  virtual ~Runtime() = default;
  virtual std::string_view name() const = 0;
  // "container 'db'" or "this host", for messages.
  virtual std::string where() const = 0;
  // Checks that commands can run here: the CLI exists, the daemon answers,
  // the container exists and is running. Throws a `runtime` DbsnapError
  // that says how to fix it.
  virtual void check() = 0;
  // The host command that runs `argv` where the database is, with the
  // secret delivered through the environment.
  virtual Command command(const std::vector<std::string>& argv, StdinMode stdin_mode, const Secret& secret) const = 0;
  // A message when an exit status means the exec itself failed rather than
  // the tool (docker exec: 125 exec failed, 126 not executable, 127 not found).
  virtual std::optional<std::string> exec_failure(const ExitStatus& status, std::string_view tool,
                                                  std::string_view stderr_text) const = 0;
  // The container's name, empty for the local runtime.
  virtual std::string container() const = 0;
  // Host command prefix for the runtime's own CLI (docker [--context X]); empty for local.
  virtual std::vector<std::string> cli() const = 0;
  // The mount destinations (volumes, bind mounts) inside the container; empty for local.
  virtual std::vector<std::string> mounts() const = 0;
  // The runtime's version ("docker 20.10.24"), or "" when unknown.
  virtual std::string version() const = 0;
  // Ends what `command` started where the database is, when it may still
  // run: killing a `docker exec` client does not stop the process inside the
  // container. Sends SIGTERM to every process there that carries the
  // command's DBSNAP_EXEC_ID, and SIGKILL to those still there 2 s later.
  // Best effort and silent; does nothing for local commands (the caller
  // kills its own child). Call it after the local client has ended: docker
  // does not finish an exec while another exec's client is alive but unread.
  virtual void stop_remote(const Command& command) const = 0;
  // Starts `argv` where the database is, with the secret delivered through
  // the environment, for its stdout to be read as a stream. By default a
  // Process running command(); the docker runtime reads the exec's stream
  // from the daemon's socket instead when it can (see docker_api.hpp).
  // Throws a `runtime` DbsnapError when the command cannot start.
  virtual std::unique_ptr<OutputStream> start_output(const std::vector<std::string>& argv, const Secret& secret);
  // Starts `argv` where the database is, for a script to be written on its
  // stdin; the same transports as start_output. Throws a `runtime`
  // DbsnapError when the command cannot start.
  virtual std::unique_ptr<InputSession> start_input(const std::vector<std::string>& argv, const Secret& secret);
  // How start_output and start_input reach the container: "docker CLI" or "docker API
  // (unix:///var/run/docker.sock)"; "" for local commands. For messages and
  // `doctor`.
  virtual std::string transport() const { return {}; }
};

// The runtime a target names (`runtime` key; default docker when
// `container` or `compose_service` is set, else local). Compose services are
// resolved to their container here. Throws config/runtime DbsnapErrors.
std::unique_ptr<Runtime> make_runtime(const config::Target& target);

// Keys every engine accepts for choosing its runtime.
const std::vector<config::KeySpec>& runtime_keys();

// Keys engines that take passwords accept.
const std::vector<config::KeySpec>& credential_keys();

// Runs a small command to completion through a runtime, with stdin `input`,
// and throws a `runtime` error when the exec itself failed. The tool's own
// failures come back in the status for the caller to judge.
RunResult run_in(Runtime& runtime, const std::vector<std::string>& argv, const Secret& secret,
                 const std::string& input = {});

}  // namespace dbsnap::runtime
