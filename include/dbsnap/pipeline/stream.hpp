#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "dbsnap/util/error.hpp"

namespace dbsnap::pipeline {

using Bytes = std::span<const std::byte>;
using MutableBytes = std::span<std::byte>;

// A text's bytes, for a Sink; a string's bytes, for a Source to fill.
inline Bytes bytes_of(std::string_view text) {
  return Bytes(reinterpret_cast<const std::byte*>(text.data()), text.size());
}
inline MutableBytes mutable_bytes_of(std::string& text) {
  return MutableBytes(reinterpret_cast<std::byte*>(text.data()), text.size());
}

// The chunk size every stage moves at a time. Peak memory is a small multiple
// of it (plus zstd's own window), whatever the size of the dump.
inline constexpr std::size_t chunk_size = 256 * 1024;

// Where bytes come from: a file, a process's stdout. read() fills up to
// `buffer.size()` bytes and returns how many; 0 means a clean end of stream.
class Source {
 public:
  virtual ~Source() = default;
  virtual Expected<std::size_t> read(MutableBytes buffer) = 0;
};

// Where bytes go. A sink may transform and forward (hashing, compressing);
// finish() flushes and cascades to the next stage, and must be called once
// after the last write for the output to be complete.
class Sink {
 public:
  virtual ~Sink() = default;
  virtual Expected<void> write(Bytes data) = 0;
  virtual Expected<void> finish() = 0;
};

// Reads from a file descriptor it does not own. Returns an `interrupted`
// error when a SIGINT/SIGTERM arrives while it waits.
class FdSource final : public Source {
 public:
  explicit FdSource(int fd) : fd_(fd) {}
  Expected<std::size_t> read(MutableBytes buffer) override;

 private:
  int fd_;
};

// Writes to a file descriptor it does not own; finish() does nothing (the
// owner fsyncs or closes). ENOSPC and EPIPE come back as errors.
class FdSink final : public Sink {
 public:
  // `name`, when given, is the file the errors name (the fd's own path may be a temp file's).
  explicit FdSink(int fd, std::string name = {}) : fd_(fd), name_(std::move(name)) {}
  Expected<void> write(Bytes data) override;
  Expected<void> finish() override { return {}; }

 private:
  int fd_;
  std::string name_;
};

// Counts bytes and forwards them.
class CountingSink final : public Sink {
 public:
  explicit CountingSink(Sink& next) : next_(next) {}
  Expected<void> write(Bytes data) override {
    count_ += data.size();
    return next_.write(data);
  }
  Expected<void> finish() override { return next_.finish(); }
  std::uint64_t count() const noexcept { return count_; }

 private:
  Sink& next_;
  std::uint64_t count_ = 0;
};

// Discards everything (verify decodes into it).
class NullSink final : public Sink {
 public:
  Expected<void> write(Bytes) override { return {}; }
  Expected<void> finish() override { return {}; }
};

// Copies a source into a sink chunk by chunk until the source ends, then
// calls sink.finish(). Polls for SIGINT/SIGTERM between chunks. Returns the
// number of bytes moved.
Expected<std::uint64_t> pump(Source& source, Sink& sink);

// Reads `source` to its end into memory (manifests, headers, key objects).
// Errors: the source's, and `corrupt` once it passes `limit` bytes.
Expected<std::string> read_all(Source& source, std::uint64_t limit);

}  // namespace dbsnap::pipeline
