#include <map>
#include <set>

#include "dbsnap/pipeline/chunker.hpp"
#include "dbsnap/pipeline/sha256.hpp"
#include "helpers.hpp"

namespace dbsnap::pipeline {

namespace {

std::string random_bytes(std::size_t size, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string text(size, '\0');
  for (std::size_t i = 0; i < size; i += 8) {
    const std::uint64_t v = rng();
    std::memcpy(text.data() + i, &v, std::min<std::size_t>(8, size - i));
  }
  return text;
}

// An SQL dump's shape: many similar, short lines.
std::string sql_dump(std::size_t rows, std::size_t first = 0) {
  std::string text = "CREATE TABLE item (id INTEGER PRIMARY KEY, name TEXT, price REAL);\n";
  for (std::size_t i = first; i < first + rows; ++i) {
    text += fmt::format("INSERT INTO item VALUES ({},'item number {} of the catalogue',{}.{:02});\n", i, i * 7919 % 100003,
                        i % 977, i % 100);
  }
  return text;
}

std::vector<std::string> chunk(const std::string& data, const ChunkerParams& params, std::size_t piece) {
  std::vector<std::string> chunks;
  ChunkingSink sink(params, [&](Bytes c) -> Expected<void> {
    chunks.emplace_back(reinterpret_cast<const char*>(c.data()), c.size());
    return {};
  });
  for (std::size_t at = 0; at < data.size(); at += piece) {
    const auto n = std::min(piece, data.size() - at);
    if (auto r = sink.write(Bytes(reinterpret_cast<const std::byte*>(data.data() + at), n)); !r) {
      FAIL(r.error().message);  // one assertion per failure, not one per write
    }
  }
  REQUIRE(sink.finish());
  CHECK(sink.chunks() == chunks.size());
  return chunks;
}

std::size_t changed_chunks(const std::vector<std::string>& before, const std::vector<std::string>& after) {
  std::set<std::string> old(before.begin(), before.end());
  std::size_t changed = 0;
  for (const auto& c : after) changed += !old.contains(c);
  return changed;
}

}  // namespace

TEST_CASE("chunks cover the stream in order, within their size limits, whatever the write sizes") {
  const ChunkerParams params;  // 16 / 64 / 256 KiB
  const std::string data = random_bytes(3 * 1024 * 1024 + 123, 1);
  const auto whole = chunk(data, params, data.size());
  std::string joined;
  for (std::size_t i = 0; i < whole.size(); ++i) {
    joined += whole[i];
    if (i + 1 < whole.size()) {
      CHECK(whole[i].size() >= params.min_size);
      CHECK(whole[i].size() <= params.max_size);
    }
  }
  CHECK(joined == data);
  for (std::size_t piece : {std::size_t{1}, std::size_t{7}, std::size_t{4096}, std::size_t{65537},
                            std::size_t{300000}}) {
    CAPTURE(piece);
    CHECK(chunk(data, params, piece) == whole);
  }
  // On random bytes the mean lands near the normal size (normalized chunking).
  const double mean = static_cast<double>(data.size()) / static_cast<double>(whole.size());
  CAPTURE(mean);
  CHECK(mean > 0.6 * static_cast<double>(params.normal_size));
  CHECK(mean < 1.6 * static_cast<double>(params.normal_size));
}

TEST_CASE("an insert or an update changes only the chunks around it") {
  const ChunkerParams params;
  const std::string data = random_bytes(4 * 1024 * 1024, 2);
  const auto before = chunk(data, params, 1 << 18);
  std::string inserted = data;
  inserted.insert(1024 * 1024 + 5, random_bytes(100, 3));
  CHECK(changed_chunks(before, chunk(inserted, params, 1 << 18)) <= 2);
  std::string updated = data;
  updated[2 * 1024 * 1024 + 77] ^= 0x5a;
  CHECK(changed_chunks(before, chunk(updated, params, 1 << 18)) <= 2);
  std::string removed = data;
  removed.erase(100, 5000);
  CHECK(changed_chunks(before, chunk(removed, params, 1 << 18)) <= 2);

  // The same on an SQL dump: rows appended at the end and one row changed in the middle.
  const std::string dump = sql_dump(60000);
  const auto dump_chunks = chunk(dump, params, 1 << 18);
  CHECK(dump_chunks.size() > dump.size() / params.max_size);  // content-defined cuts, not only forced ones
  std::string next = dump;
  const auto row = next.find("INSERT INTO item VALUES (30000,");
  REQUIRE(row != std::string::npos);
  next.replace(row, 31, "INSERT INTO item VALUES (39999,");
  next += sql_dump(500, 60000).substr(dump.find('\n') + 1);
  const auto next_chunks = chunk(next, params, 1 << 18);
  CHECK(changed_chunks(dump_chunks, next_chunks) <= 4);
}

TEST_CASE("the gear seed changes the cut points; the same seed gives the same ones") {
  const std::string data = random_bytes(2 * 1024 * 1024, 4);
  ChunkerParams keyed;
  keyed.gear_seed = 0x1234567890abcdefULL;
  const auto plain = chunk(data, ChunkerParams{}, 1 << 20);
  const auto other = chunk(data, keyed, 1 << 20);
  CHECK(plain != other);
  CHECK(chunk(data, keyed, 12345) == other);
}

TEST_CASE("short and empty streams, small parameters, errors") {
  CHECK(chunk("", ChunkerParams{}, 1).empty());
  CHECK(chunk("tiny", ChunkerParams{}, 1) == std::vector<std::string>{"tiny"});
  ChunkerParams small{.min_size = 64, .normal_size = 256, .max_size = 1024};
  REQUIRE(check_chunker_params(small));
  const std::string data = random_bytes(100000, 5);
  const auto chunks = chunk(data, small, 333);
  for (std::size_t i = 0; i + 1 < chunks.size(); ++i) {
    CHECK(chunks[i].size() >= 64);
    CHECK(chunks[i].size() <= 1024);
  }
  CHECK(check_chunker_params({.min_size = 16, .normal_size = 1000, .max_size = 4096}).error().kind ==
        ErrorKind::usage);
  CHECK_FALSE(check_chunker_params({.min_size = 4096, .normal_size = 1024, .max_size = 8192}));
  CHECK_FALSE(check_chunker_params({.min_size = 16, .normal_size = 1024, .max_size = 512}));
  CHECK_FALSE(check_chunker_params({.min_size = 16, .normal_size = 1024, .max_size = 128u << 20}));

  int calls = 0;
  ChunkingSink failing(small, [&](Bytes) -> Expected<void> {
    ++calls;
    return make_error(ErrorKind::failure, "disk full");
  });
  auto r = failing.write(Bytes(reinterpret_cast<const std::byte*>(data.data()), data.size()));
  REQUIRE_FALSE(r);
  CHECK(r.error().message == "disk full");
  CHECK(calls == 1);
}

}  // namespace dbsnap::pipeline
