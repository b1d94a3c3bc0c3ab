#pragma once

// PostgreSQL's client tools (psql, pg_dump) for one target, on top of the
// shared engine::Server (runtime, connection keys, credentials): their
// connection options and short psql scripts.

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "dbsnap/engine/server.hpp"

namespace dbsnap::engine::postgres {

// The password's variable and the key defaults of PostgreSQL targets.
const ServerSpec& server_spec();

class Client {
 public:
  // Reads the target's `schema` and version table; checks that the server's
  // runtime can run commands (engine::Server::check).
  explicit Client(std::shared_ptr<Server> server);

  Server& server() { return *server_; }
  const config::Target& target() const { return server_->target(); }
  const std::string& name() const { return server_->target().name; }
  const std::string& database() const { return server_->database(); }
  const std::string& user() const { return server_->user(); }
  std::string where() const { return server_->where(); }
  // The version table's schema (default public) and name (default alembic_version).
  const std::string& schema() const { return schema_; }
  const std::string& table() const { return table_; }

  // The connection options every tool gets: user values are argv entries of
  // their own, the database goes in a connection string, the password never.
  // `database`, when given, instead of the target's (a test restore's scratch database).
  std::vector<std::string> connection(std::string_view application, std::string_view database = {}) const;
  // psql's argv: no psqlrc, unaligned tuples only, stop at the first error.
  std::vector<std::string> psql(std::string_view application, std::string_view database = {}) const;

  // Runs a short script in psql; the tool's failures are the caller's to judge.
  runtime::RunResult run_script(const std::string& sql);
  // Runs a short script and returns its output; throws an `engine` error
  // (saying what `doing` was) when psql fails.
  std::string query(const std::string& sql, std::string_view doing);

 private:
  std::shared_ptr<Server> server_;
  std::string schema_;
  std::string table_;
};

}  // namespace dbsnap::engine::postgres
