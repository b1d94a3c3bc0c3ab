#include "dbsnap/engine/postgres/client.hpp"

#include "dbsnap/engine/postgres/text.hpp"

namespace dbsnap::engine::postgres {

const ServerSpec& server_spec() {
  static const ServerSpec spec{.password_variable = "PGPASSWORD",
                               .default_user = "postgres",
                               .database_help = "the database name",
                               .port_help = "the server's port (default 5432; also names the unix socket)"};
  return spec;
}

Client::Client(std::shared_ptr<Server> server)
    : server_(std::move(server)),
      schema_(server_->target().string("schema", "public")),
      table_(server_->target().string("version_table", "alembic_version")) {
  server_->check();
}

std::vector<std::string> Client::connection(std::string_view application, std::string_view database) const {
  std::vector<std::string> args;
  if (!server_->host().empty()) args.insert(args.end(), {"-h", server_->host()});
  if (server_->port()) args.insert(args.end(), {"-p", std::to_string(*server_->port())});
  args.insert(args.end(),
              {"-U", server_->user(), "-d", conninfo(database.empty() ? server_->database() : database, application)});
  return args;
}

std::vector<std::string> Client::psql(std::string_view application, std::string_view database) const {
  std::vector<std::string> argv = {"psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"};
  auto c = connection(application, database);
  argv.insert(argv.end(), c.begin(), c.end());
  return argv;
}

runtime::RunResult Client::run_script(const std::string& sql) { return server_->run(psql("dbsnap"), sql); }

std::string Client::query(const std::string& sql, std::string_view doing) {
  auto result = run_script(sql);
  if (!result.status.ok()) {
    fail(ErrorKind::engine, "target '{}': cannot {} ({}): {}", name(), doing, where(),
         describe_failure(result.err.empty() ? result.out : result.err));
  }
  return result.out;
}

}  // namespace dbsnap::engine::postgres
