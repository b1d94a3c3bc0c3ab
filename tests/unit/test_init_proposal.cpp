#include "dbsnap/config/config.hpp"
#include "dbsnap/engine/engine.hpp"
#include "dbsnap/init/proposal.hpp"
#include <fstream>

#include "helpers.hpp"

using namespace dbsnap;

namespace {

init::Container container(std::string name, std::string image, std::map<std::string, std::string> env,
                          std::map<std::string, std::string> labels = {}, bool running = true) {
  return {std::move(name), std::move(image), std::move(env), std::move(labels), running};
}

}  // namespace

TEST_CASE("init tells a database container's engine by its environment or its image") {
  CHECK(init::engine_of(container("a", "dbsnap-test:1", {{"MYSQL_ROOT_PASSWORD", ""}})) == "mysql");
  CHECK(init::engine_of(container("a", "docker.io/library/mariadb:11.4@sha256:ab", {})) == "mysql");
  CHECK(init::engine_of(container("a", "custom", {{"POSTGRES_DB", "app"}})) == "postgres");
  CHECK(init::engine_of(container("a", "postgis/postgis:16-3.4", {})) == "postgres");
  CHECK(init::engine_of(container("a", "redis:7", {{"PATH", "/bin"}})).empty());
}

TEST_CASE("init proposes targets that load as a config, with no password in the file") {
  const std::vector<init::Container> found = {
      container("shop-db-1", "mariadb:11", {{"MARIADB_ROOT_PASSWORD", ""}, {"MARIADB_DATABASE", "shop"}},
                {{"com.docker.compose.project", "shop"}, {"com.docker.compose.service", "db"}}),
      container("pg", "postgres:16", {{"POSTGRES_PASSWORD", ""}, {"POSTGRES_USER", "app"}}),
      container("bare-mysql", "mysql:8", {{"MYSQL_USER", "u"}, {"MYSQL_PASSWORD", ""}}),
      container("old-pg", "postgres:15", {{"POSTGRES_DB", "x"}}, {}, false),
      container("web", "python:3.12", {{"DATABASE_URL", "postgresql://..."}}),
  };
  const auto p = init::propose(found, "docker", {"instance/app.db", "db.sqlite3"}, {"migrations/versions"});
  REQUIRE(p.targets.size() == 5);
  const auto& db = p.targets[2];  // sorted by container name: bare-mysql, pg, shop-db-1, then the files
  CHECK(db.name == "db");
  CHECK(db.keys == std::vector<std::pair<std::string, std::string>>{{"compose_service", "db"},
                                                                     {"compose_project", "shop"},
                                                                     {"database", "shop"},
                                                                     {"user", "root"},
                                                                     {"password_from_container", "MARIADB_ROOT_PASSWORD"},
                                                                     {"migrations", "migrations/versions"}});
  const auto& pg = p.targets[1];
  CHECK(pg.name == "pg");
  CHECK(pg.keys == std::vector<std::pair<std::string, std::string>>{{"container", "pg"},
                                                                     {"database", "app"},
                                                                     {"user", "app"},
                                                                     {"password_from_container", "POSTGRES_PASSWORD"},
                                                                     {"migrations", "migrations/versions"}});
  CHECK_FALSE(p.targets[0].missing.empty());  // MySQL without a database name: commented out
  CHECK(p.targets[3].name == "app");
  CHECK(p.targets[4].name == "db-2");  // db.sqlite3's stem is taken by the compose service
  REQUIRE(p.skipped.size() == 1);
  CHECK(p.skipped[0].find("old-pg") != std::string::npos);

  // The file loads as a config whose keys every engine accepts, and holds no secret.
  const std::string text = init::render(p, "2026-12-07");
  test::TempDir dir;
  const auto file = dir.path / "dbsnap.toml";
  std::ofstream(file) << text;
  auto loaded = config::load_config(file, engine::key_schema());
  REQUIRE_MESSAGE(loaded, (loaded ? std::string() : loaded.error().message) << "\n" << text);
  CHECK(loaded->targets.size() == 4);
  CHECK(loaded->targets.at("db").string("compose_project") == "shop");
  CHECK(loaded->targets.at("db-2").string("file") == "db.sqlite3");
  CHECK_FALSE(loaded->targets.contains("bare-mysql"));
  CHECK(text.find("# [targets.bare-mysql]") != std::string::npos);
}

TEST_CASE("init names targets validly and uniquely") {
  const std::vector<init::Container> found = {
      container(".hidden db", "mariadb", {{"MARIADB_DATABASE", "a"}}),
      container("x", "mariadb", {{"MARIADB_DATABASE", "b"}}, {{"com.docker.compose.service", "x"}}),
  };
  const auto p = init::propose(found, "podman", {"x.db"}, {});
  REQUIRE(p.targets.size() == 3);
  CHECK(p.targets[0].name == "hidden-db");
  CHECK(p.targets[1].name == "x");
  CHECK(p.targets[2].name == "x-2");
  CHECK(p.targets[0].keys.front() == std::pair<std::string, std::string>{"runtime", "podman"});
}
