#include "dbsnap/runtime/runtime.hpp"

#include <csignal>
#include <cstdlib>
#include <map>
#include <random>

#include <nlohmann/json.hpp>

#include "dbsnap/runtime/docker_api.hpp"
#include "dbsnap/util/text.hpp"

namespace dbsnap::runtime {

namespace {

bool is_env_name(const std::string& name) {
  if (name.empty() || std::isdigit(static_cast<unsigned char>(name[0]))) return false;
  for (char c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') return false;
  }
  return true;
}

// Runs the tool with its password taken from the container's environment:
// the variable's name arrives in DBSNAP_PASSWORD_FROM, so this script is the
// same for every target and carries no user input.
constexpr const char* container_secret_script =
    "if [ -z \"$(printenv \"$DBSNAP_PASSWORD_FROM\")\" ]; then "
    "echo \"dbsnap: variable $DBSNAP_PASSWORD_FROM is not set in the container\" >&2; exit 1; fi; "
    "export \"$DBSNAP_PASSWORD_TO=$(printenv \"$DBSNAP_PASSWORD_FROM\")\"; "
    "unset DBSNAP_PASSWORD_FROM DBSNAP_PASSWORD_TO; exec \"$@\"";

// Ends the processes inside a container whose environment holds
// DBSNAP_EXEC_ID=$1 (an exec'd tool and its children): SIGTERM, then SIGKILL
// for those still there after 2 s. Constant; the id arrives as an argument.
constexpr const char* container_stop_script =
    "id=\"DBSNAP_EXEC_ID=$1\"; "
    "find_them() { found=''; for p in /proc/[0-9]*; do "
    "if { tr '\\000' '\\n' < \"$p/environ\"; } 2>/dev/null | grep -qxF \"$id\"; then found=\"$found ${p#/proc/}\"; fi; "
    "done; }; "
    "find_them; [ -z \"$found\" ] && exit 0; kill -TERM $found 2>/dev/null; "
    "i=0; while [ $i -lt 20 ]; do sleep 0.1; find_them; [ -z \"$found\" ] && exit 0; i=$((i + 1)); done; "
    "kill -KILL $found 2>/dev/null; exit 0";

// A random token naming one exec'd command.
std::string new_exec_id() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  return fmt::format("{:016x}", rng());
}

std::string secret_value(const Secret& secret) {
  const char* value = std::getenv(secret.variable.c_str());
  if (value == nullptr) {
    fail(ErrorKind::config, "target '{}': password_env names {}, which is not set in dbsnap's environment",
         secret.target, secret.variable);
  }
  return value;
}

// A command's stdout read from a Process of ours (the local runtime, and the
// docker/podman CLI).
class ProcessOutput final : public OutputStream {
 public:
  ProcessOutput(const Runtime& runtime, Command command, Process process)
      : runtime_(runtime), command_(std::move(command)), process_(std::move(process)), source_(process_.stdout_fd()) {}
  Expected<std::size_t> read(pipeline::MutableBytes buffer) override { return source_.read(buffer); }
  void abort() override {
    process_.kill(SIGTERM);
    process_.close_stdout();
    process_.wait();
    // Only now: while a client that nobody reads is alive, docker does not
    // finish another exec in that container.
    runtime_.stop_remote(command_);
  }
  ExitStatus wait() override {
    auto status = process_.wait();
    if (!status.ok()) runtime_.stop_remote(command_);  // e.g. the client was killed: its tool may run on
    return status;
  }
  const std::string& stderr_text() const override { return process_.stderr_text(); }

