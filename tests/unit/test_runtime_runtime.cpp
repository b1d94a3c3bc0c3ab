#include <cstdlib>

#include "dbsnap/runtime/runtime.hpp"
#include "helpers.hpp"

using namespace dbsnap;

namespace {

config::Target target(std::map<std::string, config::Value> values) {
  config::Target t;
  t.name = "prod";
  t.engine = "mysql";
  t.values = std::move(values);
  return t;
}

bool argv_mentions(const runtime::Command& c, const std::string& needle) {
  for (const auto& a : c.argv) {
    if (a.find(needle) != std::string::npos) return true;
  }
  return false;
}

}  // namespace

TEST_CASE("docker exec -i, never -t, and the secret only in the environment") {
  ::setenv("DBSNAP_UNIT_SECRET", "hunter2-secret", 1);
  auto t = target({{"container", std::string("db")}, {"password_env", std::string("DBSNAP_UNIT_SECRET")}});
  auto rt = runtime::make_runtime(t);
  CHECK(rt->name() == "docker");
  auto secret = runtime::Secret::from_target(t, "MYSQL_PWD");
  auto c = rt->command({"mariadb-dump", "app"}, runtime::StdinMode::null, secret);
  REQUIRE(c.argv.size() >= 6);
  CHECK(c.argv[0] == "docker");
  CHECK(c.argv[1] == "exec");
  CHECK(c.argv[2] == "-i");
  CHECK_FALSE(argv_mentions(c, "-t"));
  CHECK_FALSE(argv_mentions(c, "hunter2"));
  CHECK(std::find(c.argv.begin(), c.argv.end(), "MYSQL_PWD") != c.argv.end());  // -e MYSQL_PWD, no value
  REQUIRE(c.env.size() == 1);
  CHECK(c.env[0] == std::pair<std::string, std::string>{"MYSQL_PWD", "hunter2-secret"});
  CHECK(c.argv[c.argv.size() - 3] == "db");
  CHECK(c.argv.back() == "app");
}

TEST_CASE("password_from_container names the variable, never its value") {
  auto t = target({{"container", std::string("db")},
                   {"password_from_container", std::string("MYSQL_ROOT_PASSWORD")},
                   {"docker_context", std::string("remote")}});
  auto rt = runtime::make_runtime(t);
  auto c = rt->command({"mariadb", "app"}, runtime::StdinMode::pipe, runtime::Secret::from_target(t, "MYSQL_PWD"));
  CHECK(c.argv[1] == "--context");
  CHECK(c.argv[2] == "remote");
  CHECK(argv_mentions(c, "DBSNAP_PASSWORD_FROM=MYSQL_ROOT_PASSWORD"));
  CHECK(argv_mentions(c, "DBSNAP_PASSWORD_TO=MYSQL_PWD"));
  CHECK(c.env.empty());
  CHECK(c.argv.back() == "app");
}

TEST_CASE("the local runtime runs the tool itself") {
  ::setenv("DBSNAP_UNIT_SECRET", "s3", 1);
  auto t = target({{"password_env", std::string("DBSNAP_UNIT_SECRET")}});
  auto rt = runtime::make_runtime(t);
  CHECK(rt->name() == "local");
  auto c = rt->command({"pg_dump", "app"}, runtime::StdinMode::null, runtime::Secret::from_target(t, "PGPASSWORD"));
  CHECK(c.argv == std::vector<std::string>{"pg_dump", "app"});
  CHECK(c.env == std::vector<std::pair<std::string, std::string>>{{"PGPASSWORD", "s3"}});
}

TEST_CASE("credential and runtime settings that cannot work are config errors") {
  auto both = target({{"password_env", std::string("A")}, {"password_from_container", std::string("B")}});
  CHECK_THROWS_AS(runtime::Secret::from_target(both, "MYSQL_PWD"), DbsnapError);
  auto bad_name = target({{"password_env", std::string("NOT A NAME")}});
  CHECK_THROWS_AS(runtime::Secret::from_target(bad_name, "MYSQL_PWD"), DbsnapError);
  ::unsetenv("DBSNAP_UNIT_UNSET");
  auto unset = target({{"password_env", std::string("DBSNAP_UNIT_UNSET")}});
  auto rt = runtime::make_runtime(unset);
  CHECK_THROWS_AS(rt->command({"x"}, runtime::StdinMode::null, runtime::Secret::from_target(unset, "MYSQL_PWD")),
                  DbsnapError);
  CHECK_THROWS_AS(runtime::make_runtime(target({{"container", std::string("db")}, {"runtime", std::string("lxc")}})),
                  DbsnapError);
  CHECK_THROWS_AS(runtime::make_runtime(target({{"container", std::string("db")}, {"runtime", std::string("local")}})),
                  DbsnapError);
}

TEST_CASE("exec failures are told apart from tool failures") {
  auto rt = runtime::make_runtime(target({{"container", std::string("db")}}));
  CHECK(rt->exec_failure({.code = 127}, "mariadb-dump", "")->find("not installed") != std::string::npos);
  CHECK(rt->exec_failure({.code = 126}, "mariadb-dump", "").has_value());
  CHECK(rt->exec_failure({.code = 125}, "mariadb-dump", "Error: container is paused").has_value());
  CHECK(rt->exec_failure({.code = 1}, "mariadb-dump", "Error: No such container: db").has_value());
  CHECK_FALSE(rt->exec_failure({.code = 2}, "mariadb-dump", "Got error: 1045: Access denied").has_value());
  CHECK_FALSE(rt->exec_failure({.code = 0}, "mariadb-dump", "").has_value());
}

TEST_CASE("each container command carries its own DBSNAP_EXEC_ID, by which stop_remote finds it") {
  auto t = target({{"container", std::string("db")}});
  auto rt = runtime::make_runtime(t);
  auto a = rt->command({"mariadb-dump", "app"}, runtime::StdinMode::null, {});
  auto b = rt->command({"mariadb-dump", "app"}, runtime::StdinMode::null, {});
  CHECK(a.remote_id.size() == 16);
  CHECK(a.remote_id != b.remote_id);
  CHECK(argv_mentions(a, "DBSNAP_EXEC_ID=" + a.remote_id));
  // An option of docker exec (before the container name), not an argument of the tool.
  auto at = std::find(a.argv.begin(), a.argv.end(), "DBSNAP_EXEC_ID=" + a.remote_id);
  auto container = std::find(a.argv.begin(), a.argv.end(), "db");
  CHECK(at < container);
  CHECK(*(at - 1) == "-e");
  auto local = runtime::make_runtime(target({}))->command({"pg_dump"}, runtime::StdinMode::null, {});
  CHECK(local.remote_id.empty());
}
