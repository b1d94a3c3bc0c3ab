#include "dbsnap/pipeline/sha256.hpp"
#include "helpers.hpp"

using namespace dbsnap;
using dbsnap::test::as_bytes;

TEST_CASE("sha256 matches the FIPS 180-2 known vectors") {
  CHECK(*pipeline::sha256_hex(as_bytes("")) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(*pipeline::sha256_hex(as_bytes("abc")) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(*pipeline::sha256_hex(as_bytes("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")) ==
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST_CASE("sha256 of one million 'a' fed in uneven pieces") {
  auto hasher = pipeline::Sha256::create();
  REQUIRE(hasher);
  std::string piece(7919, 'a');
  std::size_t left = 1'000'000;
  while (left > 0) {
    std::size_t n = std::min(left, piece.size());
    REQUIRE(hasher->update(as_bytes(piece.substr(0, n))));
    left -= n;
  }
  CHECK(*hasher->finish_hex() == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST_CASE("HashingSink forwards unchanged and counts") {
  test::StringSink out;
  auto sink = pipeline::HashingSink::create(out);
  REQUIRE(sink);
  REQUIRE(sink->write(as_bytes("ab")));
  REQUIRE(sink->write(as_bytes("c")));
  REQUIRE(sink->finish());
  CHECK(out.text == "abc");
  CHECK(out.finished == 1);
  CHECK(sink->count() == 3);
  CHECK(sink->digest() == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}
