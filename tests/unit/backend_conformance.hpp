#pragma once

// The conformance suite every store::Backend passes (restic's backend test
// suite is the model). A backend's test file calls
// check_backend_conformance() with a factory that gives a fresh, empty
// backend each time.

#include <functional>
#include <memory>
#include <string>

#include <doctest/doctest.h>

#include "dbsnap/store/backend.hpp"
#include "helpers.hpp"

namespace dbsnap::test {

inline std::string read_all(pipeline::Source& source) {
  std::string text;
  std::array<std::byte, 7919> buffer;  // an odd size, so reads never line up with writes
  for (;;) {
    auto n = source.read(buffer);
    REQUIRE_MESSAGE(n.has_value(), n.error().message);
    if (*n == 0) return text;
    text.append(reinterpret_cast<const char*>(buffer.data()), *n);
  }
}

inline std::string read_object_text(const store::Backend& backend, std::string_view name, std::uint64_t offset = 0,
                                    std::optional<std::uint64_t> length = {}) {
  auto source = backend.open(name, offset, length);
  REQUIRE_MESSAGE(source.has_value(), source.error().message);
  return read_all(**source);
}

inline std::vector<std::string> names(const store::Backend& backend, std::string_view prefix = {}) {
  auto listed = backend.list(prefix);
  REQUIRE_MESSAGE(listed.has_value(), listed.error().message);
  std::vector<std::string> out;
  for (const auto& info : *listed) out.push_back(info.name);
  return out;
}

inline std::string pattern_bytes(std::size_t size, unsigned seed) {
  std::string text(size, '\0');
  std::uint32_t x = seed * 2654435761u + 1;
  for (auto& c : text) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    c = static_cast<char>(x & 0xff);
  }
  return text;
}

inline void write_in_pieces(store::ObjectWriter& writer, const std::string& text, std::size_t piece) {
  for (std::size_t at = 0; at < text.size(); at += piece) {
    const auto n = std::min(piece, text.size() - at);
    auto r = writer.write(pipeline::Bytes(reinterpret_cast<const std::byte*>(text.data() + at), n));
    REQUIRE_MESSAGE(r.has_value(), r.error().message);
  }
}