 private:
  const Runtime& runtime_;
  Command command_;
  Process process_;
  pipeline::FdSource source_;
};

// A command's stdout read from the docker daemon's socket.
class ApiOutput final : public OutputStream {
 public:
  ApiOutput(const Runtime& runtime, std::unique_ptr<docker_api::Exec> exec, std::string remote_id)
      : runtime_(runtime), exec_(std::move(exec)), remote_id_(std::move(remote_id)) {}
  Expected<std::size_t> read(pipeline::MutableBytes buffer) override { return exec_->read(buffer); }
  void abort() override {
    exec_->close();
    runtime_.stop_remote(Command{.remote_id = remote_id_});
  }
  ExitStatus wait() override {
    auto status = exec_->wait();
    if (!status.ok()) runtime_.stop_remote(Command{.remote_id = remote_id_});
    return status;
  }
  const std::string& stderr_text() const override { return exec_->stderr_text(); }

 private:
  const Runtime& runtime_;
  std::unique_ptr<docker_api::Exec> exec_;
  std::string remote_id_;
};

// A command reading its stdin from a Process of ours.
class ProcessInput final : public InputSession {
 public:
  explicit ProcessInput(Process process) : process_(std::move(process)) {}
  Expected<void> write(pipeline::Bytes data) override {
    pipeline::FdSink sink(process_.stdin_fd());
    return sink.write(data);
  }
  void close_stdin() override { process_.close_stdin(); }
  Expected<std::size_t> read_stdout(pipeline::MutableBytes buffer) override {
    pipeline::FdSource source(process_.stdout_fd());
    for (;;) {
      auto n = source.read(buffer);
      if (n || n.error().kind != ErrorKind::interrupted) return n;
    }
  }
  void abort() override { process_.kill(SIGTERM); }
  ExitStatus wait() override { return process_.wait(); }
  const std::string& stderr_text() const override { return process_.stderr_text(); }

 private:
  Process process_;
};

// A command reading its stdin from the docker daemon's socket.
class ApiInput final : public InputSession {
 public:
  explicit ApiInput(std::unique_ptr<docker_api::Exec> exec) : exec_(std::move(exec)) {}
  Expected<void> write(pipeline::Bytes data) override { return exec_->write_stdin(data); }
  void close_stdin() override { exec_->close_stdin(); }
  Expected<std::size_t> read_stdout(pipeline::MutableBytes buffer) override {
    for (;;) {
      auto n = exec_->read(buffer);
      if (n && *n > 0) return n;
      if (!n && n.error().kind == ErrorKind::interrupted) continue;
      // The daemon ends the stream when the command has ended, but it does not
      // close the connection while we still write: stop our writes (they fail
      // with EPIPE, as they do when a docker exec client exits).
      exec_->close_stdin();
      return n;
    }
  }
  void abort() override { exec_->shutdown(); }
  ExitStatus wait() override { return exec_->wait(); }
  const std::string& stderr_text() const override { return exec_->stderr_text(); }

 private:
  std::unique_ptr<docker_api::Exec> exec_;
};

class LocalRuntime final : public Runtime {
 public:
  std::string_view name() const override { return "local"; }
  std::string where() const override { return "this host"; }
  void check() override {}
  Command command(const std::vector<std::string>& argv, StdinMode stdin_mode, const Secret& secret) const override {
    Command c{.argv = argv, .stdin_mode = stdin_mode};
    if (secret.source == Secret::Source::dbsnap_env) c.env.emplace_back(secret.tool_var, secret_value(secret));
    if (secret.source == Secret::Source::container_env) {
      fail(ErrorKind::config, "password_from_container needs a container; use password_env with runtime = \"local\"");
    }
    return c;
  }
  std::optional<std::string> exec_failure(const ExitStatus&, std::string_view, std::string_view) const override {
    return std::nullopt;
  }
  std::string container() const override { return {}; }
  std::vector<std::string> cli() const override { return {}; }
  std::vector<std::string> mounts() const override { return {}; }
  std::string version() const override { return {}; }
  void stop_remote(const Command&) const override {}
};

class ContainerRuntime final : public Runtime {
 public:
  ContainerRuntime(std::string kind, std::string cli, std::string context, std::string container,
                   std::optional<std::string> api_socket)
      : kind_(std::move(kind)),
        cli_(std::move(cli)),
        context_(std::move(context)),
        container_(std::move(container)),
        api_socket_(std::move(api_socket)) {}

