#include <algorithm>

#include <fmt/core.h>

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

  auto list = read_chunk_list(repo.backend, repo.index, "app/one.chunks");
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

// The version-1 text a version-2 list object stands for.
std::string text_of(const Repo& repo, const std::string& name) {
  auto list = read_chunk_list(repo.backend, repo.index, name).value();
  ChunkReader reader(repo.backend, repo.index, list.list_chunks);
  test::StringSink out;
  REQUIRE(pipeline::pump(reader, out).has_value());
  return out.text;
}

TEST_CASE("a list's text is stored as chunks, so a snapshot of a slightly changed dump adds a small list") {
  Repo repo;
  std::string data = test::make_data(24'000'000, 24);
  auto first = repo.write("app/one.chunks", data);
  REQUIRE(first.has_value());
  const std::string object = test::read_object_text(repo.backend, "app/one.chunks");
  CHECK(object.starts_with("dbsnap-chunks 2\n"));
  CHECK(first->list_chunks >= 3);  // ~370 chunks: ~27 KB of text, ~8 KiB pieces
  const std::string text = text_of(repo, "app/one.chunks");
  CHECK(text.starts_with("dbsnap-chunks 1\n"));
  CHECK(text.size() > 20'000);
  CHECK(object.size() < 100 * (first->list_chunks + 1));  // a header, a line per piece, an end line

  // A change near the end of the dump: the text's first chunks are the same.
  for (std::size_t i = data.size() - 500'000; i < data.size(); i += 7'001) data[i] ^= 0x5a;
  auto second = repo.write("app/two.chunks", data);
  REQUIRE(second.has_value());
  CHECK(second->new_chunks >= 1);
  CHECK(second->new_chunks <= 12);
  CHECK(second->list_chunks == first->list_chunks);
  // What it added: its new chunks' frames and at most two new pieces of text
  // (each < 32 KiB raw); far less than the 27 KB of text a version-1 list adds.
  auto two = read_chunk_list(repo.backend, repo.index, "app/two.chunks").value();
  auto one = read_chunk_list(repo.backend, repo.index, "app/one.chunks").value();
  std::size_t shared = 0;
  for (const auto& id : two.list_chunks) shared += std::count(one.list_chunks.begin(), one.list_chunks.end(), id);
  CHECK(shared + 2 >= two.list_chunks.size());
  CHECK(repo.read("app/two.chunks") == data);
}

TEST_CASE("a version-1 list, as written before lists were chunked, still reads") {
  Repo repo;
  const std::string data = test::make_data(2'000'000, 25);
  REQUIRE(repo.write("app/new.chunks", data).has_value());
  REQUIRE(write_object(repo.backend, "app/old.chunks", text_of(repo, "app/new.chunks")));
  auto old = read_chunk_list(repo.backend, repo.index, "app/old.chunks");
  REQUIRE(old.has_value());
  CHECK(old->list_chunks.empty());
  CHECK(old->ids == read_chunk_list(repo.backend, repo.index, "app/new.chunks").value().ids);
  CHECK(repo.read("app/old.chunks") == data);
}

TEST_CASE("a list whose text is missing or damaged is refused, naming the list") {
  Repo repo;
  REQUIRE(repo.write("app/good.chunks", test::make_data(400'000, 26)).has_value());
  const std::string good = test::read_object_text(repo.backend, "app/good.chunks");
  const std::string text = text_of(repo, "app/good.chunks");
  const std::string text_sha = pipeline::sha256_hex(test::as_bytes(text)).value();
  const std::string absent(64, 'a');
  struct Case {
    std::string what, object, message;
  };
  const std::vector<Case> cases{
      {"a piece of text in no pack",
       fmt::format("dbsnap-chunks 2\n{} {}\nend 1 {} {}\n", absent, text.size(), text.size(), text_sha),
       "in no pack"},
      {"the text's SHA-256 is not the end line's",
       std::string(good).replace(good.size() - 65, 64, absent), "does not match the SHA-256"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.what);
    REQUIRE(write_object(repo.backend, "app/bad.chunks", c.object));
    auto r = read_chunk_list(repo.backend, repo.index, "app/bad.chunks");
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().kind == ErrorKind::corrupt);
    CHECK(r.error().message.find(c.message) != std::string::npos);
    CHECK(r.error().message.find("bad.chunks") != std::string::npos);
  }
}

TEST_CASE("an empty dump is a list of no chunks") {
  Repo repo;
  auto written = repo.write("app/empty.chunks", "");
  REQUIRE(written.has_value());
  auto list = read_chunk_list(repo.backend, repo.index, "app/empty.chunks");
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
    auto r = read_chunk_list(repo.backend, repo.index, "app/bad.chunks");
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().kind == ErrorKind::corrupt);
    CHECK(r.error().message.find(c.message) != std::string::npos);
    CHECK(r.error().message.find("bad.chunks") != std::string::npos);
  }
}

TEST_CASE("a list copied chunk by chunk equals the one written from the stream, and takes one way in") {
  Repo source;
  const std::string data = test::make_data(1'200'000, 33);
  REQUIRE(source.write("app/one.chunks", data).has_value());
  auto list = read_chunk_list(source.backend, source.index, "app/one.chunks").value();
  REQUIRE(list.sizes.size() == list.ids.size());

  Repo copy;
  auto chunks = ChunkStore::create(copy.backend, copy.index).value();
  auto writer = SnapshotWriter::create(copy.backend, chunks, "app/one.chunks").value();
  ChunkReader reader(source.backend, source.index, list.ids);
  // The first chunk is stored, so the copy holds it when the list names it again.
  for (std::size_t i = 0; i < list.ids.size(); ++i) {
    auto held = writer->add_held(list.ids[i], list.sizes[i]);
    REQUIRE(held.has_value());
    auto chunk = reader.next_chunk().value();
    REQUIRE(chunk.has_value());
    CHECK(chunk->size() == list.sizes[i]);
    if (!*held) REQUIRE(writer->add_chunk(list.ids[i], *chunk).has_value());
  }
  CHECK_FALSE(reader.next_chunk().value().has_value());
  writer->set_copied_sha256(list.raw_sha256);
  auto written = writer->commit();
  REQUIRE(written.has_value());
  CHECK(written->raw_bytes == data.size());
  CHECK(written->raw_sha256 == list.raw_sha256);
  CHECK(written->new_chunks == written->chunks);
  CHECK(copy.read("app/one.chunks") == data);
  CHECK(written->list_sha256 == list.list_sha256);  // the same object, byte for byte

  // Bytes that are not the chunk named, and a writer fed both ways, are refused.
  auto chunks2 = ChunkStore::create(copy.backend, copy.index).value();
  auto wrong = SnapshotWriter::create(copy.backend, chunks2, "app/two.chunks").value();
  auto bad = wrong->add_chunk(list.ids[0], test::as_bytes("not that chunk"));
  REQUIRE_FALSE(bad.has_value());
  CHECK(bad.error().kind == ErrorKind::corrupt);
  auto mixed = wrong->write(test::as_bytes(data.substr(0, 1000)));
  REQUIRE_FALSE(mixed.has_value());
  CHECK(mixed.error().kind == ErrorKind::failure);
  auto streamed = SnapshotWriter::create(copy.backend, chunks2, "app/three.chunks").value();
  REQUIRE(streamed->write(test::as_bytes(data.substr(0, 1000))).has_value());
  CHECK_FALSE(streamed->add_held(list.ids[0], list.sizes[0]).has_value());
  // A copied list without the dump's SHA-256 does not finish.
  auto unsealed = SnapshotWriter::create(copy.backend, chunks2, "app/four.chunks").value();
  REQUIRE(unsealed->add_held(list.ids[0], list.sizes[0]).value());
  CHECK_FALSE(unsealed->finish().has_value());
}

}  // namespace dbsnap::store::repo