inline void check_backend_conformance(const std::function<std::unique_ptr<store::Backend>()>& make) {
  using store::IfExists;
  SUBCASE("a committed object reads back whole, and stat gives its size") {
    auto backend = make();
    const std::string big = pattern_bytes(3 * 1024 * 1024 + 17, 1);
    auto writer = backend->create("data/ab/big");
    REQUIRE(writer.has_value());
    write_in_pieces(**writer, big, 65536 + 3);
    REQUIRE((*writer)->finish().has_value());
    REQUIRE((*writer)->commit().has_value());
    CHECK(read_object_text(*backend, "data/ab/big") == big);
    auto info = backend->stat("data/ab/big");
    REQUIRE(info.has_value());
    CHECK(info->size == big.size());
    CHECK(info->name == "data/ab/big");
    REQUIRE(store::write_object(*backend, "empty", "").has_value());
    CHECK(read_object_text(*backend, "empty").empty());
    CHECK(backend->stat("empty")->size == 0);
  }
  SUBCASE("an object is invisible until its commit; dropping the writer leaves nothing") {
    auto backend = make();
    {
      auto writer = backend->create("snap/one");
      REQUIRE(writer.has_value());
      write_in_pieces(**writer, "half written", 4);
      CHECK(names(*backend).empty());
      CHECK(backend->stat("snap/one").error().kind == ErrorKind::not_found);
      CHECK(backend->open("snap/one").error().kind == ErrorKind::not_found);
    }  // dropped: aborted
    CHECK(names(*backend).empty());
    CHECK(backend->stat("snap/one").error().kind == ErrorKind::not_found);
    auto writer = backend->create("snap/one");
    REQUIRE(writer.has_value());
    write_in_pieces(**writer, "whole", 2);
    CHECK(names(*backend).empty());
    REQUIRE((*writer)->commit().has_value());
    CHECK(names(*backend) == std::vector<std::string>{"snap/one"});
    CHECK(read_object_text(*backend, "snap/one") == "whole");
  }
  SUBCASE("replace and fail-if-exists") {
    auto backend = make();
    REQUIRE(store::write_object(*backend, "m/x.json", "first").has_value());
    REQUIRE(store::write_object(*backend, "m/x.json", "second, longer").has_value());
    CHECK(read_object_text(*backend, "m/x.json") == "second, longer");
    auto refused = store::write_object(*backend, "m/x.json", "third", IfExists::fail);
    REQUIRE_FALSE(refused.has_value());
    CHECK(refused.error().kind == ErrorKind::refused);
    CHECK(read_object_text(*backend, "m/x.json") == "second, longer");
    CHECK(names(*backend) == std::vector<std::string>{"m/x.json"});
    // fail-if-exists on a new name just writes it
    REQUIRE(store::write_object(*backend, "m/y.json", "new", IfExists::fail).has_value());
    CHECK(read_object_text(*backend, "m/y.json") == "new");
  }
  SUBCASE("list gives a version that changes when an object is written again") {
    auto backend = make();
    auto version = [&](const std::string& name) {
      auto listed = backend->list(name);
      REQUIRE(listed.has_value());
      REQUIRE(listed->size() == 1);
      return listed->front().version;
    };
    REQUIRE(store::write_object(*backend, "t/v.json", "{\"status\": \"complete\"}").has_value());
    const std::string first = version("t/v.json");
    CHECK_FALSE(first.empty());
    CHECK(version("t/v.json") == first);  // stable while nothing changes
    REQUIRE(store::write_object(*backend, "t/v.json", "{\"status\": \"verified\"}").has_value());  // same size
    CHECK(version("t/v.json") != first);
  }
  SUBCASE("a reader of the old object keeps reading it while it is replaced") {
    auto backend = make();
    const std::string old_text = pattern_bytes(200000, 2);
    REQUIRE(store::write_object(*backend, "pack", old_text).has_value());
    auto source = backend->open("pack");
    REQUIRE(source.has_value());
    REQUIRE(store::write_object(*backend, "pack", "new").has_value());
    CHECK(read_all(**source) == old_text);
    CHECK(read_object_text(*backend, "pack") == "new");
  }
  SUBCASE("list is sorted, filtered by a plain prefix, and follows removals") {
    auto backend = make();
    for (const char* name : {"t/b", "t/a", "t2", "data/01/x", "data/00/y", "data/00/z", "index"}) {
      REQUIRE(store::write_object(*backend, name, name).has_value());
    }
    CHECK(names(*backend) ==
          std::vector<std::string>{"data/00/y", "data/00/z", "data/01/x", "index", "t/a", "t/b", "t2"});
    CHECK(names(*backend, "t") == std::vector<std::string>{"t/a", "t/b", "t2"});
    CHECK(names(*backend, "t/") == std::vector<std::string>{"t/a", "t/b"});
    CHECK(names(*backend, "data/0") == std::vector<std::string>{"data/00/y", "data/00/z", "data/01/x"});
    CHECK(names(*backend, "data/00/z") == std::vector<std::string>{"data/00/z"});
    CHECK(names(*backend, "nothing").empty());
    auto listed = backend->list("t/");
    REQUIRE(listed.has_value());
    CHECK((*listed)[0].size == 3);
    REQUIRE(backend->remove("t/a").has_value());
    REQUIRE(backend->remove("data/00/y").has_value());
    CHECK(names(*backend) == std::vector<std::string>{"data/00/z", "data/01/x", "index", "t/b", "t2"});
    CHECK(backend->stat("t/a").error().kind == ErrorKind::not_found);
    CHECK(backend->open("t/a").error().kind == ErrorKind::not_found);
    auto again = backend->remove("t/a");
    REQUIRE_FALSE(again.has_value());
    CHECK(again.error().kind == ErrorKind::not_found);
    CHECK(backend->remove("never/there").error().kind == ErrorKind::not_found);
  }
  SUBCASE("ranged reads") {
    auto backend = make();
    const std::string text = pattern_bytes(1 << 20, 3);
    REQUIRE(store::write_object(*backend, "r", text).has_value());
    CHECK(read_object_text(*backend, "r", 0, 10) == text.substr(0, 10));
    CHECK(read_object_text(*backend, "r", 12345, 300000) == text.substr(12345, 300000));
    CHECK(read_object_text(*backend, "r", text.size() - 5) == text.substr(text.size() - 5));
    CHECK(read_object_text(*backend, "r", text.size()).empty());
    CHECK(read_object_text(*backend, "r", 100, 0).empty());
    auto past = backend->open("r", text.size() - 5, 6);
    if (past.has_value()) {
      // A backend may only find out while reading: then the read fails.
      std::array<std::byte, 64> buffer;
      Expected<std::size_t> n = std::size_t{1};
      std::size_t got = 0;
      while (n && *n > 0) {
        n = (*past)->read(buffer);
        if (n) got += *n;
      }
      CHECK_FALSE(n.has_value());
      CHECK(got <= 5);
    } else {
      CHECK(past.error().kind == ErrorKind::corrupt);
    }
    auto beyond = backend->open("r", text.size() + 1);
    CHECK_FALSE(beyond.has_value());
  }
  SUBCASE("names that are rejected, on every operation") {
    auto backend = make();
    for (const char* bad : {"", "/abs", "a//b", "a/", "../up", "a/../b", "./a", ".hidden", "a/.tmp", "a b",
                            "a\nb", "a\\b", "caf\xc3\xa9", "a:b", "*"}) {
      CAPTURE(bad);
      auto created = backend->create(bad);
      REQUIRE_FALSE(created.has_value());
      CHECK(created.error().kind == ErrorKind::usage);
      CHECK(backend->open(bad).error().kind == ErrorKind::usage);
      CHECK(backend->stat(bad).error().kind == ErrorKind::usage);
      CHECK(backend->remove(bad).error().kind == ErrorKind::usage);
    }
    CHECK(backend->create(std::string(201, 'a')).error().kind == ErrorKind::usage);
    std::string longest;  // 1024 characters: five components of 200 and a last one of 19
    for (int i = 0; i < 5; ++i) longest += std::string(200, static_cast<char>('a' + i)) + "/";
    longest += std::string(19, 'z');
    REQUIRE(longest.size() == 1024);
    CHECK(backend->create(longest + "z").error().kind == ErrorKind::usage);
    CHECK(store::write_object(*backend, longest, "x").has_value());
    CHECK(names(*backend) == std::vector<std::string>{longest});
  }
  SUBCASE("read_object refuses objects above its limit") {
    auto backend = make();
    REQUIRE(store::write_object(*backend, "m", std::string(100, 'x')).has_value());
    CHECK(store::read_object(*backend, "m", 100).value() == std::string(100, 'x'));
    CHECK(store::read_object(*backend, "m", 99).error().kind == ErrorKind::corrupt);
    CHECK(store::read_object(*backend, "none").error().kind == ErrorKind::not_found);
  }
}

}  // namespace dbsnap::test
