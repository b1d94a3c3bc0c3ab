#include "dbsnap/engine/postgres/engine.hpp"

#include <algorithm>

#include "dbsnap/engine/postgres/client.hpp"
#include "dbsnap/engine/postgres/restore.hpp"
#include "dbsnap/engine/postgres/restore_sql.hpp"
#include "dbsnap/engine/postgres/script_scanner.hpp"
#include "dbsnap/engine/postgres/text.hpp"
#include "dbsnap/engine/tool.hpp"
#include "dbsnap/util/text.hpp"

namespace dbsnap::engine::postgres {

PostgresEngine::PostgresEngine() : servers_(server_spec()) {}

const std::vector<config::KeySpec>& PostgresEngine::keys() const {
  static const std::vector<config::KeySpec> keys = [] {
    auto k = Server::keys(server_spec());
    k.push_back({"schema", config::KeyType::string, false, "the schema of the version table (default public)"});
    k.push_back({"lock_timeout", config::KeyType::integer, false,
                 "seconds a restore waits for other sessions' locks before giving up (default 60)"});
    return k;
  }();
  return keys;
}

bool PostgresEngine::exists(const config::Target& target, const WorkContext&) {
  Client client(servers_.get(target));
  auto result = client.run_script("SELECT 1;\n");
  if (result.status.ok()) return true;
  const std::string& err = result.err.empty() ? result.out : result.err;
  if (database_missing(err)) return false;
  fail(ErrorKind::engine, "target '{}': cannot connect to {}: {}", target.name, client.where(), describe_failure(err));
}

DumpInfo PostgresEngine::dump(const config::Target& target, pipeline::Sink& out, const WorkContext&) {
  Client client(servers_.get(target));
  ScriptScanner scanner(client.schema(), client.table());
  DumpTap tap(out, [&scanner](std::string_view line) { scanner.line(line, line.size() >= 4096); });
  std::vector<std::string> argv = {"pg_dump", "--no-owner", "--no-privileges"};
  auto c = client.connection("dbsnap");
  argv.insert(argv.end(), c.begin(), c.end());

  ToolRun run;
  try {
    run = client.server().stream(argv, tap);
  } catch (const DbsnapError& e) {
    // docker exec prints "executable file not found" on stdout, i.e. into the dump.
    if (e.kind() == ErrorKind::runtime && tap.head().find("executable file not found") != std::string_view::npos) {
      fail(ErrorKind::runtime,
           "'pg_dump' is not installed in {}; install the PostgreSQL client there or point the target at the "
           "database's own container",
           client.server().runtime().where());
    }
    throw;
  }
  if (!run.status.ok()) {
    std::string why = describe_failure(run.stderr_text);
    if (why.empty()) why = run.status.code == 137 ? "it was killed" : "no message on stderr";
    fail(ErrorKind::engine, "target '{}': pg_dump of {} failed ({}): {}", target.name,
         client.where(), run.status.describe(), why);
  }
  if (auto why = incomplete_dump(tap.head(), tap.tail()); !why.empty()) {
    fail(ErrorKind::engine, "target '{}': the dump of {} is incomplete: {}", target.name,
         client.where(), why);
  }
  if (!scanner.problem().empty()) {
    fail(ErrorKind::engine, "target '{}': cannot read the revision from the dump: {}",
         target.name, scanner.problem());
  }
  if (!scanner.refusal().empty()) {
    fmt::print(stderr, "dbsnap: warning: target '{}': {}\n", target.name, scanner.refusal());
  }
  DumpInfo info;
  info.revisions = scanner.revisions();
  info.tables = scanner.tables();
  const std::string by = header_version(tap.head(), "pg_dump");
  info.tool_version = by.empty() ? "pg_dump" : "pg_dump (PostgreSQL) " + by;
  info.server_version = header_version(tap.head(), "database");
  info.source = client.where();
  return info;
}

std::vector<std::string> PostgresEngine::read_revisions(const config::Target& target, const WorkContext&) {
  Client client(servers_.get(target));
  const std::string qualified = quote_identifier(client.schema()) + "." + quote_identifier(client.table());
  const std::string sql = fmt::format(
      "SELECT pg_catalog.to_regclass({}) IS NOT NULL AS dbsnap_versioned \\gset\n"
      "\\if :dbsnap_versioned\n"
      "SELECT 'dbsnap-rev:' || version_num FROM {};\n"
      "\\endif\n",
      quote_literal(qualified), qualified);
  auto values = tagged(client.query(sql, "read the revision"), "dbsnap-rev:");
  std::sort(values.begin(), values.end());
  values.erase(std::unique(values.begin(), values.end()), values.end());
  return values;
}

std::unique_ptr<RestoreSession> PostgresEngine::begin_restore(const config::Target& target,
                                                              const store::Manifest& snapshot, const WorkContext&) {
  const std::int64_t lock_timeout = target.integer("lock_timeout", default_lock_timeout);
  if (lock_timeout < 1 || lock_timeout > 86400) {
    fail(ErrorKind::config, "target '{}': lock_timeout must be between 1 and 86400 seconds", target.name);
  }
  return start_restore(std::make_unique<Client>(servers_.get(target)), snapshot, static_cast<int>(lock_timeout));
}

std::unique_ptr<TrialRestore> PostgresEngine::begin_trial_restore(const config::Target& target,
                                                                  const store::Manifest& snapshot,
                                                                  const WorkContext&) {
  return start_trial(std::make_unique<Client>(servers_.get(target)), snapshot);
}

std::vector<Check> PostgresEngine::diagnose(const config::Target& target, const WorkContext&) {
  std::vector<Check> checks;
  try {
    Client client(servers_.get(target));
    for (const char* name : {"pg_dump", "psql"}) {
      auto tool = client.server().find_tool({name});
      if (!tool) {
        checks.push_back({Check::Level::fail, name,
                          fmt::format("not installed in {}", client.server().runtime().where()),
                          "install the PostgreSQL client tools in the container"});
        return checks;
      }
      checks.push_back({Check::Level::ok, name, tool->version, ""});
    }
    auto result = client.run_script(
        "SELECT 'dbsnap-login:' || current_user || ' on PostgreSQL ' || pg_catalog.current_setting('server_version');\n"
        "SELECT 'dbsnap-rights:' || (r.rolsuper OR d.datdba = r.oid OR pg_catalog.pg_has_role(d.datdba, 'MEMBER'))::text"
        " FROM pg_catalog.pg_roles r, pg_catalog.pg_database d"
        " WHERE r.rolname = current_user AND d.datname = pg_catalog.current_database();\n"
        "SELECT 'dbsnap-lo:' || count(*) FROM pg_catalog.pg_largeobject_metadata;\n");
    const std::string& err = result.err.empty() ? result.out : result.err;
    if (!result.status.ok() && database_missing(err)) {
      checks.push_back({Check::Level::fail, "database", fmt::format("'{}' does not exist", client.database()),
                        "create it, or fix 'database' in dbsnap.toml"});
      return checks;
    }
    if (!result.status.ok()) {
      checks.push_back({Check::Level::fail, "login", describe_failure(err),
                        "check user, host/port and password_env/password_from_container"});
      return checks;
    }
    auto value = [&](std::string_view tag) {
      auto values = tagged(result.out, tag);
      return values.empty() ? std::string() : values.front();
    };
    checks.push_back({Check::Level::ok, "login", value("dbsnap-login:"), ""});
    checks.push_back({Check::Level::ok, "database", fmt::format("'{}' exists", client.database()), ""});
    if (value("dbsnap-rights:") != "true") {
      checks.push_back({Check::Level::warn, "rights", "the user is neither a superuser nor the database owner",
                        "restores replace every schema: connect as the database owner or a superuser"});
    }
    if (const std::string los = value("dbsnap-lo:"); !los.empty() && los != "0") {
      checks.push_back({Check::Level::warn, "large objects", fmt::format("the database holds {} large objects", los),
                        "pg_dump writes them in a transaction of their own: dbsnap cannot restore such dumps "
                        "all-or-nothing; keep binary data in bytea columns"});
    }
  } catch (const DbsnapError& e) {
    checks.push_back({Check::Level::fail, "login", e.what(), "check the target in dbsnap.toml"});
  }
  return checks;
}

store::TableRows PostgresEngine::count_rows(const config::Target& target, const WorkContext&) {
  Client client(servers_.get(target));
  return parse_count_rows(client.query(count_rows_sql(), "count the rows"));
}

std::optional<std::uint64_t> PostgresEngine::size_bytes(const config::Target& target, const WorkContext&) {
  Client client(servers_.get(target));
  auto values = tagged(
      client.query("SELECT 'dbsnap-size:' || pg_catalog.pg_database_size(pg_catalog.current_database());\n",
                   "measure the database"),
      "dbsnap-size:");
  if (values.empty()) return std::nullopt;
  return util::parse_uint(values.front());
}

std::string PostgresEngine::data_directory(const config::Target& target, const WorkContext&) {
  Client client(servers_.get(target));
  auto values = tagged(client.query("SELECT 'dbsnap-dir:' || pg_catalog.current_setting('data_directory');\n",
                                    "ask for the data directory"),
                       "dbsnap-dir:");
  if (values.empty()) return {};
  std::string dir = values.front();
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  return dir;
}

}  // namespace dbsnap::engine::postgres
