#pragma once

// Garbage collection: what prune runs after it deleted snapshots, to give
// their space back.
//
// A chunk is live when a chunk list the caller names lists it. The caller
// holds the repository exclusively: a backup running meanwhile could reuse
// a chunk this pass is about to remove.
//
// The steps, each ending at a commit point, so that a kill at any moment
// leaves every live chunk in a committed pack that is indexed, or that the
// next reconcile indexes (and the next pass finishes the job):
//  1. reconcile the index with the backend's packs;
//  2. mark the live chunks (every list must read: never delete on partial
//     knowledge; a list that does not read stops the pass, nothing removed);
//  3. packs without a live chunk: forgotten by the index, then deleted;
//  4. packs whose unused share exceeds max_unused: their live chunks are
//     read (each checked against its SHA-256) into new packs, the new packs
//     committed, the index swaps old for new in one transaction, then the
//     old packs are deleted. A pack with a live chunk that does not read is
//     left as it is and reported.

#include <cstdint>
#include <string>
#include <vector>

#include "dbsnap/store/backend.hpp"
#include "dbsnap/store/repo/chunk_index.hpp"

namespace dbsnap::store::repo {

struct GcOptions {
  double max_unused = 0.2;             // repack a pack when more of its bytes than this are unused
  std::uint64_t pack_size = 16 << 20;  // size of the packs repacking writes
  int level = 3;                       // zstd level of repacked frames
};

struct GcReport {
  std::uint64_t packs_deleted = 0;    // packs removed whole or after repacking
  std::uint64_t packs_repacked = 0;   // of them, packs whose live chunks moved
  std::uint64_t packs_written = 0;    // new packs holding the moved chunks
  std::uint64_t bytes_freed = 0;      // pack bytes deleted minus pack bytes written
  std::vector<std::string> damaged;   // why packs were kept: a live chunk in them does not read
};

// Removes every chunk none of `live_lists` (chunk list object names) lists.
Expected<GcReport> collect_garbage(Backend& backend, ChunkIndex& index, const std::vector<std::string>& live_lists,
                                   const GcOptions& options = {});

}  // namespace dbsnap::store::repo