  std::string_view name() const override { return kind_; }
  std::string where() const override { return fmt::format("container '{}'", container_); }
  std::string container() const override { return container_; }

  std::vector<std::string> cli() const override {
    std::vector<std::string> argv{cli_};
    if (!context_.empty()) {
      argv.push_back("--context");
      argv.push_back(context_);
    }
    return argv;
  }

  std::vector<std::string> mounts() const override {
    auto argv = cli();
    argv.insert(argv.end(), {"inspect", "--type", "container", "--format",
                             "{{range .Mounts}}{{.Destination}}{{println}}{{end}}", container_});
    std::vector<std::string> out;
    auto result = run({.argv = argv});
    if (!result || !result->status.ok()) return out;
    for (auto line : util::nonempty_lines(result->out)) out.emplace_back(line);
    return out;
  }

  std::string version() const override {
    auto argv = cli();
    argv.insert(argv.end(), {"version", "--format", "{{.Server.Version}}"});
    auto result = run({.argv = argv});
    if (!result || !result->status.ok()) return {};
    return fmt::format("{} {}", kind_, util::trim(result->out));
  }

  void check() override {
    if (api_socket_) {
      auto inspected = docker_api::request(*api_socket_, "GET",
                                           "/containers/" + docker_api::encode_segment(container_) + "/json");
      if (inspected) {
        if (inspected->status == 404) {
          fail(ErrorKind::runtime, "{} does not exist ({} ps -a lists the containers)", where(), cli_);
        }
        if (inspected->status != 200) {
          fail(ErrorKind::runtime, "{} is unreachable: {}", kind_, docker_api::error_message(*inspected));
        }
        auto json = nlohmann::json::parse(inspected->body, nullptr, false);
        const auto state = json.is_object() ? json.value("State", nlohmann::json::object()) : nlohmann::json();
        if (!state.is_object() || !state.value("Running", false)) {
          fail(ErrorKind::runtime, "{} is not running (start it with: {} start {})", where(), cli_, container_);
        }
        return;
      }
      if (inspected.error().failure == docker_api::Failure::broken) {
        fail(ErrorKind::runtime, "{} is unreachable: {}", kind_, inspected.error().message);
      }
      api_socket_.reset();  // no daemon on that socket: the CLI knows where it is, or says why not
    }
    auto argv = cli();
    argv.insert(argv.end(), {"inspect", "--type", "container", "--format", "{{.State.Running}}", container_});
    auto result = run({.argv = argv});
    if (!result) {
      fail(ErrorKind::runtime, "{} CLI '{}' not found; install it or set docker_cli in dbsnap.toml", kind_, cli_);
    }
    const std::string err(util::trim(result->err));
    if (!result->status.ok()) {
      // docker: "No such container: x" / "No such object: x"; podman: "no such container".
      // Not any "no such": a CLI that cannot load its context says "no such file or directory".
      if (err.find("such container") != std::string::npos || err.find("No such object") != std::string::npos) {
        fail(ErrorKind::runtime, "{} does not exist ({} ps -a lists the containers)", where(), cli_);
      }
      fail(ErrorKind::runtime, "{} is unreachable: {}", kind_, util::last_nonempty_line(err));
    }
    if (util::trim(result->out) != "true") {
      fail(ErrorKind::runtime, "{} is not running (start it with: {} start {})", where(), cli_, container_);
    }
  }

  Command command(const std::vector<std::string>& argv, StdinMode stdin_mode, const Secret& secret) const override {
    return cli_command(exec_parts(argv, secret), stdin_mode);
  }

