#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "dbsnap/util/error.hpp"

namespace dbsnap::runtime {

enum class StdinMode { null, pipe, inherit };
// to_stderr: the child's stdout goes to our stderr (a command run live while
// our stdout carries a --json document).
enum class StdoutMode { pipe, capture, inherit, null, to_stderr };
enum class StderrMode { capture, inherit };

// A command to start: an argv vector (never a shell string), extra
// environment variables for the child (secrets travel here, never in argv),
// and what to do with the standard streams. No TTY is ever allocated.
// What happens to a child when dbsnap dies first (killed -9, say): it runs on,
// or it gets SIGTERM (PR_SET_PDEATHSIG), so that a migration dbsnap guards
// never runs on unguarded. The second reaches only processes on this host: a
// command that `docker exec` started inside a container runs on there.
enum class ParentDeath { run_on, terminate };

struct Command {
  std::vector<std::string> argv;
  std::vector<std::pair<std::string, std::string>> env;
  StdinMode stdin_mode = StdinMode::null;
  StdoutMode stdout_mode = StdoutMode::pipe;
  StderrMode stderr_mode = StderrMode::capture;
  // The child's working directory; empty: ours. A relative argv[0] with a '/'
  // in it is found relative to this folder too.
  std::filesystem::path cwd;
  // Set by container runtimes: the value of DBSNAP_EXEC_ID in the environment
  // of the process started inside the container (and of its children), by
  // which Runtime::stop_remote finds them; empty for local commands.
  std::string remote_id;
  // Empty when the command runs as a process of ours; otherwise how it is
  // carried out instead ("docker API unix:///var/run/docker.sock"), the argv
  // then being the equivalent CLI command, for logs.
  std::string via;
  ParentDeath parent_death = ParentDeath::run_on;
};

// How a child ended.
struct ExitStatus {
  int code = -1;   // exit code when it exited normally
  int signal = 0;  // the signal that killed it, else 0
  bool lost = false;  // the runtime lost the command's streams, so its own exit status is unknown
  bool ok() const noexcept { return signal == 0 && code == 0; }
  std::string describe() const;
};

// A running child. stderr is read by a thread of its own as the child runs
// (so a chatty child never blocks on a full pipe) and the last 64 KiB are
// kept; StdoutMode::capture does the same for stdout. Dropping a Process that was not waited for kills and reaps it.
class Process {
 public:
  // Starts the command; a missing executable is a `runtime` error.
  static Expected<Process> start(const Command& command);
  Process(Process&&) noexcept;
  Process& operator=(Process&&) noexcept;
  ~Process();

  int pid() const noexcept;
  // The parent's end of the child's stdout (StdoutMode::pipe) or -1.
  int stdout_fd() const noexcept;
  // The parent's end of the child's stdin (StdinMode::pipe) or -1.
  int stdin_fd() const noexcept;
  // Closes our end of the child's stdin so it reads EOF.
  void close_stdin() noexcept;
  // Closes our end of the child's stdout (it gets EPIPE/SIGPIPE on write).
  void close_stdout() noexcept;
  // Sends a signal to the child.
  void kill(int signal) noexcept;
  // Waits for the child to end and for its stderr to be drained.
  ExitStatus wait();
  // What the child wrote to stderr (after wait()).
  const std::string& stderr_text() const noexcept;
  // What the child wrote to stdout with StdoutMode::capture (after wait()).
  const std::string& stdout_text() const noexcept;

 private:
  struct Impl;
  explicit Process(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The result of running a command to completion with captured output.
struct RunResult {
  ExitStatus status;
  std::string out;
  std::string err;
};

// Runs a command to completion, feeding it `input` on stdin (from a thread
// of its own, so large input and output cannot deadlock) and capturing at
// most `max_output` bytes of stdout (the rest is drained and dropped).
Expected<RunResult> run(Command command, std::string input = {}, std::size_t max_output = 16 << 20);

// A command as one line for a log: the variables set for the child first, as
// NAME=*** (they carry secrets), then the argv, shell-quoted where needed.
// Anything in it that could be a secret is masked as ***: the child's
// environment values wherever they occur, the value of NAME=value and
// --name=value when NAME names a password, passwd, pwd, secret or token
// (dbsnap's own DBSNAP_PASSWORD_FROM/_TO carry variable names, not values),
// the argument after --password, a MySQL client's -pVALUE, and the password
// of a URL's user:password@.
std::string describe_command(const Command& command);

// Called with every command just before Process::start starts it (dbsnap
// --verbose logs them); none by default. Not thread-safe: set it once at
// startup.
using CommandObserver = std::function<void(const Command&)>;
void set_command_observer(CommandObserver observer);

// Tells the observer about a command carried out without Process::start
// (an exec through the docker API).
void notify_command_observer(const Command& command);

// Finds an executable on PATH; empty when absent.
std::string find_executable(const std::string& name);

}  // namespace dbsnap::runtime
