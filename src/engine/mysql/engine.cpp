#include "dbsnap/engine/mysql/engine.hpp"

#include <algorithm>
#include <filesystem>

#include "dbsnap/engine/mysql/client.hpp"
#include "dbsnap/engine/mysql/dump_scan.hpp"
#include "dbsnap/engine/mysql/restore.hpp"
#include "dbsnap/engine/mysql/row_counter.hpp"
#include "dbsnap/engine/mysql/schema_sql.hpp"
#include "dbsnap/engine/tool.hpp"
#include "dbsnap/util/text.hpp"

namespace dbsnap::engine::mysql {

MysqlEngine::MysqlEngine() : servers_(server_spec()) {}

const std::vector<config::KeySpec>& MysqlEngine::keys() const {
  static const std::vector<config::KeySpec> keys = Server::keys(server_spec());
  return keys;
}

bool MysqlEngine::exists(const config::Target& target, const WorkContext&) {
  Client client(servers_.get(target));
  auto rows = client.query("SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = " +
                               quote_string(client.database()) + ";\n",
                           "checking that the database exists");
  return !rows.empty() && !rows[0].empty() && rows[0][0] != "0";
}

DumpInfo MysqlEngine::dump(const config::Target& target, pipeline::Sink& out, const WorkContext&) {
  Client client(servers_.get(target));
  const Tool dumper = client.dump_tool();
  RevisionScanner scanner(version_table(target));
  EngineScanner engines;
  InsertRowCounter rows;
  DumpTap tap(
      out,
      [&](std::string_view line) {
        scanner.line(line);
        engines.line(line);
      },
      [&rows](std::string_view bytes) { rows.feed(bytes); });

  std::vector<std::string> argv{dumper.path};
  auto conn = client.connection();
  argv.insert(argv.end(), conn.begin(), conn.end());
  auto flags = dump_flags(dumper.version);
  argv.insert(argv.end(), flags.begin(), flags.end());
  argv.insert(argv.end(), {"--", client.database()});
  const std::string tool = std::filesystem::path(dumper.path).filename().string();

  auto run = client.server().stream(argv, tap);
  if (!run.status.ok()) {
    const std::string status = describe(run.status);
    const bool quiet = util::trim(run.stderr_text).empty();
    fail(ErrorKind::engine, "target '{}': {} of {} failed ({}){}", target.name, tool,
         client.where(), status, quiet ? "" : ": " + client.explain(run.stderr_text, run.status));
  }
  if (auto why = incomplete_dump(tap.head(), tap.tail()); !why.empty()) {
    std::string detail(util::last_nonempty_line(run.stderr_text));
    fail(ErrorKind::engine, "target '{}': the dump of {} is incomplete: {}{}", target.name,
         client.where(), why, detail.empty() ? "" : " (" + detail + ")");
  }
  if (!scanner.problem().empty()) {
    fail(ErrorKind::engine, "target '{}': cannot read the revision from the dump: {}",
         target.name, scanner.problem());
  }
  if (!engines.non_transactional().empty()) {
    fmt::print(stderr, "dbsnap: warning: target '{}': tables not in InnoDB: {}; --single-transaction cannot keep "
               "their copy consistent with writes made during the backup\n", target.name,
               util::join(engines.non_transactional(), ", "));
  }
  DumpInfo info;
  info.revisions = scanner.revisions();
  info.tables = rows.tables();
  info.tool_version = dumper.version;
  info.server_version = server_version_from_header(tap.head());
  info.source = client.where();
  return info;
}

std::vector<std::string> MysqlEngine::read_revisions(const config::Target& target, const WorkContext&) {
  Client client(servers_.get(target));
  auto rows = client.query(revisions_sql(client.database(), version_table(target)), "reading the revision");
  std::vector<std::string> revisions;
  for (const auto& row : rows) {
    if (row.size() == 2 && row[0] == "v") revisions.push_back(row[1]);
  }
  std::sort(revisions.begin(), revisions.end());
  revisions.erase(std::unique(revisions.begin(), revisions.end()), revisions.end());
  return revisions;
}

std::vector<Check> MysqlEngine::diagnose(const config::Target& target, const WorkContext&) {
  std::vector<Check> checks;
  try {
    Client client(servers_.get(target));
    for (const char* which : {"dump", "client"}) {
      const bool dump = std::string_view(which) == "dump";
      try {
        Tool tool = dump ? client.dump_tool() : client.client();
        checks.push_back({Check::Level::ok, dump ? "dump tool" : "client", tool.version, ""});
      } catch (const DbsnapError& e) {
        checks.push_back({Check::Level::fail, dump ? "dump tool" : "client", e.what(),
                          "install the MariaDB or MySQL client tools in the container"});
        return checks;
      }
    }
    auto rows = client.query("SELECT 'server', VERSION(), CURRENT_USER();\n"
                             "SELECT 'database', COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = " +
                                 quote_string(client.database()) + ";\n",
                             "logging in");
    for (const auto& row : rows) {
      if (row.size() == 3 && row[0] == "server") {
        checks.push_back({Check::Level::ok, "login", fmt::format("{} on {}", row[2], row[1]), ""});
      }
      if (row.size() == 2 && row[0] == "database") {
        if (row[1] != "0") {
          checks.push_back({Check::Level::ok, "database", fmt::format("'{}' exists", client.database()), ""});
        } else {
          checks.push_back({Check::Level::fail, "database", fmt::format("'{}' does not exist", client.database()),
                            "create it, or fix 'database' in dbsnap.toml"});
        }
      }
    }
  } catch (const DbsnapError& e) {
    checks.push_back({Check::Level::fail, "login", e.what(), "check user, password_env/password_from_container"});
  }
  return checks;
}

store::TableRows MysqlEngine::count_rows(const config::Target& target, const WorkContext&) {
  Client client(servers_.get(target));
  auto tables = client.query("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = " +
                                 quote_string(client.database()) + " AND TABLE_TYPE = 'BASE TABLE';\n",
                             "listing the tables");
  std::vector<std::string> names;
  for (const auto& row : tables) {
    if (row.size() == 1) names.push_back(row[0]);
  }
  if (names.empty()) return {};
  return read_counts(client.query(count_rows_sql(client.database(), names), "counting the rows"));
}

std::optional<std::uint64_t> MysqlEngine::size_bytes(const config::Target& target, const WorkContext&) {
  Client client(servers_.get(target));
  auto rows = client.query("SELECT IFNULL(SUM(DATA_LENGTH + INDEX_LENGTH), 0) FROM information_schema.TABLES "
                           "WHERE TABLE_SCHEMA = " + quote_string(client.database()) + ";\n",
                           "measuring the database");
  if (rows.empty() || rows[0].empty()) return std::nullopt;
  return util::parse_uint(rows[0][0]);
}

std::string MysqlEngine::data_directory(const config::Target& target, const WorkContext&) {
  Client client(servers_.get(target));
  auto rows = client.query("SELECT @@datadir;\n", "asking for the data directory");
  if (rows.empty() || rows[0].empty()) return {};
  std::string dir = rows[0][0];
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  return dir;
}

std::unique_ptr<RestoreSession> MysqlEngine::begin_restore(const config::Target& target,
                                                           const store::Manifest& snapshot,
                                                           const WorkContext& context) {
  return std::make_unique<MysqlRestore>(servers_.get(target), snapshot, context);
}

std::unique_ptr<TrialRestore> MysqlEngine::begin_trial_restore(const config::Target& target,
                                                               const store::Manifest& snapshot,
                                                               const WorkContext& context) {
  return std::make_unique<MysqlTrial>(servers_.get(target), snapshot, context);
}

}  // namespace dbsnap::engine::mysql
