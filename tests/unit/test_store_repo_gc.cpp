#include <fstream>

#include "dbsnap/store/repo/gc.hpp"
#include "repo_fixture.hpp"

namespace dbsnap::store::repo {

namespace {

// The fixture, plus the bytes of every pack.
struct Repo : test::Repo {
  void snapshot(const std::string& list, const std::string& data, std::uint64_t pack_size = 16 << 20) {
    REQUIRE(write(list, data, pack_size).has_value());
  }
  std::uint64_t pack_bytes() const {
    std::uint64_t total = 0;
    const auto packs = backend.list("data/").value();  // a range-for over .value() of a temporary dangles
    for (const auto& o : packs) total += o.size;
    return total;
  }
};

}  // namespace

TEST_CASE("garbage collection removes the chunks only deleted snapshots used, and keeps every live byte") {
  Repo repo;
  const std::string a = test::make_data(2'000'000, 31);
  const std::string b = test::make_data(2'000'000, 32);  // shares nothing with a
  repo.snapshot("s/a.chunks", a);
  repo.snapshot("s/b.chunks", b);
  const auto before = repo.pack_bytes();

  SUBCASE("both live: nothing changes") {
    auto r = collect_garbage(repo.backend, repo.index, {"s/a.chunks", "s/b.chunks"});
    REQUIRE(r.has_value());
    CHECK(r->packs_deleted == 0);
    CHECK(repo.pack_bytes() == before);
  }
  SUBCASE("b deleted: its pack goes, a reads back") {
    REQUIRE(repo.backend.remove("s/b.chunks"));
    auto r = collect_garbage(repo.backend, repo.index, {"s/a.chunks"});
    REQUIRE(r.has_value());
    CHECK(r->packs_deleted == 1);
    CHECK(r->packs_repacked == 0);
    CHECK(repo.pack_bytes() < before * 6 / 10);
    CHECK(r->bytes_freed == before - repo.pack_bytes());
    CHECK(repo.read("s/a.chunks") == a);
  }
  SUBCASE("none live: every pack goes") {
    auto r = collect_garbage(repo.backend, repo.index, {});
    REQUIRE(r.has_value());
    CHECK(repo.backend.list("data/").value().empty());
    CHECK(repo.index.packs().value().empty());
  }
  SUBCASE("a live list that does not read stops the pass before anything is removed") {
    auto r = collect_garbage(repo.backend, repo.index, {"s/a.chunks", "s/missing.chunks"});
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().kind == ErrorKind::not_found);
    CHECK(repo.pack_bytes() == before);
    CHECK(repo.read("s/a.chunks") == a);
    CHECK(repo.read("s/b.chunks") == b);
  }
}

TEST_CASE("a pack mostly unused is repacked: its live chunks move, the rest is freed") {
  Repo repo;
  const std::string first = test::make_data(1'500'000, 41);
  const std::string second = test::make_data(1'500'000, 42);
  repo.snapshot("s/old.chunks", first + second);                           // one pack
  repo.snapshot("s/new.chunks", first + test::make_data(200'000, 43));     // reuses first's chunks
  REQUIRE(repo.backend.remove("s/old.chunks"));
  const auto packs_before = repo.index.packs().value();
  REQUIRE(packs_before.size() == 2);
  const auto before = repo.pack_bytes();

  auto r = collect_garbage(repo.backend, repo.index, {"s/new.chunks"});
  REQUIRE(r.has_value());
  CHECK(r->packs_repacked == 1);
  CHECK(r->packs_written == 1);
  CHECK(r->damaged.empty());
  CHECK(repo.pack_bytes() < before * 7 / 10);
  CHECK(repo.read("s/new.chunks") == first + test::make_data(200'000, 43));
  const auto packs_after = repo.index.packs().value();
  const bool an_old_pack_went =
      std::find(packs_after.begin(), packs_after.end(), packs_before[0]) == packs_after.end() ||
      std::find(packs_after.begin(), packs_after.end(), packs_before[1]) == packs_after.end();
  CHECK(an_old_pack_went);
  CHECK(test::names(repo.backend, "data/") == packs_after);

  // Again: nothing left to do.
  auto again = collect_garbage(repo.backend, repo.index, {"s/new.chunks"});
  REQUIRE(again.has_value());
  CHECK(again->packs_deleted == 0);
}

TEST_CASE("the pieces of a live list's own text are live: a pass that repacks every unused byte keeps them") {
  Repo repo;
  const std::string a = test::make_data(2'000'000, 44);
  const std::string b = test::make_data(2'000'000, 45);
  repo.snapshot("s/a.chunks", a);
  repo.snapshot("s/b.chunks", b);
  REQUIRE(repo.backend.remove("s/a.chunks"));
  auto r = collect_garbage(repo.backend, repo.index, {"s/b.chunks"}, GcOptions{.max_unused = 0.0});
  REQUIRE(r.has_value());
  CHECK(r->packs_repacked == 1);  // b's pack (its index's bytes count as unused): only live chunks move
  CHECK(repo.read("s/b.chunks") == b);
}

TEST_CASE("after a pass killed before it deleted the old packs, the next pass finishes the job") {
  Repo repo;
  const std::string keep = test::make_data(1'000'000, 51);
  repo.snapshot("s/gone.chunks", test::make_data(1'000'000, 52));
  repo.snapshot("s/keep.chunks", keep);
  const auto packs = repo.index.packs().value();
  std::vector<std::pair<std::string, std::string>> saved;
  for (const auto& p : packs) saved.emplace_back(p, test::read_object_text(repo.backend, p));
  REQUIRE(repo.backend.remove("s/gone.chunks"));
  REQUIRE(collect_garbage(repo.backend, repo.index, {"s/keep.chunks"}).has_value());
  // Put the deleted pack back, unindexed, as a kill between the index change and the delete leaves it.
  for (const auto& [name, bytes] : saved) {
    if (!repo.backend.stat(name)) REQUIRE(write_object(repo.backend, name, bytes));
  }
  CHECK(repo.backend.list("data/").value().size() == 2);
  auto r = collect_garbage(repo.backend, repo.index, {"s/keep.chunks"});
  REQUIRE(r.has_value());
  CHECK(r->packs_deleted == 1);
  CHECK(repo.backend.list("data/").value().size() == 1);
  CHECK(repo.read("s/keep.chunks") == keep);
}

TEST_CASE("a pack whose live chunk is damaged is kept, reported, and never deleted") {
  Repo repo;
  const std::string a = test::make_data(1'000'000, 61);
  repo.snapshot("s/a.chunks", a + test::make_data(1'000'000, 62));
  repo.snapshot("s/b.chunks", a + test::make_data(100'000, 63));
  REQUIRE(repo.backend.remove("s/a.chunks"));
  // Damage the middle of the first pack (a's chunks live there, b still uses them).
  const auto first_pack = repo.index.packs().value();
  std::string damaged_pack;
  for (const auto& p : first_pack) {
    if (repo.backend.stat(p).value().size > 1'000'000) damaged_pack = p;
  }
  REQUIRE_FALSE(damaged_pack.empty());
  {
    std::fstream f(repo.dir.path / damaged_pack, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(1000);
    f.write("XXXXXXXX", 8);
  }
  auto r = collect_garbage(repo.backend, repo.index, {"s/b.chunks"});
  REQUIRE(r.has_value());
  REQUIRE(r->damaged.size() == 1);
  CHECK(r->damaged[0].find(damaged_pack) != std::string::npos);
  CHECK(repo.backend.stat(damaged_pack).has_value());
}

}  // namespace dbsnap::store::repo
