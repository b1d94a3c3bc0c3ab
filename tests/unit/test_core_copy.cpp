#include <fstream>

#include "dbsnap/core/copy.hpp"
#include "dbsnap/pipeline/sha256.hpp"
#include "dbsnap/store/store.hpp"
#include "dbsnap/util/text.hpp"
#include "helpers.hpp"

using namespace dbsnap;

namespace {

store::Manifest publish_dump(store::Store& s, const std::string& body) {
  auto pending = s.begin("dev", "sql");
  REQUIRE(pending);
  REQUIRE(pending->layout == store::DataLayout::chunks);
  REQUIRE(pending->chunks_in->write(test::as_bytes(body)));
  REQUIRE(pending->chunks_in->finish());
  store::Manifest m;
  m.engine = "sqlite";
  m.created_at = util::format_utc(util::now_ms());
  m.revisions = {"rev1"};
  REQUIRE(s.publish(*pending, m));
  auto found = s.resolve(pending->id);
  REQUIRE(found);
  return *found;
}

std::string read_dump(const store::Store& s, const store::Manifest& m) {
  auto source = s.open_chunks(m);
  REQUIRE(source);
  test::StringSink out;
  REQUIRE(pipeline::pump(**source, out));
  return out.text;
}

// Every pack file of a local store.
std::vector<std::filesystem::path> packs(const std::filesystem::path& root) {
  std::vector<std::filesystem::path> found;
  for (const auto& e : std::filesystem::recursive_directory_iterator(root / "data")) {
    if (e.is_regular_file()) found.push_back(e.path());
  }
  std::sort(found.begin(), found.end());
  return found;
}

// Overwrites the middle of a file with other bytes.
void damage(const std::filesystem::path& file) {
  const auto size = std::filesystem::file_size(file);
  std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
  f.seekp(static_cast<std::streamoff>(size / 2));
  const std::string junk(4096, 'x');
  f.write(junk.data(), static_cast<std::streamsize>(junk.size()));
}

}  // namespace

TEST_CASE("a copy between stores in the clear goes by the chunk list and reads only what the destination lacks") {
  test::TempDir dir;
  auto from = store::Store::open(dir.path / "from");
  auto to = store::Store::open(dir.path / "to");
  REQUIRE(from);
  REQUIRE(to);
  const std::string first = test::make_data(3 << 20, 5);
  std::string second = first;
  second.replace(1 << 20, 50'000, test::make_data(50'000, 6));
  const auto a = publish_dump(*from, first);
  const auto packs_of_a = packs(dir.path / "from");
  REQUIRE(packs_of_a.size() == 1);
  ::usleep(2000);
  const auto b = publish_dump(*from, second);
  REQUIRE(packs(dir.path / "from").size() == 2);  // and b's new chunks in another

  auto copied = core::copy_snapshot(*from, a, *to);
  CHECK(copied.outcome == core::CopyOutcome::copied);
  CHECK(copied.copy.id == a.id);
  CHECK(copied.copy.raw_sha256 == a.raw_sha256);
  CHECK(copied.copy.chunks == a.chunks);
  CHECK(read_dump(*to, copied.copy) == first);
  CHECK(util::read_small_file(to->blob_location(copied.copy)).value() ==
        util::read_small_file(from->blob_location(a)).value());  // the same list, byte for byte

  // a's pack damaged in the source: the copy of b never reads the chunks the
  // destination holds (a copy through the dump would stop at the damage).
  damage(packs_of_a.front());
  auto second_copy = core::copy_snapshot(*from, b, *to);
  CHECK(second_copy.outcome == core::CopyOutcome::copied);
  CHECK(read_dump(*to, second_copy.copy) == second);
  CHECK(second_copy.copy.stored_bytes < copied.copy.stored_bytes / 5);

  // A destination that lacks the damaged chunks gets nothing.
  auto empty = store::Store::open(dir.path / "empty");
  REQUIRE(empty);
  try {
    core::copy_snapshot(*from, b, *empty);
    FAIL("a copy that needed damaged chunks was published");
  } catch (const DbsnapError& e) {
    CHECK(e.kind() == ErrorKind::corrupt);
    CHECK(std::string(e.what()).find("nothing was published") != std::string::npos);
  }
  CHECK(empty->find({}).value().empty());
}
