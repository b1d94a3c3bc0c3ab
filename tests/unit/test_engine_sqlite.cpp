#include <SQLiteCpp/SQLiteCpp.h>

#include "dbsnap/engine/sqlite/engine.hpp"
#include "dbsnap/pipeline/sha256.hpp"
#include "helpers.hpp"

using namespace dbsnap;

namespace {

config::Target target_for(const std::filesystem::path& file) {
  config::Target t;
  t.name = "dev";
  t.engine = "sqlite";
  t.config_dir = file.parent_path();
  t.values["file"] = file.string();
  return t;
}

std::string table_digest(const std::filesystem::path& file) {
  SQLite::Database db(file.string(), SQLite::OPEN_READONLY);
  std::string all;
  SQLite::Statement q(db, "SELECT id, v FROM t ORDER BY id");
  while (q.executeStep()) all += q.getColumn(0).getString() + "=" + q.getColumn(1).getString() + ";";
  return all;
}

void make_db(const std::filesystem::path& file, int rows, const char* revision, int page_size = 4096) {
  SQLite::Database db(file.string(), SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
  db.exec(fmt::format("PRAGMA page_size={}; PRAGMA journal_mode=WAL", page_size));
  db.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); CREATE TABLE alembic_version (version_num VARCHAR(32))");
  db.exec(fmt::format("INSERT INTO alembic_version VALUES ('{}')", revision));
  for (int i = 0; i < rows; ++i) db.exec(fmt::format("INSERT INTO t (v) VALUES ('row {}')", i));
}

}  // namespace

TEST_CASE("sqlite dump then restore brings back data and revision") {
  test::TempDir dir;
  const auto file = dir.path / "app.db";
  make_db(file, 100, "aaa111");
  const auto target = target_for(file);
  engine::sqlite::SqliteEngine engine;
  engine::WorkContext context{dir.path};

  test::StringSink dump;
  auto info = engine.dump(target, dump, context);
  CHECK(info.revisions == std::vector<std::string>{"aaa111"});
  CHECK(dump.finished == 1);
  CHECK(dump.text.starts_with("SQLite format 3"));
  const std::string before = table_digest(file);

  {
    SQLite::Database db(file.string(), SQLite::OPEN_READWRITE);
    db.exec("DELETE FROM t WHERE id > 10; UPDATE alembic_version SET version_num = 'bbb222'");
  }
  CHECK(engine.read_revisions(target, context) == std::vector<std::string>{"bbb222"});

  auto session = engine.begin_restore(target, {}, context);
  REQUIRE(session->input().write(test::as_bytes(dump.text)));
  REQUIRE(session->input().finish());
  session->commit();
  session.reset();
  CHECK(table_digest(file) == before);
  CHECK(engine.read_revisions(target, context) == std::vector<std::string>{"aaa111"});
  // Only the database and its (closed) WAL artefacts: no temp files beside it.
  for (const auto& entry : std::filesystem::directory_iterator(dir.path)) {
    CHECK(entry.path().filename().string().find("dbsnap-tmp") == std::string::npos);
  }
}

TEST_CASE("an abandoned sqlite restore leaves the database untouched") {
  test::TempDir dir;
  const auto file = dir.path / "app.db";
  make_db(file, 20, "r1");
  const auto target = target_for(file);
  engine::sqlite::SqliteEngine engine;
  const std::string before = table_digest(file);
  {
    auto session = engine.begin_restore(target, {}, {dir.path});
    REQUIRE(session->input().write(test::as_bytes(std::string(8192, 'z'))));
  }  // dropped without commit
  CHECK(table_digest(file) == before);
  for (const auto& entry : std::filesystem::directory_iterator(dir.path)) {
    CHECK(entry.path().filename().string().find("dbsnap-tmp") == std::string::npos);
  }
}

TEST_CASE("a restore of a damaged image fails integrity_check and changes nothing") {
  test::TempDir dir;
  const auto file = dir.path / "app.db";
  make_db(file, 500, "r1");
  const auto target = target_for(file);
  engine::sqlite::SqliteEngine engine;
  test::StringSink dump;
  engine.dump(target, dump, {dir.path});
  std::string damaged = dump.text;
  for (std::size_t i = 4096 + 100; i < damaged.size(); i += 4096) damaged[i] ^= 0x7f;  // scribble on every page
  const std::string before = table_digest(file);
  auto session = engine.begin_restore(target, {}, {dir.path});
  REQUIRE(session->input().write(test::as_bytes(damaged)));
  CHECK_THROWS_AS(session->commit(), DbsnapError);
  session.reset();
  CHECK(table_digest(file) == before);
}

TEST_CASE("a restore into a WAL database with another page size converts the copy") {
  test::TempDir dir;
  const auto source_file = dir.path / "source.db";
  const auto live_file = dir.path / "live.db";
  make_db(source_file, 50, "s1", 1024);
  make_db(live_file, 5, "l1", 8192);
  engine::sqlite::SqliteEngine engine;
  test::StringSink dump;
  engine.dump(target_for(source_file), dump, {dir.path});
  auto live = target_for(live_file);
  auto session = engine.begin_restore(live, {}, {dir.path});
  REQUIRE(session->input().write(test::as_bytes(dump.text)));
  session->commit();
  session.reset();
  CHECK(table_digest(live_file) == table_digest(source_file));
  CHECK(engine.read_revisions(live, {dir.path}) == std::vector<std::string>{"s1"});
}

TEST_CASE("a missing database or version table") {
  test::TempDir dir;
  engine::sqlite::SqliteEngine engine;
  auto missing = target_for(dir.path / "nope.db");
  CHECK_FALSE(engine.exists(missing, {dir.path}));
  test::StringSink sink;
  CHECK_THROWS_AS(engine.dump(missing, sink, {dir.path}), DbsnapError);
  CHECK_FALSE(std::filesystem::exists(dir.path / "nope.db"));

  const auto file = dir.path / "plain.db";
  { SQLite::Database db(file.string(), SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE); db.exec("CREATE TABLE x (a)"); }
  CHECK(engine.read_revisions(target_for(file), {dir.path}).empty());
}

TEST_CASE("several heads come back as a sorted set") {
  test::TempDir dir;
  const auto file = dir.path / "heads.db";
  make_db(file, 1, "zzz");
  { SQLite::Database db(file.string(), SQLite::OPEN_READWRITE); db.exec("INSERT INTO alembic_version VALUES ('aaa')"); }
  engine::sqlite::SqliteEngine engine;
  CHECK(engine.read_revisions(target_for(file), {dir.path}) == std::vector<std::string>{"aaa", "zzz"});
}