  std::unique_ptr<OutputStream> start_output(const std::vector<std::string>& argv, const Secret& secret) override {
    const auto parts = exec_parts(argv, secret);
    if (auto exec = api_exec(parts, docker_api::Stdin::none)) {
      return std::make_unique<ApiOutput>(*this, std::move(exec), parts.remote_id);
    }
    return Runtime::start_output(argv, secret);
  }

  std::unique_ptr<InputSession> start_input(const std::vector<std::string>& argv, const Secret& secret) override {
    if (auto exec = api_exec(exec_parts(argv, secret), docker_api::Stdin::attach)) {
      return std::make_unique<ApiInput>(std::move(exec));
    }
    return Runtime::start_input(argv, secret);
  }

  std::string transport() const override {
    return api_socket_ ? fmt::format("docker API unix://{}", *api_socket_) : fmt::format("{} CLI", cli_);
  }

  void stop_remote(const Command& command) const override {
    if (command.remote_id.empty()) return;
    const std::vector<std::string> inner{"sh", "-c", container_stop_script, "dbsnap-stop", command.remote_id};
    if (api_socket_) {
      if (auto exec = docker_api::Exec::start(*api_socket_, container_, inner, {})) {
        (void)(*exec)->wait();
        return;
      }
    }
    auto argv = cli();
    argv.insert(argv.end(), {"exec", container_});
    argv.insert(argv.end(), inner.begin(), inner.end());
    (void)run({.argv = argv, .stdin_mode = StdinMode::null});
  }

  std::optional<std::string> exec_failure(const ExitStatus& status, std::string_view tool,
                                          std::string_view stderr_text) const override {
    const std::string detail(util::last_nonempty_line(stderr_text));
    if (status.lost) return fmt::format("'{}' in {}: {}", tool, where(), detail);
    switch (status.code) {
      case 125:
        return fmt::format("{} exec in {} failed: {}", kind_, where(), detail.empty() ? "exit code 125" : detail);
      case 126: return fmt::format("'{}' cannot be run in {} (exit 126)", tool, where());
      case 127: return fmt::format("'{}' is not installed in {} (exit 127)", tool, where());
      default: break;
    }
    if (status.code == 1 && (detail.find("No such container") != std::string::npos ||
                             detail.find("is not running") != std::string::npos)) {
      return fmt::format("{} exec failed: {}", kind_, detail);
    }
    return std::nullopt;
  }

 private:
  // One exec in the container, however it is carried out.
  struct ExecParts {
    std::string remote_id;
    std::vector<std::pair<std::string, std::string>> env;      // set in the exec's environment; no secrets
    std::optional<std::pair<std::string, std::string>> secret;  // the tool's password variable and value
    std::vector<std::string> inner;                            // the argv inside the container
  };

  ExecParts exec_parts(const std::vector<std::string>& argv, const Secret& secret) const {
    ExecParts parts{.remote_id = new_exec_id(), .inner = argv};
    parts.env.emplace_back("DBSNAP_EXEC_ID", parts.remote_id);
    if (secret.source == Secret::Source::dbsnap_env) {
      parts.secret.emplace(secret.tool_var, secret_value(secret));
    } else if (secret.source == Secret::Source::container_env) {
      parts.env.emplace_back("DBSNAP_PASSWORD_FROM", secret.variable);
      parts.env.emplace_back("DBSNAP_PASSWORD_TO", secret.tool_var);
      parts.inner = {"sh", "-c", container_secret_script, "dbsnap"};
      parts.inner.insert(parts.inner.end(), argv.begin(), argv.end());
    }
    return parts;
  }

