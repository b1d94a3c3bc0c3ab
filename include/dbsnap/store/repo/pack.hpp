#pragma once

// Pack files: where the repository keeps its chunks.
//
// A deduplicated snapshot is a list of chunks (pipeline::ChunkingSink cuts
// the dump where its content says, so an insert changes few chunks). Each
// distinct chunk is stored once, compressed into an independent zstd frame,
// and frames are gathered into pack objects of a few MiB, because one object
// per 64 KiB chunk would mean millions of files (or S3 requests).
//
// A pack is a valid zstd stream: its chunk frames, then an index in a zstd
// *skippable* frame, so `zstd -dc PACK` prints the chunks' contents in pack
// order and standard tools recover data without dbsnap (FORMAT.md, "Packs"):
//
//   frame*                       zstd frames, one per chunk (content size + checksum)
//   0x184D2A5D (u32 LE)          skippable-frame magic
//   N*40 + 16 (u32 LE)           its content size
//   N entries of 40 bytes:       chunk SHA-256 (32), stored (frame) size u32 LE, raw size u32 LE
//   N (u32 LE), version (u8 = 1), 3 zero bytes, "DBSNAPPK"
//
// Entries are in frame order: a chunk's offset is the sum of the sizes
// before it. The fixed 16-byte trailer lets a reader find the index with
// one ranged read from the end.
//
// The pack's object commit is its commit point: a pack is written whole
// or not at all (Backend guarantees), and its index is part of it.

#include <array>
#include <compare>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "dbsnap/pipeline/stream.hpp"
#include "dbsnap/store/backend.hpp"

namespace dbsnap::store::repo {

// A chunk's identity: the SHA-256 of its raw bytes.
struct ChunkId {
  std::array<std::uint8_t, 32> bytes{};
  std::string hex() const;
  // Parses 64 lowercase hex digits; `corrupt` error otherwise.
  static Expected<ChunkId> from_hex(std::string_view hex);
  // The SHA-256 of `data`; with a `key` (an encrypted repository's chunk
  // key, Backend::chunk_key()), its HMAC-SHA-256 under that key.
  static Expected<ChunkId> of(pipeline::Bytes data, std::string_view key = {});
  auto operator<=>(const ChunkId&) const = default;
};

// Where a chunk is inside its pack.
struct PackEntry {
  ChunkId id;
  std::uint64_t offset = 0;        // of its zstd frame in the pack
  std::uint32_t stored_size = 0;   // the frame's size
  std::uint32_t raw_size = 0;      // the chunk's size
};

inline constexpr std::uint8_t pack_format_version = 1;
inline constexpr std::size_t pack_entry_size = 40;
inline constexpr std::size_t pack_trailer_size = 16;

// Writes one pack object: add() frames, then commit() appends the index and
// publishes the object. Dropped before commit(): nothing is left.
class PackWriter {
 public:
  // Starts the object `name` on `backend`.
  static Expected<PackWriter> create(Backend& backend, std::string name);
  // Appends one chunk's zstd frame (`frame` compresses `raw_size` bytes whose SHA-256 is `id`).
  Expected<void> add(const ChunkId& id, pipeline::Bytes frame, std::uint32_t raw_size);
  // Writes the index and commits the object; returns its entries.
  Expected<std::vector<PackEntry>> commit();

  const std::string& name() const noexcept { return name_; }
  std::uint64_t size() const noexcept { return size_; }
  std::size_t count() const noexcept { return entries_.size(); }
  bool empty() const noexcept { return entries_.empty(); }

 private:
  PackWriter(std::string name, std::unique_ptr<ObjectWriter> writer)
      : name_(std::move(name)), writer_(std::move(writer)) {}
  std::string name_;
  std::unique_ptr<ObjectWriter> writer_;
  std::vector<PackEntry> entries_;
  std::uint64_t size_ = 0;
};

// The index bytes (skippable frame) for `entries`: what PackWriter appends.
std::string encode_pack_index(const std::vector<PackEntry>& entries);

// Parses the tail of a pack of `pack_size` bytes (`tail` holds at least its
// index and trailer, and ends where the pack ends). Errors: `corrupt`
// describing what does not add up.
Expected<std::vector<PackEntry>> decode_pack_index(std::string_view tail, std::uint64_t pack_size);

// Reads a pack's index with two ranged reads. Errors: the backend's, or
// `corrupt` naming the pack.
Expected<std::vector<PackEntry>> read_pack_index(const Backend& backend, std::string_view name);

// Reads one chunk: its frame, decompressed, checked against its id. Errors:
// the backend's, or `corrupt` naming the chunk and the pack.
Expected<void> read_chunk(const Backend& backend, std::string_view pack, const PackEntry& entry,
                          std::vector<std::byte>& raw);

// Decompresses a chunk's frame (read by the caller) into `raw` and checks it
// against its id. Errors: `corrupt` naming the chunk and the pack.
Expected<void> decode_chunk(const Backend& backend, std::string_view pack, const PackEntry& entry,
                            pipeline::Bytes frame, std::vector<std::byte>& raw);

// A new pack's object name: "data/<2 hex>/<32 hex>", random.
std::string new_pack_name();
// True for a name new_pack_name() could have made. Other objects under
// "data/" (the snapshots of a target named "data" share its folder in a local
// store) are never taken for packs.
bool is_pack_name(std::string_view name);

}  // namespace dbsnap::store::repo
