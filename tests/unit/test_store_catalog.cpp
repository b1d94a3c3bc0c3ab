#include <fstream>
#include <iterator>

#include <SQLiteCpp/SQLiteCpp.h>

#include "dbsnap/store/catalog.hpp"
#include "dbsnap/store/store.hpp"
#include "helpers.hpp"

using namespace dbsnap;

namespace {

std::string read_all(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

store::Manifest manifest(const std::string& id, const std::string& target, std::vector<std::string> revisions) {
  store::Manifest m;
  m.id = id;
  m.target = target;
  m.engine = "sqlite";
  m.created_at = "2026-11-21T13:09:57.123Z";
  m.revisions = std::move(revisions);
  m.blob_file = id + ".sqlite.zst";
  m.raw_sha256 = m.stored_sha256 = std::string(64, '0');
  return m;
}

}  // namespace

TEST_CASE("a catalog from a newer dbsnap is refused and left exactly as it was") {
  test::TempDir dir;
  const auto path = dir.path / "catalog.db";
  {
    SQLite::Database db(path.string(), SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    db.exec("CREATE TABLE future (x); PRAGMA user_version = 7");
  }
  const std::string before = read_all(path);
  CHECK(store::Catalog::schema_version(path) == 7);
  auto catalog = store::Catalog::open(path);
  REQUIRE_FALSE(catalog);
  CHECK(catalog.error().message ==
        fmt::format("catalog {} was written by a newer dbsnap (schema 7, this build knows {}); upgrade dbsnap "
                    "(nothing was changed)", path.string(), store::catalog_schema_version));
  CHECK(read_all(path) == before);
  CHECK_FALSE(store::Catalog::looks_damaged(path));

  // catalog rebuild does not set it aside either: a newer dbsnap's index is not damaged.
  std::filesystem::create_directories(dir.path / "store");
  std::filesystem::copy_file(path, dir.path / "store" / "catalog.db");
  auto s = store::Store::open(dir.path / "store", store::CatalogRecovery::set_aside);
  REQUIRE_FALSE(s);
  CHECK(s.error().message.find("newer dbsnap") != std::string::npos);
  CHECK(read_all(dir.path / "store" / "catalog.db") == before);
}

TEST_CASE("a garbage catalog is damaged, names catalog rebuild, and rebuild sets it aside") {
  test::TempDir dir;
  std::filesystem::create_directories(dir.path / "store");
  const auto path = dir.path / "store" / "catalog.db";
  std::ofstream(path) << std::string(8192, 'x');
  CHECK(store::Catalog::looks_damaged(path));
  CHECK_FALSE(store::Catalog::schema_version(path).has_value());
  auto s = store::Store::open(dir.path / "store");
  REQUIRE_FALSE(s);
  CHECK(s.error().message.find("is damaged") != std::string::npos);
  CHECK(s.error().message.find("dbsnap catalog rebuild") != std::string::npos);
  auto rebuilt = store::Store::open(dir.path / "store", store::CatalogRecovery::set_aside);
  REQUIRE(rebuilt);
  CHECK(rebuilt->find({})->empty());
  std::size_t aside = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir.path / "store")) {
    if (e.path().filename().string().starts_with("catalog.db.damaged-")) {
      ++aside;
      CHECK(read_all(e.path()) == std::string(8192, 'x'));
    }
  }
  CHECK(aside == 1);
}

TEST_CASE("replace_all swaps the whole index in one transaction") {
  test::TempDir dir;
  auto catalog = store::Catalog::open(dir.path / "catalog.db");
  REQUIRE(catalog);
  REQUIRE(catalog->put(manifest("1m7z3mme60ymr", "dev", {"a"})));
  REQUIRE(catalog->put(manifest("1m7z3mme60yms", "dev", {"b"})));
  auto reader = store::Catalog::open(dir.path / "catalog.db");  // a second process's view
  REQUIRE(reader);
  REQUIRE(catalog->replace_all({manifest("1m7z3mme60ymt", "prod", {"c", "d"})}));
  auto all = reader->find({});
  REQUIRE(all);
  REQUIRE(all->size() == 1);
  CHECK((*all)[0].id == "1m7z3mme60ymt");
  CHECK(reader->find({.revision = "a"})->empty());
  CHECK(reader->find({.revision = "d"})->size() == 1);
}