  // Starts an exec through the daemon's socket, logged as the CLI command it
  // stands for; null when the API is not used (or nothing listens on its
  // socket: the CLI is used from then on). Throws a `runtime` error when the
  // daemon refuses the exec.
  std::unique_ptr<docker_api::Exec> api_exec(const ExecParts& parts, docker_api::Stdin stdin_mode) {
    if (!api_socket_) return nullptr;
    auto logged = cli_command(parts, stdin_mode == docker_api::Stdin::attach ? StdinMode::pipe : StdinMode::null);
    logged.via = transport();
    notify_command_observer(logged);
    std::vector<std::string> env;
    for (const auto& [name, value] : parts.env) env.push_back(name + "=" + value);
    if (parts.secret) env.push_back(parts.secret->first + "=" + parts.secret->second);
    auto exec = docker_api::Exec::start(*api_socket_, container_, parts.inner, env, stdin_mode);
    if (exec) return std::move(*exec);
    if (exec.error().failure == docker_api::Failure::broken) fail(ErrorKind::runtime, "{}", exec.error().message);
    api_socket_.reset();  // no daemon on that socket: the CLI knows where it is, or says why not
    return nullptr;
  }

  // The CLI command for an exec: `docker exec -i -e NAME=value ... -e SECRET CONTAINER argv...`;
  // the secret's value travels in the CLI's environment (`-e NAME` without a value copies it).
  Command cli_command(const ExecParts& parts, StdinMode stdin_mode) const {
    Command c{.stdin_mode = stdin_mode, .remote_id = parts.remote_id};
    c.argv = cli();
    c.argv.insert(c.argv.end(), {"exec", "-i"});
    for (const auto& [name, value] : parts.env) c.argv.insert(c.argv.end(), {"-e", name + "=" + value});
    if (parts.secret) {
      c.env.push_back(*parts.secret);
      c.argv.insert(c.argv.end(), {"-e", parts.secret->first});
    }
    c.argv.push_back(container_);
    c.argv.insert(c.argv.end(), parts.inner.begin(), parts.inner.end());
    return c;
  }

  std::string kind_;
  std::string cli_;
  std::string context_;
  std::string container_;
  std::optional<std::string> api_socket_;  // the daemon's socket when the API is used for streams
};

std::string resolve_compose_service(const std::string& cli, const std::string& context, const std::string& service,
                                    const std::string& project) {
  std::vector<std::string> argv{cli};
  if (!context.empty()) argv.insert(argv.end(), {"--context", context});
  argv.insert(argv.end(), {"ps", "-a", "--filter", "label=com.docker.compose.service=" + service});
  if (!project.empty()) argv.insert(argv.end(), {"--filter", "label=com.docker.compose.project=" + project});
  argv.insert(argv.end(), {"--format", "{{.Names}}"});
  auto result = run({.argv = argv});
  if (!result) fail(ErrorKind::runtime, "'{}' not found; install it or set docker_cli in dbsnap.toml", cli);
  if (!result->status.ok()) {
    fail(ErrorKind::runtime, "cannot list containers: {}", util::last_nonempty_line(result->err));
  }
  std::vector<std::string> names;
  for (auto line : util::nonempty_lines(result->out)) names.emplace_back(line);
  const std::string what = project.empty() ? fmt::format("compose service '{}'", service)
                                           : fmt::format("compose service '{}' of project '{}'", service, project);
  if (names.empty()) fail(ErrorKind::runtime, "no container runs {} (is the stack up?)", what);
  if (names.size() > 1) {
    fail(ErrorKind::runtime, "{} matches several containers ({}); set compose_project or container", what,
         util::join(names, ", "));
  }
  return names.front();
}

}  // namespace

Secret Secret::from_target(const config::Target& target, std::string tool_var) {
  Secret secret;
  secret.tool_var = std::move(tool_var);
  secret.target = target.name;
  const bool from_env = target.has("password_env");
  const bool from_container = target.has("password_from_container");
  if (from_env && from_container) {
    fail(ErrorKind::config, "target '{}': set password_env or password_from_container, not both", target.name);
  }
  if (from_env) {
    secret.source = Source::dbsnap_env;
    secret.variable = target.string("password_env");
  } else if (from_container) {
    secret.source = Source::container_env;
    secret.variable = target.string("password_from_container");
  }
  if (secret.source != Source::none && !is_env_name(secret.variable)) {
    fail(ErrorKind::config, "target '{}': '{}' is not an environment variable name", target.name, secret.variable);
  }
  return secret;
}

