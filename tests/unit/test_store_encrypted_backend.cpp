// The encrypted backend (store/encrypted/) over a local folder: the backend
// conformance suite, ranges across age's 64 KiB chunks, the sizes list()
// derives without reads, objects that Debian's `age` opens with the
// repository's identity, tampering, and keyed chunk ids.

#include <cstdio>
#include <fstream>

#include "backend_conformance.hpp"
#include "dbsnap/crypto/age.hpp"
#include "dbsnap/store/encrypted/encrypted_backend.hpp"
#include "dbsnap/store/local/local_backend.hpp"
#include "dbsnap/store/repo/pack.hpp"

namespace dbsnap::store::encrypted {

namespace {

RepositoryKey new_key() { return {crypto::age::generate_identity(), std::string(32, 'k')}; }

struct Folder {
  test::TempDir dir;
  RepositoryKey key = new_key();
  EncryptedBackend backend{std::make_unique<local::LocalBackend>(dir.path, BackendAccess::write), key};
  local::LocalBackend plain{dir.path, BackendAccess::write};
};

std::string run(const std::string& command) { return dbsnap::test::run_shell(command); }

}  // namespace

TEST_CASE("encrypted backend: the backend conformance suite, over a local folder") {
  std::vector<std::unique_ptr<test::TempDir>> dirs;
  test::check_backend_conformance([&] {
    dirs.push_back(std::make_unique<test::TempDir>());
    return std::make_unique<EncryptedBackend>(
        std::make_unique<local::LocalBackend>(dirs.back()->path, BackendAccess::write), new_key());
  });
}

TEST_CASE("encrypted backend: ranges across chunk edges, sizes without reads, nothing in the clear") {
  Folder f;
  const std::string data = test::make_data(3 * 65536 + 777, 5);
  REQUIRE(write_object(f.backend, "data/ab/pack", data).has_value());
  CHECK(f.backend.stat("data/ab/pack").value().size == data.size());
  CHECK(f.backend.list("data/").value().at(0).size == data.size());
  const auto sealed = f.plain.stat("data/ab/pack").value().size;
  CHECK(sealed == crypto::age::sealed_size(object_payload_offset, data.size()));
  const std::string raw = test::read_object_text(f.plain, "data/ab/pack");
  CHECK(raw.starts_with("age-encryption.org/v1\n-> X25519 "));
  CHECK(raw.find(data.substr(1000, 64)) == std::string::npos);
  for (auto [offset, length] : std::vector<std::pair<std::uint64_t, std::uint64_t>>{
           {0, 1}, {65535, 2}, {65536, 65536}, {100, 3 * 65536}, {data.size() - 1, 1}, {131000, 777}, {5, 0}}) {
    CAPTURE(offset);
    CAPTURE(length);
    CHECK(test::read_object_text(f.backend, "data/ab/pack", offset, length) == data.substr(offset, length));
  }
  CHECK(test::read_object_text(f.backend, "data/ab/pack", 65536) == data.substr(65536));
  CHECK(f.backend.open("data/ab/pack", data.size() - 1, 2).error().kind == ErrorKind::corrupt);
  for (std::uint64_t size : {0ull, 1ull, 65535ull, 65536ull, 65537ull, 131072ull}) {
    CHECK(crypto::age::plain_size(184, crypto::age::sealed_size(184, size)) == size);
  }
  CHECK_FALSE(crypto::age::plain_size(184, 184 + 10).has_value());
  CHECK_FALSE(crypto::age::plain_size(184, 184 + 65552 + 16).has_value());  // an empty chunk after a full one
}

TEST_CASE("encrypted backend: Debian's age opens every object with the repository's identity") {
  Folder f;
  const std::string text = test::make_data(200'000, 9);
  REQUIRE(write_object(f.backend, "dev/1m96egg0113xf.json", text).has_value());
  const auto identity = f.dir.path / "repository.key";
  std::ofstream(identity) << crypto::age::format_identity(f.key.identity) << "\n";
  const auto decrypted = run("age -d -i " + identity.string() + " " + (f.dir.path / "dev/1m96egg0113xf.json").string());
  CHECK(decrypted == text);
}

TEST_CASE("encrypted backend: an altered byte, a swapped object or another repository's key never reads") {
  Folder f;
  const std::string data = test::make_data(150'000, 3);
  REQUIRE(write_object(f.backend, "data/aa/one", data).has_value());
  REQUIRE(write_object(f.backend, "data/aa/two", test::make_data(150'000, 4)).has_value());
  SUBCASE("a flipped byte in the second chunk: that range fails, the first chunk still reads") {
    std::string raw = test::read_object_text(f.plain, "data/aa/one");
    raw[object_payload_offset + 65552 + 10] ^= 1;
    REQUIRE(write_object(f.plain, "data/aa/one", raw).has_value());
    EncryptedBackend fresh(std::make_unique<local::LocalBackend>(f.dir.path, BackendAccess::write), f.key);
    CHECK(test::read_object_text(fresh, "data/aa/one", 0, 1000) == data.substr(0, 1000));
    auto source = fresh.open("data/aa/one", 70000, 100);
    REQUIRE(source.has_value());
    std::array<std::byte, 100> buffer;
    auto n = (*source)->read(buffer);
    REQUIRE_FALSE(n.has_value());
    CHECK(n.error().kind == ErrorKind::corrupt);
    CHECK(n.error().message.find("does not authenticate") != std::string::npos);
  }
  SUBCASE("one object's bytes under another's name: its chunks open, but not as that object's last chunk") {
    // age binds chunks to their position, not to a name: the swap is caught by the repository's
    // own checks (the pack index's ids, the keyed chunk ids), which this file does not test.
    const std::string other = test::read_object_text(f.plain, "data/aa/two");
    REQUIRE(write_object(f.plain, "data/aa/one", other).has_value());
    EncryptedBackend fresh(std::make_unique<local::LocalBackend>(f.dir.path, BackendAccess::write), f.key);
    CHECK(test::read_object_text(fresh, "data/aa/one") != data);
  }
  SUBCASE("another repository's key: not an object of this repository") {
    EncryptedBackend stranger(std::make_unique<local::LocalBackend>(f.dir.path, BackendAccess::write), new_key());
    auto whole = stranger.open("data/aa/one");
    REQUIRE_FALSE(whole.has_value());
    CHECK(whole.error().kind == ErrorKind::corrupt);
    auto ranged = stranger.open("data/aa/one", 10, 10);
    REQUIRE_FALSE(ranged.has_value());
    CHECK(ranged.error().kind == ErrorKind::corrupt);
  }
}

TEST_CASE("encrypted backend: chunk ids are keyed") {
  Folder f;
  const std::string chunk = "the same chunk";
  auto plain_id = repo::ChunkId::of(test::as_bytes(chunk));
  auto keyed = repo::ChunkId::of(test::as_bytes(chunk), f.backend.chunk_key());
  auto other = repo::ChunkId::of(test::as_bytes(chunk), std::string(32, 'x'));
  REQUIRE(plain_id.has_value());
  REQUIRE(keyed.has_value());
  CHECK(*plain_id != *keyed);
  CHECK(*keyed != *other);
  CHECK(f.plain.chunk_key().empty());
  CHECK(f.backend.chunk_key() == std::string(32, 'k'));
}

}  // namespace dbsnap::store::encrypted
