#include <fstream>

#include "backend_conformance.hpp"
#include "dbsnap/pipeline/zstd.hpp"
#include "dbsnap/store/local/local_backend.hpp"
#include "dbsnap/store/repo/pack.hpp"

namespace dbsnap::store::repo {

namespace {

struct Packed {
  std::string name;
  std::vector<PackEntry> entries;
  std::vector<std::string> chunks;
};

Packed write_pack(Backend& backend, const std::vector<std::string>& chunks) {
  auto compressor = pipeline::FrameCompressor::create(3);
  REQUIRE(compressor.has_value());
  auto pack = PackWriter::create(backend, new_pack_name());
  REQUIRE(pack.has_value());
  for (const auto& c : chunks) {
    auto id = ChunkId::of(test::as_bytes(c));
    REQUIRE(id.has_value());
    auto frame = compressor->compress(test::as_bytes(c));
    REQUIRE(frame.has_value());
    REQUIRE(pack->add(*id, *frame, static_cast<std::uint32_t>(c.size())));
  }
  auto entries = pack->commit();
  REQUIRE(entries.has_value());
  return {pack->name(), *entries, chunks};
}

void flip_byte(const std::filesystem::path& file, std::uint64_t at) {
  std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
  f.seekg(static_cast<std::streamoff>(at));
  char c = 0;
  f.get(c);
  f.seekp(static_cast<std::streamoff>(at));
  f.put(static_cast<char>(c ^ 0x5a));
}

}  // namespace

TEST_CASE("ChunkId round-trips through hex and is the SHA-256 of the chunk") {
  auto id = ChunkId::of(test::as_bytes("abc"));
  REQUIRE(id.has_value());
  CHECK(id->hex() == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  auto back = ChunkId::from_hex(id->hex());
  REQUIRE(back.has_value());
  CHECK(*back == *id);
  CHECK_FALSE(ChunkId::from_hex("xyz").has_value());
  CHECK_FALSE(ChunkId::from_hex(std::string(64, 'G')).has_value());
  CHECK_FALSE(ChunkId::from_hex(std::string(64, 'A')).has_value());  // lowercase only
}

TEST_CASE("a pack holds its chunks and its own index, and reads back chunk by chunk") {
  test::TempDir dir;
  local::LocalBackend backend(dir.path, BackendAccess::write);
  const std::vector<std::string> chunks{test::make_data(70'000, 1), "small", test::make_data(200'000, 2)};
  auto packed = write_pack(backend, chunks);
  CHECK(packed.name.starts_with("data/" + packed.name.substr(packed.name.size() - 32, 2) + "/"));
  CHECK(check_object_name(packed.name).has_value());

  auto entries = read_pack_index(backend, packed.name);
  REQUIRE(entries.has_value());
  REQUIRE(entries->size() == 3);
  std::uint64_t offset = 0;
  for (std::size_t i = 0; i < 3; ++i) {
    CHECK((*entries)[i].id == packed.entries[i].id);
    CHECK((*entries)[i].offset == offset);
    CHECK((*entries)[i].raw_size == chunks[i].size());
    offset += (*entries)[i].stored_size;
    std::vector<std::byte> raw;
    REQUIRE(read_chunk(backend, packed.name, (*entries)[i], raw));
    CHECK(std::string(reinterpret_cast<const char*>(raw.data()), raw.size()) == chunks[i]);
  }
  auto info = backend.stat(packed.name);
  REQUIRE(info.has_value());
  CHECK(info->size == offset + 8 + 3 * pack_entry_size + pack_trailer_size);
}

TEST_CASE("a whole pack is a zstd stream: decompressing it gives its chunks in order (the index frame is skipped)") {
  test::TempDir dir;
  local::LocalBackend backend(dir.path, BackendAccess::write);
  const std::vector<std::string> chunks{"first chunk\n", test::make_data(100'000, 3), "last\n"};
  auto packed = write_pack(backend, chunks);
  test::StringSink out;
  auto unzstd = pipeline::DecompressingSink::create(out);
  REQUIRE(unzstd.has_value());
  const std::string whole = test::read_object_text(backend, packed.name);
  REQUIRE((*unzstd)->write(test::as_bytes(whole)));
  REQUIRE((*unzstd)->finish());
  CHECK(out.text == chunks[0] + chunks[1] + chunks[2]);
}

TEST_CASE("a pack writer dropped before commit leaves nothing") {
  test::TempDir dir;
  local::LocalBackend backend(dir.path, BackendAccess::write);
  {
    auto pack = PackWriter::create(backend, "data/00/dropped");
    REQUIRE(pack.has_value());
    auto id = ChunkId::of(test::as_bytes("x"));
    REQUIRE(pack->add(*id, test::as_bytes("not even a frame"), 1));
  }
  CHECK(test::names(backend).empty());
}

TEST_CASE("damaged packs are reported, never read as data") {
  test::TempDir dir;
  local::LocalBackend backend(dir.path, BackendAccess::write);
  const std::vector<std::string> chunks{test::make_data(50'000, 4), test::make_data(50'000, 5)};
  auto packed = write_pack(backend, chunks);
  const auto file = dir.path / packed.name;

  SUBCASE("a flipped byte inside a chunk's frame") {
    flip_byte(file, packed.entries[1].offset + packed.entries[1].stored_size / 2);
    std::vector<std::byte> raw;
    REQUIRE(read_chunk(backend, packed.name, packed.entries[0], raw));
    auto r = read_chunk(backend, packed.name, packed.entries[1], raw);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().kind == ErrorKind::corrupt);
    CHECK(r.error().message.find(packed.entries[1].id.hex().substr(0, 16)) != std::string::npos);
  }
  SUBCASE("a flipped byte in the trailer") {
    const auto size = std::filesystem::file_size(file);
    flip_byte(file, size - 3);
    auto r = read_pack_index(backend, packed.name);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().kind == ErrorKind::corrupt);
    CHECK(r.error().message.find(packed.name) != std::string::npos);
  }
  SUBCASE("a truncated pack") {
    std::filesystem::resize_file(file, std::filesystem::file_size(file) - 100);
    auto r = read_pack_index(backend, packed.name);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().kind == ErrorKind::corrupt);
  }
  SUBCASE("an index whose sizes do not add up to the pack") {
    // stored_size of entry 0 lives at: index start + 8 + 32.
    const auto size = std::filesystem::file_size(file);
    const auto index_start = size - (8 + 2 * pack_entry_size + pack_trailer_size);
    flip_byte(file, index_start + 8 + 32);
    auto r = read_pack_index(backend, packed.name);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().message.find("accounts for") != std::string::npos);
  }
}

