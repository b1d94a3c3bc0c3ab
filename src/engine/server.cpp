#include "dbsnap/engine/server.hpp"

#include "dbsnap/util/text.hpp"

namespace dbsnap::engine {

namespace {

// A constant script (no user input reaches the shell: the names are its
// arguments): the path and --version line of the first name installed.
constexpr const char* find_script =
    "for t in \"$@\"; do p=$(command -v \"$t\") || continue; echo \"path=$p\"; "
    "echo \"version=$(\"$p\" --version 2>&1)\"; exit 0; done";

}  // namespace

Server::Server(const config::Target& target, const ServerSpec& spec)
    : target_(target),
      runtime_(runtime::make_runtime(target)),
      secret_(runtime::Secret::from_target(target, spec.password_variable)),
      database_(target.string("database")),
      user_(target.string("user", spec.default_user)),
      host_(target.string("host")) {
  if (database_.empty()) fail(ErrorKind::config, "target '{}': key 'database' is required", target.name);
  if (user_.empty()) fail(ErrorKind::config, "target '{}': 'user' is empty", target.name);
  if (target.has("port")) {
    const std::int64_t port = target.integer("port", 0);
    if (port < 1 || port > 65535) fail(ErrorKind::config, "target '{}': port {} is out of range", target.name, port);
    port_ = static_cast<int>(port);
  }
}

std::string Server::where() const { return fmt::format("database '{}' in {}", database_, runtime_->where()); }

void Server::check() {
  std::lock_guard lock(check_mutex_);
  if (checked_) return;
  runtime_->check();
  checked_ = true;
}

runtime::RunResult Server::run(const std::vector<std::string>& argv, const std::string& input) {
  return runtime::run_in(*runtime_, argv, secret_, input);
}

ToolRun Server::stream(const std::vector<std::string>& argv, pipeline::Sink& out) {
  return stream_from(*runtime_, argv, secret_, out);
}

std::unique_ptr<ToolInput> Server::start_input(const std::vector<std::string>& argv) {
  return ToolInput::start(*runtime_, argv, secret_);
}

std::unique_ptr<runtime::InputSession> Server::start_session(const std::vector<std::string>& argv) {
  return runtime_->start_input(argv, secret_);
}

std::optional<Tool> Server::find_tool(const std::vector<std::string>& names) {
  std::vector<std::string> argv = {"sh", "-c", find_script, "dbsnap-find"};
  argv.insert(argv.end(), names.begin(), names.end());
  auto r = runtime::run_in(*runtime_, argv, runtime::Secret{});
  if (!r.status.ok()) {
    fail(ErrorKind::runtime, "target '{}': cannot look for {} in {}: {}", target_.name, util::join(names, " or "),
         runtime_->where(), util::last_nonempty_line(r.err + r.out));
  }
  Tool tool;
  for (auto line : util::nonempty_lines(r.out)) {
    if (line.starts_with("path=")) tool.path = util::trim(line.substr(5));
    if (line.starts_with("version=")) tool.version = util::trim(line.substr(8));
  }
  if (tool.path.empty()) return std::nullopt;
  return tool;
}

std::vector<config::KeySpec> Server::keys(const ServerSpec& spec) {
  std::vector<config::KeySpec> k = {
      {"database", config::KeyType::string, true, spec.database_help},
      {"user", config::KeyType::string, false, fmt::format("the database user (default {})", spec.default_user)},
      {"host", config::KeyType::string, false, "the server's host, for TCP (default: the local socket)"},
      {"port", config::KeyType::integer, false, spec.port_help},
  };
  k.insert(k.end(), runtime::credential_keys().begin(), runtime::credential_keys().end());
  return k;
}

}  // namespace dbsnap::engine
