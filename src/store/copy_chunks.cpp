// A copy between repositories that key chunk ids alike (core/copy.hpp): the
// destination's chunk list is the source's, line for line, and only the
// chunks the destination lacks are read (and, for a bucket, sent).
//
// Why it is as safe as streaming the dump: the source list is read and
// checked against its manifest first (count, size, both SHA-256 sums as
// recorded); every chunk read from the source is checked against its id as
// it is decoded, and stored under the id the destination computes again;
// a chunk the destination holds is one it checks against that same id
// whenever it reads it. What is not done is hashing the whole dump once
// more: its SHA-256 is the source list's, which the ids vouch for. The
// destination publishes as for any snapshot (packs, list, manifest: the
// commit point), so a copy killed at any moment leaves nothing listed.

#include <vector>

#include <fmt/core.h>

#include "dbsnap/store/store.hpp"
#include "dbsnap/util/interrupt.hpp"

namespace dbsnap::store {

Expected<bool> Store::copy_chunks(const Store& from, const Manifest& snapshot, PendingSnapshot& pending,
                                  pipeline::Progress* progress) {
  if (snapshot.layout != DataLayout::chunks || pending.layout != DataLayout::chunks || !pending.chunks_in) {
    return false;
  }
  if (from.backend_->chunk_key() != backend_->chunk_key()) return false;
  auto lock = from.share_repository();
  if (!lock) return std::unexpected(lock.error());
  auto list = from.load_chunk_list(snapshot);
  if (!list) return std::unexpected(list.error());
  auto source_index = from.chunk_index();
  if (!source_index) return std::unexpected(source_index.error());

  // First which chunks must be read, so that the source is read in one pass
  // (a snapshot's new chunks lie one after the other in its packs).
  std::vector<repo::ChunkId> wanted;
  std::vector<bool> held(list->ids.size());
  for (std::size_t i = 0; i < list->ids.size(); ++i) {
    auto holds = pending.chunk_store->holds(list->ids[i]);
    if (!holds) return std::unexpected(holds.error());
    held[i] = *holds;
    if (!*holds) wanted.push_back(list->ids[i]);
  }
  repo::ChunkReader reader(*from.backend_, **source_index, std::move(wanted));
  for (std::size_t i = 0; i < list->ids.size(); ++i) {
    if (util::interrupt_signal() != 0) {
      return make_error(ErrorKind::interrupted, "interrupted while copying snapshot {}", snapshot.id);
    }
    const auto& id = list->ids[i];
    if (held[i]) {
      // The shared repository lock the pending snapshot holds keeps garbage collection away: it is still here.
      auto listed = pending.chunks_in->add_held(id, list->sizes[i]);
      if (!listed) return std::unexpected(listed.error());
      if (!*listed) return make_error(ErrorKind::failure, "chunk {} left {} during the copy", id.hex().substr(0, 16),
                                      location_);
    } else {
      auto chunk = reader.next_chunk();
      if (!chunk) return std::unexpected(chunk.error());
      if (!*chunk) return make_error(ErrorKind::failure, "the copy of snapshot {} ran out of chunks", snapshot.id);
      if ((*chunk)->size() != list->sizes[i]) {
        return make_error(ErrorKind::corrupt, "chunk {} of snapshot {}: {} bytes, its list says {}",
                          id.hex().substr(0, 16), snapshot.id, (*chunk)->size(), list->sizes[i]);
      }
      if (auto r = pending.chunks_in->add_chunk(id, **chunk); !r) return std::unexpected(r.error());
    }
    if (progress) progress->advance(list->sizes[i]);
  }
  pending.chunks_in->set_copied_sha256(list->raw_sha256);
  return true;
}

}  // namespace dbsnap::store
