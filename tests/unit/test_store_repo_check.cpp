#include <fstream>

#include "dbsnap/store/repo/check.hpp"
#include "repo_fixture.hpp"

using namespace dbsnap;
using namespace dbsnap::store::repo;

namespace {

std::vector<std::string> pack_names(const test::Repo& repo) {
  return repo.index.packs().value();
}

void flip_byte(const std::filesystem::path& file, std::uint64_t offset) {
  std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
  f.seekg(static_cast<std::streamoff>(offset));
  char c = 0;
  f.read(&c, 1);
  f.seekp(static_cast<std::streamoff>(offset));
  c = static_cast<char>(c ^ 0x20);
  f.write(&c, 1);
}

}  // namespace

TEST_CASE("check_packs: a sound repository reads back whole") {
  test::Repo repo;
  REQUIRE(repo.write("a.chunks", test::make_data(2 << 20, 1), 512 << 10));
  REQUIRE(repo.write("b.chunks", test::make_data(1 << 20, 2)));
  auto check = check_packs(repo.backend, repo.index);
  REQUIRE(check);
  CHECK(check->packs == pack_names(repo).size());
  CHECK(check->packs >= 4);
  CHECK(check->chunks == repo.index.totals().value().first);
  CHECK(check->stored_bytes == repo.index.totals().value().second);
  CHECK(check->damaged.empty());
  CHECK(check->problems.empty());
}

TEST_CASE("check_packs: a damaged frame, a cut pack and an unreadable one are each found") {
  test::Repo repo;
  REQUIRE(repo.write("a.chunks", test::make_data(3 << 20, 3), 1 << 20));
  auto packs = pack_names(repo);
  REQUIRE(packs.size() >= 2);
  auto first = read_pack_index(repo.backend, packs[0]).value();
  flip_byte(repo.dir.path / packs[0], first[1].offset + first[1].stored_size / 2);
  auto second = read_pack_index(repo.backend, packs[1]).value();
  std::filesystem::resize_file(repo.dir.path / packs[1], 10);
  REQUIRE(write_object(repo.backend, "data/ab/ab" + std::string(30, '0'), "not a pack"));

  auto check = check_packs(repo.backend, repo.index);
  REQUIRE(check);
  CHECK(check->damaged.contains(first[1].id));
  CHECK_FALSE(check->damaged.contains(first[0].id));
  for (const auto& e : second) CHECK(check->damaged.contains(e.id));
  CHECK(check->damaged.size() == 1 + second.size());
  CHECK(check->problems.size() == 3);  // the frame, the cut pack, the stray object
}

TEST_CASE("check_packs: a copy of a chunk the index locates elsewhere is not a problem") {
  test::Repo repo;
  const std::string data = test::make_data(600000, 4);
  REQUIRE(repo.write("a.chunks", data));
  // A second index that never saw the first pack: the same chunks stored again, as by a second backup at once.
  auto other = ChunkIndex::in_memory().value();
  auto chunks = ChunkStore::create(repo.backend, other).value();
  auto writer = SnapshotWriter::create(repo.backend, chunks, "b.chunks").value();
  REQUIRE(writer->write(test::as_bytes(data)));
  REQUIRE(writer->commit());
  auto check = check_packs(repo.backend, repo.index);  // reconcile indexes the second pack: first locations kept
  REQUIRE(check);
  CHECK(check->packs == 2);
  CHECK(check->problems.empty());
  CHECK(check->damaged.empty());
}
