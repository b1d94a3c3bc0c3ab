#pragma once

#include <memory>
#include <vector>

#include "dbsnap/pipeline/stream.hpp"

namespace dbsnap::pipeline {

// Compression settings. `workers` > 0 runs zstd's own worker threads
// (ZSTD_c_nbWorkers), which helps when input arrives faster than one core
// compresses. Each worker buffers about two jobs, so the job size bounds
// memory: 2 MiB jobs keep two workers near 16 MB (zstd's default for level 3
// would be about 45 MB).
struct ZstdOptions {
  int level = 3;
  int workers = 0;
  int job_size = 2 << 20;
};

// The zstd levels accepted by --level.
int zstd_min_level();
int zstd_max_level();

// Compresses everything written through it into one zstd frame (with a
// content checksum) and forwards the compressed bytes. Memory stays bounded
// by zstd's window and the fixed output buffer.
class CompressingSink final : public Sink {
 public:
  static Expected<std::unique_ptr<CompressingSink>> create(Sink& next, ZstdOptions options);
  ~CompressingSink() override;
  Expected<void> write(Bytes data) override;
  Expected<void> finish() override;

 private:
  struct State;
  CompressingSink(std::unique_ptr<State> state, Sink& next);
  std::unique_ptr<State> state_;
  Sink& next_;
};

// Decompresses zstd data written through it and forwards the plain bytes.
// finish() fails when the input stopped inside a frame (a truncated file)
// and when it held no frame at all.
class DecompressingSink final : public Sink {
 public:
  static Expected<std::unique_ptr<DecompressingSink>> create(Sink& next);
  ~DecompressingSink() override;
  Expected<void> write(Bytes data) override;
  Expected<void> finish() override;

 private:
  struct State;
  DecompressingSink(std::unique_ptr<State> state, Sink& next);
  std::unique_ptr<State> state_;
  Sink& next_;
};

// Compresses whole buffers, each into one independent zstd frame that
// records its content size and a checksum (the repository's chunks). Keeps
// one compression context across calls.
class FrameCompressor {
 public:
  static Expected<FrameCompressor> create(int level);
  FrameCompressor(FrameCompressor&&) noexcept;
  FrameCompressor& operator=(FrameCompressor&&) noexcept;
  ~FrameCompressor();
  // The frame for `data`, in a buffer reused by the next call.
  Expected<Bytes> compress(Bytes data);

 private:
  struct State;
  explicit FrameCompressor(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

// Decompresses one whole frame written by FrameCompressor into `out`
// (resized to its content). Errors: `corrupt` when `frame` is not exactly
// one valid frame whose content is `expected_size` bytes.
Expected<void> decompress_frame(Bytes frame, std::size_t expected_size, std::vector<std::byte>& out);

}  // namespace dbsnap::pipeline
