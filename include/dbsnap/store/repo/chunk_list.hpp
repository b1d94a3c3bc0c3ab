#pragma once

// A snapshot's chunk list: the chunks its dump is made of, in order.
//
// The list's text (version 1), so that standard tools can follow it
// (FORMAT.md, "Chunk lists"): a header line, one line per chunk, and an end
// line that states the count, the total size and the SHA-256 of the stream:
//
//   dbsnap-chunks 1
//   <sha256 hex> <raw size>
//   ...
//   end <count> <raw bytes> <raw sha256 hex>
//
// That text is about 72 bytes per 64 KiB chunk (0.3 MB for a 300 MB dump),
// and all but a few of its lines are the same from one snapshot to the
// next. So a list object is written as version 2: the version-1 text is
// itself cut into content-defined chunks (about 8 KiB) stored in the packs
// like any chunk, deduplicated and compressed, and the object lists those:
//
//   dbsnap-chunks 2
//   <sha256 hex> <raw size>        one line per chunk of the version-1 text
//   ...
//   end <count> <text bytes> <text sha256 hex>
//
// A snapshot then adds a few KiB of list instead of the whole text (borg
// chunks its archives' metadata stream the same way). Version-1 objects
// (written before December 2026) are still read. SnapshotWriter writes the
// list as the dump streams by (constant memory); read_chunk_list() checks
// that every line and both end lines agree before a restore starts.
//
// Order of commits for a snapshot: its chunks' packs (ChunkStore::flush),
// then its chunk list, then its manifest (the snapshot's commit point). A
// run killed before the manifest leaves a chunk list nobody names, which
// cleanup removes; packs are reclaimed by prune.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "dbsnap/pipeline/chunker.hpp"
#include "dbsnap/pipeline/sha256.hpp"
#include "dbsnap/pipeline/stream.hpp"
#include "dbsnap/pipeline/threaded.hpp"
#include "dbsnap/store/backend.hpp"
#include "dbsnap/store/repo/chunk_store.hpp"

namespace dbsnap::store::repo {

// A chunk list as read back.
struct ChunkList {
  std::vector<ChunkId> ids;          // the dump's chunks
  std::vector<std::uint64_t> sizes;  // and their sizes, as the list states them
  std::vector<ChunkId> list_chunks;  // version 2: the chunks of the list's own text (live as well)
  std::uint64_t raw_bytes = 0;
  std::string raw_sha256;
  std::string list_sha256;  // of the list object itself
};

// What a finished SnapshotWriter wrote.
struct SnapshotWritten {
  std::uint64_t raw_bytes = 0;
  std::string raw_sha256;
  std::uint64_t chunks = 0;
  std::uint64_t new_chunks = 0;        // of `chunks`, stored (the rest were in the repository)
  std::uint64_t list_chunks = 0;       // chunks of the list's text
  std::uint64_t new_stored_bytes = 0;  // frame bytes this snapshot added to the repository (both kinds)
  std::uint64_t list_bytes = 0;        // the chunk list object's size
  std::string list_sha256;             // and its SHA-256
};

// A Sink for a dump: cuts it into chunks, puts them into `chunks` and
// writes the chunk list object `list_name` (on a worker thread: an error of
// the chunk store comes back from a later write() or from finish()). finish() flushes the chunk
// store and completes the list; commit() publishes the list. Dropped
// before commit(): the list is aborted (packs already committed stay, as
// unreferenced data for prune). `if_exists`: whether an unpublished list of
// the same name is replaced (a copy's, whose text is the same) or an error.
class SnapshotWriter final : public pipeline::Sink {
 public:
  static Expected<std::unique_ptr<SnapshotWriter>> create(Backend& backend, ChunkStore& chunks,
                                                          const std::string& list_name,
                                                          const pipeline::ChunkerParams& params = {},
                                                          IfExists if_exists = IfExists::fail);
  Expected<void> write(pipeline::Bytes data) override;
  Expected<void> finish() override;
  // The copy path (Store::copy_chunks): the list is written from another
  // repository's list whose chunk ids are keyed alike, not cut from a
  // stream. add_held() lists a chunk this repository holds, unread (false,
  // nothing listed, when it does not hold it); add_chunk() stores `raw`,
  // which must be the chunk `id` (`corrupt` otherwise); set_copied_sha256()
  // gives the dump's SHA-256 as the source's list states it, which finish()
  // writes: every chunk is checked against its id, the whole is not read
  // again. A writer takes either write() or these, never both (`failure`).
  Expected<bool> add_held(const ChunkId& id, std::uint64_t size);
  Expected<void> add_chunk(const ChunkId& id, pipeline::Bytes raw);
  void set_copied_sha256(std::string raw_sha256) { copied_sha256_ = std::move(raw_sha256); }
  // Publishes the chunk list (after finish()); returns what was written.
  Expected<SnapshotWritten> commit();
  // What was written so far (all of it after finish()).
  const SnapshotWritten& written() const noexcept { return written_; }

 private:
  SnapshotWriter(ChunkStore& chunks, std::unique_ptr<ObjectWriter> list, pipeline::Sha256 hasher,
                 pipeline::Sha256 text_hasher, pipeline::Sha256 list_hasher, const pipeline::ChunkerParams& params);
  Expected<void> on_chunk(pipeline::Bytes chunk);
  // Lists a chunk put by on_chunk() or add_chunk(); `before`: the chunk
  // store's figures before the put.
  Expected<void> list_chunk(const ChunkId& id, std::uint64_t size, const ChunkStoreStats& before);
  // Which way the dump comes in: write() or add_held()/add_chunk().
  enum class Input { none, stream, chunks };
  Expected<void> take_input(Input input);
  Expected<void> on_text_chunk(pipeline::Bytes chunk);
  // A line of the version-1 text (into text_chunker_), and one of the object.
  Expected<void> put_line(std::string_view line);
  Expected<void> put_object_line(std::string_view line);
  ChunkStore& chunks_;
  std::unique_ptr<ObjectWriter> list_;
  pipeline::Sha256 hasher_;
  pipeline::Sha256 text_hasher_;
  pipeline::Sha256 list_hasher_;
  std::uint64_t text_bytes_ = 0;
  pipeline::ChunkingSink chunker_;
  pipeline::ChunkingSink text_chunker_;
  std::string line_;
  std::string object_line_;
  SnapshotWritten written_;
  Input input_ = Input::none;
  std::string copied_sha256_;
  bool finished_ = false;
  // Cutting, hashing, compressing and packing run here, on their own thread,
  // while write() hashes the whole stream on the caller's; the worker alone
  // touches chunker_, chunks_, list_ and the list fields of written_ until
  // finish() joined it. Declared last: destroyed (and joined) first.
  std::unique_ptr<pipeline::ThreadedSink> worker_;
};

// How the text of a version-2 list is cut (fixed: the same text must give
// the same chunks in every snapshot for them to deduplicate).
inline constexpr pipeline::ChunkerParams list_text_chunking{
    .min_size = 2 * 1024, .normal_size = 8 * 1024, .max_size = 32 * 1024};

// Reads and checks a chunk list object (version 1, or version 2 with its
// text's chunks read through `index`). Errors: the backend's; `corrupt`
// naming the object when a line, the count or the total does not add up, or
// when a chunk of its text is missing or damaged.
Expected<ChunkList> read_chunk_list(const Backend& backend, const ChunkIndex& index, std::string_view name);

}  // namespace dbsnap::store::repo
