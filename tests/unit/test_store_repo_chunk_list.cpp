#include "dbsnap/pipeline/sha256.hpp"
#include "repo_fixture.hpp"

namespace dbsnap::store::repo {

using test::Repo;

TEST_CASE("a snapshot written as chunks reads back whole, and its list states count, size and SHA-256") {
  Repo repo;
  const std::string data = test::make_data(1'500'000, 21);
  auto written = repo.write("app/one.chunks", data);
  REQUIRE(written.has_value());
  CHECK(written->raw_bytes == data.size());
  CHECK(written->raw_sha256 == pipeline::sha256_hex(test::as_bytes(data)).value());
  CHECK(written->new_chunks == written->chunks);
  CHECK(written->list_bytes == repo.backend.stat("app/one.chunks").value().size);

  auto list = read_chunk_list(repo.backend, "app/one.chunks");
  REQUIRE(list.has_value());
  CHECK(list->ids.size() == written->chunks);
  CHECK(list->raw_bytes == data.size());
  CHECK(list->raw_sha256 == written->raw_sha256);
  CHECK(repo.read("app/one.chunks") == data);

  // A second snapshot of the same data adds nothing but its list.
  auto again = repo.write("app/two.chunks", data);
  REQUIRE(again.has_value());
  CHECK(again->new_chunks == 0);
  CHECK(again->new_stored_bytes == 0);
}

TEST_CASE("an empty dump is a list of no chunks") {
  Repo repo;
  auto written = repo.write("app/empty.chunks", "");
  REQUIRE(written.has_value());
  auto list = read_chunk_list(repo.backend, "app/empty.chunks");
  REQUIRE(list.has_value());
  CHECK(list->ids.empty());
  CHECK(list->raw_sha256 == pipeline::sha256_hex({}).value());
}

TEST_CASE("a snapshot writer dropped before commit leaves no chunk list") {
  Repo repo;
  {
    auto chunks = ChunkStore::create(repo.backend, repo.index);
    auto writer = SnapshotWriter::create(repo.backend, *chunks, "app/dropped.chunks");
    REQUIRE(writer.has_value());
    REQUIRE((*writer)->write(test::as_bytes(test::make_data(300'000, 22))));
    REQUIRE((*writer)->finish());  // packs are committed here; the list is not
  }
  CHECK(test::names(repo.backend, "app/").empty());
  CHECK_FALSE(repo.backend.stat("app/dropped.chunks").has_value());
}

TEST_CASE("chunk lists that do not add up are refused, naming the line") {
  Repo repo;
  REQUIRE(repo.write("app/good.chunks", test::make_data(400'000, 23)).has_value());
  const std::string good = test::read_object_text(repo.backend, "app/good.chunks");
  const auto end_at = good.rfind("end ");
  const auto first_eol = good.find('\n');
  const std::string first_line = good.substr(first_eol + 1, good.find('\n', first_eol + 1) - first_eol);
  struct Case {
    std::string what, text, message;
  };
  const std::vector<Case> cases{
      {"no header", good.substr(first_eol + 1), "not a dbsnap chunk list"},
      {"no end line", good.substr(0, end_at), "without its end line"},
      {"a chunk line dropped", good.substr(0, first_eol + 1) + good.substr(first_eol + 1 + first_line.size()),
       "counts"},
      {"a size changed", std::string(good).replace(good.find(' ', first_eol), 2, " 9"), "add up"},
      {"a bad hex id", std::string(good).replace(first_eol + 1, 1, "Z"), "line 2"},
      {"text after the end", good + "more\n", "after the end line"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.what);
    REQUIRE(write_object(repo.backend, "app/bad.chunks", c.text));
    auto r = read_chunk_list(repo.backend, "app/bad.chunks");
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().kind == ErrorKind::corrupt);
    CHECK(r.error().message.find(c.message) != std::string::npos);
    CHECK(r.error().message.find("bad.chunks") != std::string::npos);
  }
}

}  // namespace dbsnap::store::repo
