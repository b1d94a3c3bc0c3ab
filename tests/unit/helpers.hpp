#pragma once

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "dbsnap/pipeline/stream.hpp"

namespace dbsnap::test {

// A fresh temp folder removed at scope exit.
struct TempDir {
  std::filesystem::path path;
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "dbsnap-unit-XXXXXX").string();
    REQUIRE(::mkdtemp(pattern.data()) != nullptr);
    path = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

// Collects everything written into a string.
class StringSink final : public pipeline::Sink {
 public:
  Expected<void> write(pipeline::Bytes data) override {
    text.append(reinterpret_cast<const char*>(data.data()), data.size());
    return {};
  }
  Expected<void> finish() override {
    ++finished;
    return {};
  }
  std::string text;
  int finished = 0;
};

// Serves a string in reads of at most `step` bytes.
class StringSource final : public pipeline::Source {
 public:
  StringSource(std::string text, std::size_t step = 1 << 20) : text_(std::move(text)), step_(step) {}
  Expected<std::size_t> read(pipeline::MutableBytes buffer) override {
    std::size_t n = std::min({buffer.size(), step_, text_.size() - pos_});
    std::memcpy(buffer.data(), text_.data() + pos_, n);
    pos_ += n;
    return n;
  }

 private:
  std::string text_;
  std::size_t step_;
  std::size_t pos_ = 0;
};

inline pipeline::Bytes as_bytes(const std::string& s) {
  return pipeline::Bytes(reinterpret_cast<const std::byte*>(s.data()), s.size());
}

// Deterministic test data: random bytes mixed with repetitive text.
inline std::string make_data(std::size_t size, unsigned seed = 42) {
  std::mt19937 rng(seed);
  std::string out;
  out.reserve(size);
  while (out.size() < size) {
    if (rng() % 2) {
      out += "INSERT INTO t VALUES (42, 'some repetitive text');\n";
    } else {
      for (int i = 0; i < 64; ++i) out.push_back(static_cast<char>(rng() & 0xff));
    }
  }
  out.resize(size);
  return out;
}

// The standard output of a shell command line (test-written, never from input), which must exit 0:
// how the unit tests run Debian's age and age-keygen.
inline std::string run_shell(const std::string& command) {
  std::string out;
  FILE* p = ::popen(command.c_str(), "r");
  REQUIRE(p != nullptr);
  char buf[4096];
  while (std::size_t n = std::fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  REQUIRE_MESSAGE(::pclose(p) == 0, command);
  return out;
}

}  // namespace dbsnap::test