TEST_CASE("decode_pack_index refuses an absurd entry count instead of allocating for it") {
  std::string tail(pack_trailer_size, '\0');
  tail[0] = tail[1] = tail[2] = tail[3] = '\xff';
  tail[4] = static_cast<char>(pack_format_version);
  tail.replace(8, 8, "DBSNAPPK");
  auto r = decode_pack_index(tail, 1 << 20);
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().kind == ErrorKind::corrupt);
  auto empty = decode_pack_index(encode_pack_index({}), 8 + pack_trailer_size);
  REQUIRE(empty.has_value());
  CHECK(empty->empty());
}

TEST_CASE("a frame decompresses only to the size its index says") {
  auto compressor = pipeline::FrameCompressor::create(3);
  REQUIRE(compressor.has_value());
  auto frame = compressor->compress(test::as_bytes("hello hello hello"));
  REQUIRE(frame.has_value());
  const std::vector<std::byte> copy(frame->begin(), frame->end());
  std::vector<std::byte> out;
  CHECK(pipeline::decompress_frame(copy, 17, out).has_value());
  CHECK(out.size() == 17);
  CHECK(pipeline::decompress_frame(copy, 16, out).error().kind == ErrorKind::corrupt);
  CHECK_FALSE(pipeline::decompress_frame(pipeline::Bytes(copy).first(copy.size() - 1), 17, out).has_value());
}

}  // namespace dbsnap::store::repo

TEST_CASE("pack names: what dbsnap::store::repo::new_pack_name() makes, and nothing a target named 'data' keeps beside them") {
  for (int i = 0; i < 20; ++i) CHECK(dbsnap::store::repo::is_pack_name(dbsnap::store::repo::new_pack_name()));
  CHECK_FALSE(dbsnap::store::repo::is_pack_name("data/1m94agga7b5mb.json"));
  CHECK_FALSE(dbsnap::store::repo::is_pack_name("data/1m94agga7b5mb.sqlite.zst"));
  CHECK_FALSE(dbsnap::store::repo::is_pack_name("data/0a/1ad5560f968e1f88776386f99a96da94"));  // folder is not the name's start
  CHECK_FALSE(dbsnap::store::repo::is_pack_name("data/0a/0AD5560F968E1F88776386F99A96DA94"));
  CHECK_FALSE(dbsnap::store::repo::is_pack_name("data/0a/0ad5560f968e1f88776386f99a96da9"));
  CHECK(dbsnap::store::repo::is_pack_name("data/0a/0ad5560f968e1f88776386f99a96da94"));
}
