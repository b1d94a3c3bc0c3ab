#include <fstream>

#include <SQLiteCpp/SQLiteCpp.h>

#include "dbsnap/init/discover.hpp"
#include "helpers.hpp"

using namespace dbsnap;
namespace fs = std::filesystem;

TEST_CASE("init reads docker inspect's listing and never keeps a password's value") {
  const std::string listing = R"([
    {"Name": "/shop-db-1", "State": {"Running": true},
     "Config": {"Image": "mariadb:11", "Env": ["MARIADB_ROOT_PASSWORD=s3cret-value", "MARIADB_DATABASE=shop",
                                              "API_TOKEN=tok", "PATH=/usr/bin", "NOVALUE"],
                "Labels": {"com.docker.compose.project": "shop", "com.docker.compose.service": "db"}}},
    {"Name": "/cache", "State": {"Running": false}, "Config": {"Image": "redis", "Env": null, "Labels": null}}
  ])";
  auto parsed = init::parse_inspect(listing);
  REQUIRE(parsed);
  REQUIRE(parsed->size() == 2);
  const auto& db = (*parsed)[0];
  CHECK(db.name == "shop-db-1");
  CHECK(db.image == "mariadb:11");
  CHECK(db.running);
  CHECK(db.env.at("MARIADB_DATABASE") == "shop");
  CHECK(db.env.at("MARIADB_ROOT_PASSWORD").empty());
  CHECK(db.env.at("API_TOKEN").empty());
  CHECK(db.env.at("NOVALUE").empty());
  CHECK(db.labels.at("com.docker.compose.service") == "db");
  CHECK_FALSE((*parsed)[1].running);
  CHECK((*parsed)[1].env.empty());

  CHECK_FALSE(init::parse_inspect("{}"));
  CHECK_FALSE(init::parse_inspect("not json"));
  CHECK(init::parse_inspect("[]")->empty());
}

TEST_CASE("init finds SQLite files with an Alembic table and versions folders, skipping what is not the app's") {
  test::TempDir dir;
  const fs::path root = dir.path;
  auto make_db = [](const fs::path& path, const char* sql) {
    fs::create_directories(path.parent_path());
    SQLite::Database db(path.string(), SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    db.exec(sql);
  };
  make_db(root / "instance/app.db", "CREATE TABLE alembic_version (version_num TEXT)");
  make_db(root / "data/plain.db", "CREATE TABLE t (x)");
  make_db(root / "node_modules/pkg/x.db", "CREATE TABLE alembic_version (version_num TEXT)");
  make_db(root / ".venv/y.db", "CREATE TABLE alembic_version (version_num TEXT)");
  make_db(root / "a/b/c/d/too_deep.db", "CREATE TABLE alembic_version (version_num TEXT)");
  std::ofstream(root / "notes.db") << "not a database";
  fs::create_directories(root / "migrations/versions");
  std::ofstream(root / "migrations/env.py") << "";
  fs::create_directories(root / "svc/alembic/versions");
  std::ofstream(root / "svc/alembic/env.py") << "";
  fs::create_directories(root / "other/versions");  // no env.py beside it

  CHECK(init::find_sqlite_databases(root) == std::vector<fs::path>{"instance/app.db"});
  CHECK(init::find_migrations(root) == std::vector<fs::path>{"migrations/versions", "svc/alembic/versions"});
}
