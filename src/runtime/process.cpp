#include "dbsnap/runtime/process.hpp"

#include <fcntl.h>
#include <sys/prctl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>
#include <regex>
#include <thread>

#include <boost/process.hpp>
#include <boost/process/extend.hpp>

namespace bp = boost::process;

namespace dbsnap::runtime {

namespace {

constexpr std::size_t stderr_keep = 64 * 1024;

void close_fd(int& fd) noexcept {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

CommandObserver& command_observer() {
  static CommandObserver observer;
  return observer;
}

constexpr const char* masked = "***";

// NAME=value and --name=value where NAME names a secret; a URL's user:password@.
const std::regex& secret_assignment() {
  static const std::regex re(R"(([A-Za-z0-9_.-]*(?:pass|pwd|secret|token)[A-Za-z0-9_.-]*)=('[^']*'|"[^"]*"|[^\s'"&;]*))",
                             std::regex::icase);
  return re;
}
const std::regex& url_password() {
  static const std::regex re(R"(([A-Za-z][A-Za-z0-9+.-]*://[^/:@\s]*:)[^@/\s]*@)");
  return re;
}

bool is_mysql_client(const std::string& arg) {
  const auto name = arg.substr(arg.find_last_of('/') == std::string::npos ? 0 : arg.find_last_of('/') + 1);
  return name == "mysql" || name == "mysqldump" || name == "mariadb" || name == "mariadb-dump" ||
         name == "mysqladmin" || name == "mariadb-admin";
}

// One argument with its secrets replaced by ***.
std::string mask_argument(std::string arg, const Command& command) {
  for (const auto& [name, value] : command.env) {
    if (value.empty()) continue;
    for (auto at = arg.find(value); at != std::string::npos; at = arg.find(value, at + 3)) {
      arg.replace(at, value.size(), masked);
    }
  }
  std::string out;
  auto begin = std::sregex_iterator(arg.begin(), arg.end(), secret_assignment());
  std::size_t last = 0;
  for (auto it = begin; it != std::sregex_iterator(); ++it) {
    const auto& m = *it;
    std::string key = m[1].str();
    const bool names_variable = key.starts_with("DBSNAP_PASSWORD_");
    out += arg.substr(last, static_cast<std::size_t>(m.position(0)) - last);
    out += key + "=" + (names_variable || m[2].length() == 0 ? m[2].str() : std::string(masked));
    last = static_cast<std::size_t>(m.position(0) + m.length(0));
  }
  out += arg.substr(last);
  return std::regex_replace(out, url_password(), std::string("$1") + masked + "@");
}

// An argument as a POSIX shell would need it typed: bare when it is plain,
// else in single quotes, or $'...' when it holds control characters (so the
// log stays one line).
std::string shell_quote(const std::string& arg) {
  if (!arg.empty() && arg.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
                                            "_@%+=:,./-*") == std::string::npos) {
    return arg;
  }
  bool control = false;
  for (unsigned char c : arg) control = control || c < 0x20 || c == 0x7f;
  if (!control) {
    std::string out = "'";
    for (char c : arg) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return out + "'";
  }
  std::string out = "$'";
  for (unsigned char c : arg) {
    if (c == '\n') out += "\\n";
    else if (c == '\t') out += "\\t";
    else if (c == '\\') out += "\\\\";
    else if (c == '\'') out += "\\'";
    else if (c < 0x20 || c == 0x7f) out += fmt::format("\\x{:02x}", c);
    else out += static_cast<char>(c);
  }
  return out + "'";
}

}  // namespace

std::string describe_command(const Command& command) {
  std::vector<std::string> words;
  for (const auto& [name, value] : command.env) words.push_back(name + "=" + masked);
  bool mysql = false;
  bool hide_next = false;
  for (const auto& arg : command.argv) {
    if (hide_next) {
      words.push_back(masked);
      hide_next = false;
      continue;
    }
    if (arg == "--password" || arg == "--passwd") hide_next = true;
    if (mysql && arg.size() > 2 && arg.starts_with("-p") && arg[2] != '-') {
      words.push_back(std::string("-p") + masked);
      continue;
    }
    mysql = mysql || is_mysql_client(arg);
    words.push_back(shell_quote(mask_argument(arg, command)));
  }
  std::string line;
  for (const auto& w : words) line += (line.empty() ? "" : " ") + w;
  return line;
}

void set_command_observer(CommandObserver observer) { command_observer() = std::move(observer); }

void notify_command_observer(const Command& command) {
  if (const auto& observer = command_observer()) observer(command);
}

std::string ExitStatus::describe() const {
  if (signal != 0) return fmt::format("killed by signal {} ({})", signal, strsignal(signal));
  if (code < 0) return "no exit status";
  return fmt::format("exit code {}", code);
}

struct Process::Impl {
  bp::child child;
  int stdout_fd = -1;
  int stdin_fd = -1;
  int stderr_fd = -1;
  int capture_fd = -1;
  std::thread stderr_reader;
  std::thread stdout_reader;
  std::string stderr_text;
  std::string stdout_text;
  bool waited = false;
  ExitStatus status;

  ~Impl() {
    if (!waited && child.valid() && child.running()) {
      ::kill(child.id(), SIGKILL);
    }
    close_fd(stdin_fd);
    close_fd(stdout_fd);
    if (!waited && child.valid()) {
      std::error_code ec;
      child.wait(ec);
    }
    join_readers();
  }

  void join_readers() {
    if (stderr_reader.joinable()) stderr_reader.join();
    if (stdout_reader.joinable()) stdout_reader.join();
    close_fd(stderr_fd);
    close_fd(capture_fd);
  }

  // Drains a pipe into `text`, keeping the last stderr_keep bytes.
  static void drain(int fd, std::string& text) {
    char buffer[8192];
    for (;;) {
      ssize_t n = ::read(fd, buffer, sizeof buffer);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      text.append(buffer, static_cast<std::size_t>(n));
      if (text.size() > 2 * stderr_keep) text.erase(0, text.size() - stderr_keep);
    }
  }
};

Process::Process(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Process::Process(Process&&) noexcept = default;
Process& Process::operator=(Process&&) noexcept = default;
Process::~Process() = default;

std::string find_executable(const std::string& name) {
  if (name.find('/') != std::string::npos) return ::access(name.c_str(), X_OK) == 0 ? name : std::string();
  auto path = bp::search_path(name);
  return path.empty() ? std::string() : path.string();
}

Expected<Process> Process::start(const Command& command) {
  if (command.argv.empty()) return make_error(ErrorKind::failure, "internal error: empty command");
  if (const auto& observer = command_observer()) observer(command);
  // A relative path with a '/' names a file in the child's working directory.
  const bool beside_cwd = !command.cwd.empty() && command.argv[0].find('/') != std::string::npos &&
                          !command.argv[0].starts_with('/');
  const std::string exe = find_executable(beside_cwd ? (command.cwd / command.argv[0]).string() : command.argv[0]);
  if (exe.empty()) {
    if (command.argv[0].find('/') != std::string::npos) {
      return make_error(ErrorKind::runtime, "'{}' does not exist or is not executable", command.argv[0]);
    }
    return make_error(ErrorKind::runtime, "'{}' was not found on PATH", command.argv[0]);
  }
  if (!command.cwd.empty()) {
    std::error_code ec;
    if (!std::filesystem::is_directory(command.cwd, ec)) {
      return make_error(ErrorKind::runtime, "cannot run '{}' in {}: not a folder", command.argv[0],
                        command.cwd.string());
    }
  }
  auto impl = std::make_unique<Impl>();

  // Our own pipes, close-on-exec on the parent's ends so that no other child
  // inherits them (a leaked write end would keep a reader from seeing EOF).
  int out_pipe[2] = {-1, -1}, in_pipe[2] = {-1, -1}, err_pipe[2] = {-1, -1};
  auto make_pipe = [](int (&p)[2]) -> bool { return ::pipe2(p, O_CLOEXEC) == 0; };
  const bool stdout_piped = command.stdout_mode == StdoutMode::pipe || command.stdout_mode == StdoutMode::capture;
  if ((stdout_piped && !make_pipe(out_pipe)) ||
      (command.stdin_mode == StdinMode::pipe && !make_pipe(in_pipe)) ||
      (command.stderr_mode == StderrMode::capture && !make_pipe(err_pipe))) {
    int err = errno;
    for (int fd : {out_pipe[0], out_pipe[1], in_pipe[0], in_pipe[1], err_pipe[0], err_pipe[1]}) {
      if (fd >= 0) ::close(fd);
    }
    return make_error(ErrorKind::failure, "cannot create a pipe: {}", std::strerror(err));
  }

  // Bigger pipes mean fewer wake-ups on the data path (dump out, restore in); best effort.
  for (int fd : {out_pipe[0], in_pipe[1]}) {
    if (fd >= 0) ::fcntl(fd, F_SETPIPE_SZ, 1 << 20);
  }

  bp::environment env = boost::this_process::environment();
  // set(), not env[key]: Boost 1.74's environment::find() compares "KEY=" against each entry
  // without checking its length, reading past the end of shorter ones (found by AddressSanitizer).
  for (const auto& [key, value] : command.env) env.set(key, value);
  std::vector<std::string> args(command.argv.begin() + 1, command.argv.end());

  // Wires the child's stdio to our pipe ends (dup2 clears close-on-exec on the copy).
  const int child_stdin = command.stdin_mode == StdinMode::pipe ? in_pipe[0] : -1;
  const int child_stdout = stdout_piped ? out_pipe[1] : -1;
  const int child_stderr = command.stderr_mode == StderrMode::capture ? err_pipe[1] : -1;
  const bool null_stdin = command.stdin_mode == StdinMode::null;
  const bool null_stdout = command.stdout_mode == StdoutMode::null;
  const bool stdout_to_stderr = command.stdout_mode == StdoutMode::to_stderr;
  const std::string cwd = command.cwd.string();
  const bool terminate_with_us = command.parent_death == ParentDeath::terminate;
  const pid_t parent = ::getpid();
  auto setup = bp::extend::on_exec_setup([=](auto&) {
    if (terminate_with_us) {
      ::prctl(PR_SET_PDEATHSIG, SIGTERM);
      if (::getppid() != parent) ::_exit(128 + SIGTERM);  // we died between fork and prctl
    }
    // Checked above; if it went away since, the child exits 127 as for a missing program.
    if (!cwd.empty() && ::chdir(cwd.c_str()) != 0) ::_exit(127);
    if (null_stdin || null_stdout) {
      int devnull = ::open("/dev/null", O_RDWR);
      if (null_stdin) ::dup2(devnull, STDIN_FILENO);
      if (null_stdout) ::dup2(devnull, STDOUT_FILENO);
    }
    if (stdout_to_stderr) ::dup2(STDERR_FILENO, STDOUT_FILENO);
    if (child_stdin >= 0) ::dup2(child_stdin, STDIN_FILENO);
    if (child_stdout >= 0) ::dup2(child_stdout, STDOUT_FILENO);
    if (child_stderr >= 0) ::dup2(child_stderr, STDERR_FILENO);
  });

  std::error_code ec;
  impl->child = bp::child(bp::exe = exe, bp::args = args, env, setup, ec);
  // The child's ends belong to the child now.
  for (int* fd : {&in_pipe[0], &out_pipe[1], &err_pipe[1]}) close_fd(*fd);
  if (ec) {
    for (int* fd : {&in_pipe[1], &out_pipe[0], &err_pipe[0]}) close_fd(*fd);
    return make_error(ErrorKind::runtime, "cannot start '{}': {}", command.argv[0], ec.message());
  }
  impl->stdin_fd = in_pipe[1];
  if (command.stdout_mode == StdoutMode::capture) {
    impl->capture_fd = out_pipe[0];
  } else {
    impl->stdout_fd = out_pipe[0];
  }
  impl->stderr_fd = err_pipe[0];
  if (impl->stderr_fd >= 0) {
    impl->stderr_reader = std::thread([raw = impl.get()] { Impl::drain(raw->stderr_fd, raw->stderr_text); });
  }
  if (impl->capture_fd >= 0) {
    impl->stdout_reader = std::thread([raw = impl.get()] { Impl::drain(raw->capture_fd, raw->stdout_text); });
  }
  return Process(std::move(impl));
}

int Process::pid() const noexcept { return impl_->child.id(); }
int Process::stdout_fd() const noexcept { return impl_->stdout_fd; }
int Process::stdin_fd() const noexcept { return impl_->stdin_fd; }
void Process::close_stdin() noexcept { close_fd(impl_->stdin_fd); }
void Process::close_stdout() noexcept { close_fd(impl_->stdout_fd); }

void Process::kill(int signal) noexcept {
  if (!impl_->waited && impl_->child.valid()) ::kill(impl_->child.id(), signal);
}

ExitStatus Process::wait() {
  if (impl_->waited) return impl_->status;
  // Reap with waitpid ourselves: boost's exit_code() folds signals into codes.
  int raw = 0;
  pid_t pid = impl_->child.id();
  pid_t r;
  do {
    r = ::waitpid(pid, &raw, 0);
  } while (r < 0 && errno == EINTR);
  ExitStatus status;
  if (r == pid) {
    if (WIFEXITED(raw)) status.code = WEXITSTATUS(raw);
    if (WIFSIGNALED(raw)) status.signal = WTERMSIG(raw);
  }
  impl_->child.detach();
  impl_->waited = true;
  impl_->join_readers();
  impl_->status = status;
  return status;
}

const std::string& Process::stderr_text() const noexcept { return impl_->stderr_text; }
const std::string& Process::stdout_text() const noexcept { return impl_->stdout_text; }

Expected<RunResult> run(Command command, std::string input, std::size_t max_output) {
  command.stdin_mode = input.empty() ? StdinMode::null : StdinMode::pipe;
  command.stdout_mode = StdoutMode::pipe;
  command.stderr_mode = StderrMode::capture;
  auto process = Process::start(command);
  if (!process) return std::unexpected(process.error());
  std::thread writer;
  if (!input.empty()) {
    writer = std::thread([&] {
      const char* p = input.data();
      std::size_t left = input.size();
      while (left > 0) {
        ssize_t n = ::write(process->stdin_fd(), p, left);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        p += n;
        left -= static_cast<std::size_t>(n);
      }
      process->close_stdin();
    });
  }
  RunResult result;
  char buffer[65536];
  for (;;) {
    ssize_t n = ::read(process->stdout_fd(), buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    if (result.out.size() < max_output) result.out.append(buffer, static_cast<std::size_t>(n));
  }
  if (writer.joinable()) writer.join();
  result.status = process->wait();
  result.err = process->stderr_text();
  return result;
}

}  // namespace dbsnap::runtime
