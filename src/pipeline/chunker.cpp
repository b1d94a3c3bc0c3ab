#include "dbsnap/pipeline/chunker.hpp"

#include <bit>
#include <cassert>
#include <cstring>

namespace dbsnap::pipeline {

namespace {

std::uint64_t splitmix64(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// The top `bits` bits of a 64-bit word: they depend on the last 64 bytes hashed.
std::uint64_t top_bits(unsigned bits) { return bits == 0 ? 0 : ~std::uint64_t{0} << (64 - bits); }

}  // namespace

Expected<void> check_chunker_params(const ChunkerParams& p) {
  if (!std::has_single_bit(p.normal_size) || p.normal_size < 256 || p.normal_size > (16u << 20)) {
    return make_error(ErrorKind::usage, "chunk size {} is not a power of two between 256 B and 16 MiB",
                      p.normal_size);
  }
  if (p.min_size > p.normal_size || p.normal_size > p.max_size || p.max_size > (64u << 20)) {
    return make_error(ErrorKind::usage, "chunk sizes must satisfy min {} <= normal {} <= max {} <= 64 MiB",
                      p.min_size, p.normal_size, p.max_size);
  }
  return {};
}

Chunker::Chunker(const ChunkerParams& params) : params_(params) {
  assert(check_chunker_params(params));
  const auto bits = static_cast<unsigned>(std::countr_zero(params.normal_size));
  // Normalized chunking, level 2: cuts 4x less likely before normal_size, 4x more likely after.
  mask_hard_ = top_bits(bits + 2);
  mask_easy_ = top_bits(bits > 2 ? bits - 2 : 1);
  std::uint64_t state = params.gear_seed;
  for (auto& g : gear_) g = splitmix64(state);
}

std::size_t Chunker::cut(Bytes data) const noexcept {
  std::size_t n = std::min(data.size(), params_.max_size);
  if (n <= params_.min_size) return n;
  const std::size_t normal = std::min(n, params_.normal_size);
  const auto* p = reinterpret_cast<const unsigned char*>(data.data());
  std::uint64_t h = 0;
  std::size_t i = params_.min_size;
  for (; i < normal; ++i) {
    h = (h << 1) + gear_[p[i]];
    if ((h & mask_hard_) == 0) return i + 1;
  }
  for (; i < n; ++i) {
    h = (h << 1) + gear_[p[i]];
    if ((h & mask_easy_) == 0) return i + 1;
  }
  return n;
}

ChunkingSink::ChunkingSink(const ChunkerParams& params, OnChunk on_chunk)
    : chunker_(params), on_chunk_(std::move(on_chunk)), buffer_(2 * params.max_size) {}

Expected<void> ChunkingSink::emit(bool at_end) {
  const std::size_t max = chunker_.params().max_size;
  while (end_ > start_ && (at_end || end_ - start_ >= max)) {
    const Bytes pending(buffer_.data() + start_, end_ - start_);
    const std::size_t length = chunker_.cut(pending);
    if (auto r = on_chunk_(pending.first(length)); !r) return r;
    ++chunks_;
    start_ += length;
  }
  // Keep what is left at the buffer's front, so that max_size more bytes always fit.
  if (start_ > 0) {
    std::memmove(buffer_.data(), buffer_.data() + start_, end_ - start_);
    end_ -= start_;
    start_ = 0;
  }
  return {};
}

Expected<void> ChunkingSink::write(Bytes data) {
  if (finished_) return make_error(ErrorKind::failure, "chunker: write after finish");
  while (!data.empty()) {
    const std::size_t room = buffer_.size() - end_;
    const std::size_t n = std::min(room, data.size());
    std::memcpy(buffer_.data() + end_, data.data(), n);
    end_ += n;
    data = data.subspan(n);
    if (auto r = emit(false); !r) return r;
  }
  return {};
}

Expected<void> ChunkingSink::finish() {
  if (finished_) return {};
  finished_ = true;
  return emit(true);
}

}  // namespace dbsnap::pipeline
