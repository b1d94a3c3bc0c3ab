#include "dbsnap/engine/mysql/client.hpp"

#include <cstring>

#include "dbsnap/util/text.hpp"

namespace dbsnap::engine::mysql {

namespace {

// A constant script (no user input reaches the shell: the client's options
// are its arguments) that finds the client and runs it, so that queries
// need no probe first.
constexpr const char* client_script =
    "c=$(command -v mariadb || command -v mysql) || { echo dbsnap-no-client >&2; exit 1; }; exec \"$c\" \"$@\"";
constexpr std::string_view no_client_marker = "dbsnap-no-client";

}  // namespace

const ServerSpec& server_spec() {
  static const ServerSpec spec{.password_variable = "MYSQL_PWD",
                               .default_user = "root",
                               .database_help = "the database (schema) name",
                               .port_help = "the server's TCP port (default 3306)"};
  return spec;
}

std::string describe(const runtime::ExitStatus& status) {
  std::string text = status.describe();
  if (status.signal == 0 && status.code > 128 && status.code < 160) {
    text += fmt::format(", killed by signal {} ({})", status.code - 128, strsignal(status.code - 128));
  }
  return text;
}

Client::Client(std::shared_ptr<Server> server) : server_(std::move(server)) { server_->check(); }

Tool Client::dump_tool() {
  auto tool = server_->find_tool({"mariadb-dump", "mysqldump"});
  if (!tool) {
    fail(ErrorKind::runtime, "target '{}': neither mariadb-dump nor mysqldump is installed in {}; install the "
         "MariaDB or MySQL client tools there", target().name, server_->runtime().where());
  }
  return *tool;
}

Tool Client::client() {
  auto tool = server_->find_tool({"mariadb", "mysql"});
  if (!tool) no_client();
  client_ = tool->path;
  return *tool;
}

std::vector<std::string> Client::connection() const {
  std::vector<std::string> args{"--user=" + server_->user()};
  if (!server_->host().empty()) args.push_back("--host=" + server_->host());
  if (server_->port()) args.push_back(fmt::format("--port={}", *server_->port()));
  if (!server_->host().empty() || server_->port()) args.emplace_back("--protocol=tcp");
  return args;
}

std::vector<std::string> Client::client_argv(std::string_view database) const {
  std::vector<std::string> argv;
  if (client_.empty()) {
    argv = {"sh", "-c", client_script, "dbsnap-client"};
  } else {
    argv = {client_};
  }
  auto conn = connection();
  argv.insert(argv.end(), conn.begin(), conn.end());
  argv.insert(argv.end(), {"--batch", "--skip-column-names", "--default-character-set=utf8mb4",
                           "--max-allowed-packet=1G"});
  if (!database.empty()) argv.push_back("--database=" + std::string(database));
  return argv;
}

runtime::RunResult Client::run_sql(const std::string& sql, std::string_view database) {
  auto r = server_->run(client_argv(database), std::string(session_prologue) + sql);
  if (!r.status.ok() && r.err.find(no_client_marker) != std::string::npos) no_client();
  return r;
}

Rows Client::query(const std::string& sql, std::string_view what, std::string_view database) {
  auto r = run_sql(sql, database);
  if (!r.status.ok()) {
    fail(ErrorKind::engine, "target '{}': {} failed: {}", target().name, what, explain(r.err, r.status));
  }
  return parse_batch(r.out);
}

std::string Client::explain(std::string_view err, const runtime::ExitStatus& status) const {
  std::string line;
  for (auto l : util::nonempty_lines(err)) {
    if (l.find("ERROR") != std::string_view::npos || l.find("rror:") != std::string_view::npos ||
        l.find("Got error") != std::string_view::npos || l.find("Couldn't") != std::string_view::npos) {
      line = l;
    }
  }
  if (line.empty()) line = util::last_nonempty_line(err);
  if (line.empty()) line = describe(status);
  switch (error_code(err).value_or(0)) {
    case 1045: return line + " (check 'user' and the password: password_env or password_from_container)";
    case 1049: return line + " (check 'database' in dbsnap.toml)";
    case 1044:
    case 1142:
    case 1227: return line + fmt::format(" (user '{}' lacks a privilege this needs)", server_->user());
    case 2002:
    case 2003:
    case 2005: return line + " (is the server running? check host and port)";
    case 2006:
    case 2013:
      return line + " (the server closed the connection: a statement over its max_allowed_packet, a restart or a "
                    "timeout)";
    default: return line;
  }
}

void Client::no_client() const {
  fail(ErrorKind::runtime, "target '{}': neither the mariadb nor the mysql client is installed in {}; install "
       "the MariaDB or MySQL client tools there", target().name, server_->runtime().where());
}

}  // namespace dbsnap::engine::mysql
