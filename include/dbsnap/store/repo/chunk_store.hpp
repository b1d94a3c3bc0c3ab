#pragma once

// The deduplicating chunk layer: what a repository snapshot is made of.
//
// put() takes a chunk (pipeline::ChunkingSink cuts them), skips it when the
// repository already holds it (the chunk index, or the pack being written),
// else compresses it into its own zstd frame and appends it to the open
// pack. A pack is committed, then indexed, once it reaches its target size
// and at flush(). Nothing refers to a chunk before flush() returned: a
// snapshot's manifest, which lists its chunks, is published after it.
//
// A full pack is committed on a thread of its own while the next one fills
// (one at a time: the next full pack waits for it): over S3 a commit waits
// for the last part's upload and the completion, which would otherwise stall
// the whole backup, and with it the dump tool, once per pack. It is indexed
// by the thread that put the chunks, when the next commit starts or at
// flush()/settle(); a kill meanwhile leaves a committed pack the index does
// not know, as a kill between commit and index always could (repo::reconcile
// finds it).
//
// ChunkReader streams a list of chunks back in order, each checked against
// its SHA-256 before a byte of it leaves; chunks that follow each other in a
// pack (a snapshot's new chunks do) are read with one sequential read.
// Memory is one chunk plus one frame, whatever the snapshot's size.

#include <cstdint>
#include <future>
#include <memory>
#include <optional>
#include <set>
#include <vector>

#include "dbsnap/pipeline/stream.hpp"
#include "dbsnap/pipeline/zstd.hpp"
#include "dbsnap/store/backend.hpp"
#include "dbsnap/store/repo/chunk_index.hpp"
#include "dbsnap/store/repo/pack.hpp"

namespace dbsnap::store::repo {

struct ChunkStoreOptions {
  std::uint64_t pack_size = 16 << 20;  // a pack is committed once it holds this many bytes
  int level = 3;                       // zstd level of the chunk frames
};

// What put() did so far.
struct ChunkStoreStats {
  std::uint64_t chunks = 0;         // chunks put
  std::uint64_t new_chunks = 0;     // of them, stored (the rest were in the repository)
  std::uint64_t raw_bytes = 0;      // bytes put
  std::uint64_t new_raw_bytes = 0;  // bytes of the new chunks
  std::uint64_t stored_bytes = 0;   // frame bytes written for them
  std::uint64_t packs = 0;          // packs committed
};

class ChunkStore {
 public:
  static Expected<ChunkStore> create(Backend& backend, ChunkIndex& index, ChunkStoreOptions options = {});
  // Stores `raw` unless the repository holds it; returns its id. Errors:
  // the backend's and the index's (the open pack is then abandoned).
  Expected<ChunkId> put(pipeline::Bytes raw);
  // Whether the repository holds the chunk `id` (indexed, or in the open
  // pack), so that put() would skip it. Errors: the index's.
  Expected<bool> holds(const ChunkId& id) const;
  // Commits and indexes the open pack (after the one committing, if any);
  // afterwards every chunk put is in the repository.
  Expected<void> flush();
  // Waits for the pack committing in the background, if any, and indexes it;
  // the open pack stays open. For a backup that gives up: afterwards stats()
  // counts every pack committed. Errors: that commit's, the index's.
  Expected<void> settle();
  const ChunkStoreStats& stats() const noexcept { return stats_; }

 private:
  ChunkStore(Backend& backend, ChunkIndex& index, ChunkStoreOptions options, pipeline::FrameCompressor compressor)
      : backend_(&backend), index_(&index), options_(options), compressor_(std::move(compressor)) {}
  Backend* backend_;
  ChunkIndex* index_;
  ChunkStoreOptions options_;
  pipeline::FrameCompressor compressor_;
  // Commits the open pack in the background (after settling the previous one).
  Expected<void> commit_in_background();
  std::unique_ptr<PackWriter> pack_;
  std::set<ChunkId> in_pack_;  // the open pack's chunks (a few hundred: pack_size / chunk size)
  // The pack committing in the background, its chunks, and the commit.
  std::unique_ptr<PackWriter> committing_;
  std::set<ChunkId> in_committing_;
  std::future<Expected<std::vector<PackEntry>>> commit_;
  ChunkStoreStats stats_;
};

// Streams chunks, in the order given, as one byte stream (a snapshot's dump).
// Errors: `corrupt` naming a chunk that no indexed pack holds, or one whose
// bytes do not match its id; the backend's.
class ChunkReader final : public pipeline::Source {
 public:
  ChunkReader(const Backend& backend, const ChunkIndex& index, std::vector<ChunkId> chunks)
      : backend_(backend), index_(index), chunks_(std::move(chunks)) {}
  Expected<std::size_t> read(pipeline::MutableBytes buffer) override;
  // The next whole chunk instead (checked, valid until the next call);
  // std::nullopt after the last. Not mixed with read(). Errors as read().
  Expected<std::optional<pipeline::Bytes>> next_chunk();

 private:
  // Reads the next chunk's frame into frame_: from the open pack when the
  // chunk follows the previous one there (one open per run of chunks, not
  // per chunk), else from a new read of its pack from its offset on.
  Expected<void> read_frame(const ChunkLocation& where);
  // Reads and checks the next chunk into current_; false after the last.
  Expected<bool> load_next();
  const Backend& backend_;
  const ChunkIndex& index_;
  std::vector<ChunkId> chunks_;
  std::size_t next_ = 0;
  std::vector<std::byte> frame_;
  std::vector<std::byte> current_;
  std::size_t pos_ = 0;
  std::unique_ptr<pipeline::Source> pack_;  // positioned at pack_offset_ in pack_name_
  std::string pack_name_;
  std::uint64_t pack_offset_ = 0;
};

}  // namespace dbsnap::store::repo