const std::vector<config::KeySpec>& runtime_keys() {
  static const std::vector<config::KeySpec> keys = {
      {"runtime", config::KeyType::string, false, "docker, podman or local"},
      {"container", config::KeyType::string, false, "the container the database runs in"},
      {"compose_service", config::KeyType::string, false, "a compose service name instead of a container"},
      {"compose_project", config::KeyType::string, false, "the compose project of compose_service"},
      {"docker_cli", config::KeyType::string, false, "the docker/podman CLI to run (default docker or podman)"},
      {"docker_context", config::KeyType::string, false, "a docker context (docker --context)"},
      {"docker_api", config::KeyType::boolean, false,
       "read dump streams from the docker daemon's socket instead of through the docker CLI (default true)"},
  };
  return keys;
}

const std::vector<config::KeySpec>& credential_keys() {
  static const std::vector<config::KeySpec> keys = {
      {"password_env", config::KeyType::string, false, "variable in dbsnap's environment holding the password"},
      {"password_from_container", config::KeyType::string, false,
       "variable in the container's environment holding the password"},
  };
  return keys;
}

std::unique_ptr<Runtime> make_runtime(const config::Target& target) {
  const bool containerised = target.has("container") || target.has("compose_service");
  const std::string kind = target.string("runtime", containerised ? "docker" : "local");
  if (kind == "local") {
    if (containerised) {
      fail(ErrorKind::config, "target '{}': runtime \"local\" does not use container/compose_service", target.name);
    }
    return std::make_unique<LocalRuntime>();
  }
  if (kind != "docker" && kind != "podman") {
    fail(ErrorKind::config, "target '{}': unknown runtime '{}' (docker, podman or local)", target.name, kind);
  }
  const std::string cli = target.string("docker_cli", kind);
  const std::string context = target.string("docker_context");
  std::string container = target.string("container");
  if (container.empty()) {
    if (!target.has("compose_service")) {
      fail(ErrorKind::config, "target '{}': runtime \"{}\" needs container or compose_service", target.name, kind);
    }
    container = resolve_compose_service(cli, context, target.string("compose_service"),
                                        target.string("compose_project"));
  }
  std::optional<std::string> api_socket;
  if (kind == "docker" && !target.has("docker_cli") && context.empty() && target.boolean("docker_api", true)) {
    api_socket = docker_api::socket_path(docker_api::endpoint_inputs_from_environment());
  }
  return std::make_unique<ContainerRuntime>(kind, cli, context, container, std::move(api_socket));
}

std::unique_ptr<OutputStream> Runtime::start_output(const std::vector<std::string>& argv, const Secret& secret) {
  auto command = this->command(argv, StdinMode::null, secret);
  auto process = value_or_throw(Process::start(command));
  return std::make_unique<ProcessOutput>(*this, std::move(command), std::move(process));
}

std::unique_ptr<InputSession> Runtime::start_input(const std::vector<std::string>& argv, const Secret& secret) {
  auto command = this->command(argv, StdinMode::pipe, secret);
  command.stdout_mode = StdoutMode::pipe;
  return std::make_unique<ProcessInput>(value_or_throw(Process::start(command)));
}

RunResult run_in(Runtime& runtime, const std::vector<std::string>& argv, const Secret& secret,
                 const std::string& input) {
  auto command = runtime.command(argv, input.empty() ? StdinMode::null : StdinMode::pipe, secret);
  auto result = run(command, input);
  if (!result) throw DbsnapError(result.error());
  if (auto why = runtime.exec_failure(result->status, argv.empty() ? "" : argv.front(), result->err + result->out)) {
    fail(ErrorKind::runtime, "{}", *why);
  }
  return std::move(*result);
}

}  // namespace dbsnap::runtime
