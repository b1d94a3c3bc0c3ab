#include "dbsnap/store/repo/chunk_index.hpp"
#include "helpers.hpp"

#include <sqlite3.h>

namespace dbsnap::store::repo {

namespace {

PackEntry entry(const std::string& content, std::uint64_t offset) {
  auto id = ChunkId::of(test::as_bytes(content));
  REQUIRE(id.has_value());
  return PackEntry{*id, offset, 10, static_cast<std::uint32_t>(content.size())};
}

}  // namespace

TEST_CASE("the chunk index finds chunks by id, keeps a chunk's first pack, and forgets a removed pack, falling back "
          "to a chunk's copy in another pack") {
  test::TempDir dir;
  const auto path = dir.path / "index.db";
  const auto a = entry("a", 0);
  const auto b = entry("b", 10);
  const auto c = entry("c", 0);
  {
    auto index = ChunkIndex::open(path);
    REQUIRE(index.has_value());
    REQUIRE(index->add_pack("data/aa/one", 100, {a, b}));
    REQUIRE(index->add_pack("data/bb/two", 100, {c, PackEntry{b.id, 10, 10, 1}}));
    REQUIRE(index->add_pack("data/aa/one", 100, {a, b}));  // indexing a pack twice changes nothing
  }
  auto index = ChunkIndex::open(path);  // it is on disk
  REQUIRE(index.has_value());
  auto found = index->find(b.id);
  REQUIRE(found.has_value());
  REQUIRE(found->has_value());
  CHECK((*found)->pack == "data/aa/one");
  CHECK((*found)->entry.offset == 10);
  CHECK((*found)->entry.raw_size == 1);
  CHECK(index->packs().value() == std::vector<std::string>{"data/aa/one", "data/bb/two"});
  CHECK(index->totals().value() == std::pair<std::uint64_t, std::uint64_t>{3, 30});

  REQUIRE(index->remove_pack("data/aa/one"));
  CHECK_FALSE(index->find(a.id).value().has_value());
  // b's copy in the other pack (what two hosts writing one bucket, or another host's repacking, leave) takes over.
  auto moved = index->find(b.id).value();
  REQUIRE(moved.has_value());
  CHECK(moved->pack == "data/bb/two");
  CHECK(moved->entry.offset == 10);
  CHECK(index->find(c.id).value().has_value());
  CHECK(index->packs().value() == std::vector<std::string>{"data/bb/two"});
  CHECK(index->totals().value() == std::pair<std::uint64_t, std::uint64_t>{2, 20});
  REQUIRE(index->remove_pack("data/bb/two"));
  CHECK_FALSE(index->find(b.id).value().has_value());
  CHECK(index->totals().value() == std::pair<std::uint64_t, std::uint64_t>{0, 0});
}

TEST_CASE("replacing packs keeps every chunk that has a copy left, in one transaction") {
  auto index = ChunkIndex::in_memory();
  REQUIRE(index.has_value());
  const auto a = entry("a", 0);
  const auto b = entry("b", 10);
  REQUIRE(index->add_pack("data/aa/one", 100, {a, b}));
  REQUIRE(index->add_pack("data/bb/two", 100, {PackEntry{a.id, 50, 10, 1}}));
  REQUIRE(index->add_pack("data/cc/three", 100, {PackEntry{a.id, 70, 10, 1}}));
  // Both packs that hold a go at once (as garbage collection deletes them): a's last copy is in three.
  REQUIRE(index->replace_packs({"data/aa/one", "data/bb/two"}, {}));
  auto found = index->find(a.id).value();
  REQUIRE(found.has_value());
  CHECK(found->pack == "data/cc/three");
  CHECK(found->entry.offset == 70);
  CHECK_FALSE(index->find(b.id).value().has_value());
}

TEST_CASE("a chunk index from a newer dbsnap is refused and left alone") {
  test::TempDir dir;
  const auto path = dir.path / "index.db";
  REQUIRE(ChunkIndex::open(path).has_value());
  sqlite3* db = nullptr;  // bump the version as a newer build would
  REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
  REQUIRE(sqlite3_exec(db, "PRAGMA user_version=99", nullptr, nullptr, nullptr) == SQLITE_OK);
  sqlite3_close(db);
  auto again = ChunkIndex::open(path);
  REQUIRE_FALSE(again.has_value());
  CHECK(again.error().message.find("newer dbsnap") != std::string::npos);
}

}  // namespace dbsnap::store::repo
