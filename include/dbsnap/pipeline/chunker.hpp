#pragma once

// Content-defined chunking (FastCDC, Xia et al., USENIX ATC 2016), the
// first stage of deduplication (issue: Repository v2).
//
// A Gear rolling hash, h = (h << 1) + gear[byte], runs over the stream from
// each chunk's start; a chunk ends after the first byte at which the top bits
// of h are all zero. Where a cut falls depends only on the bytes just before
// it (the 64 last ones shape h), so an insert or an update moves the cuts
// near it and nowhere else: the chunks of an unchanged region come out the
// same in every snapshot, whatever moved before them. FastCDC's refinements:
// no cut before `min_size` (and no hashing there), a harder condition (more
// bits) before `normal_size` and an easier one after it ("normalized
// chunking", level 2), which narrows the size spread around `normal_size`,
// and a forced cut at `max_size`.
//
// The gear table is made from a 64-bit seed (splitmix64). Seed 0 is the
// public table every unkeyed repository uses; an encrypted repository will
// derive its seed from its key, so that chunk sizes reveal nothing of the
// content. Cut points depend only on the bytes and the parameters, never on
// how the stream was split into write() calls.

#include <array>
#include <cstdint>
#include <functional>
#include <vector>

#include "dbsnap/pipeline/stream.hpp"

namespace dbsnap::pipeline {

struct ChunkerParams {
  std::size_t min_size = 16 * 1024;
  std::size_t normal_size = 64 * 1024;  // a power of two
  std::size_t max_size = 256 * 1024;
  std::uint64_t gear_seed = 0;
};

// Checks min_size <= normal_size <= max_size, normal_size a power of two
// between 256 B and 16 MiB, max_size at most 64 MiB. `usage` error otherwise.
Expected<void> check_chunker_params(const ChunkerParams& params);

// The cut-point finder over a buffer, without state between calls.
class Chunker {
 public:
  // `params` must pass check_chunker_params (asserted).
  explicit Chunker(const ChunkerParams& params);

  // The length of the chunk that starts at data[0]: the first cut point, or
  // data.size() when there is none before it (the caller decides whether
  // that is a cut: at the stream's end, or when data.size() >= max_size).
  // Never more than max_size.
  std::size_t cut(Bytes data) const noexcept;

  const ChunkerParams& params() const noexcept { return params_; }

 private:
  ChunkerParams params_;
  std::uint64_t mask_hard_ = 0;  // before normal_size
  std::uint64_t mask_easy_ = 0;  // from normal_size on
  std::array<std::uint64_t, 256> gear_{};
};

// A Sink that cuts what it is given into content-defined chunks and hands
// each to `on_chunk`, in order; finish() hands over the last (possibly
// shorter than min_size, never empty) chunk and then returns. Memory: one
// buffer of 2 x max_size. An error from `on_chunk` is returned by the
// write() or finish() that produced the chunk.
class ChunkingSink final : public Sink {
 public:
  using OnChunk = std::function<Expected<void>(Bytes chunk)>;
  ChunkingSink(const ChunkerParams& params, OnChunk on_chunk);

  Expected<void> write(Bytes data) override;
  Expected<void> finish() override;

  std::uint64_t chunks() const noexcept { return chunks_; }

 private:
  // Emits every chunk whose end is decided: all while the buffer holds at
  // least max_size bytes, and everything at the end.
  Expected<void> emit(bool at_end);

  Chunker chunker_;
  OnChunk on_chunk_;
  std::vector<std::byte> buffer_;
  std::size_t start_ = 0;  // first unemitted byte in buffer_
  std::size_t end_ = 0;    // one past the last buffered byte
  std::uint64_t chunks_ = 0;
  bool finished_ = false;
};

}  // namespace dbsnap::pipeline
