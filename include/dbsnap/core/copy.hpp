#pragma once

// Copies between stores (`dbsnap copy`, and a backup's `copy_to`).
//
// A copy is a new snapshot in the destination under the original's id, with
// the original's metadata (target, revisions, label, time, pin, status).
// Between two chunked stores whose chunk ids are keyed alike (both in the
// clear, or sealed to one key) it goes by the chunk list
// (Store::copy_chunks): the destination's list is the source's, and only
// the chunks the destination lacks are read from the source, each checked
// against its id, and stored there (sent, for a bucket). Otherwise the dump
// is read from the source checked as a restore reads it (every chunk
// against its id, the whole dump against the manifest's size and SHA-256)
// and written through the destination's own snapshot writer: cut into
// chunks again and deduplicated against the destination's chunk index.
// Going through the dump, not the packs, is what lets a copy cross key
// boundaries: an encrypted store's chunk ids are keyed (HMAC-SHA-256) and a
// store in the clear's are not, and each store's packs are sealed to its own
// key. The destination publishes the copy as any snapshot (its chunk list,
// then its manifest: the commit point), and only after the source checked
// out; a copy interrupted at any moment leaves nothing listed, and a second
// run starts it again, finding the chunks already stored.

#include <cstdint>

#include "dbsnap/pipeline/progress.hpp"
#include "dbsnap/store/store.hpp"

namespace dbsnap::core {

enum class CopyOutcome {
  copied,   // published in the destination by this call
  present,  // the destination already held it
};

struct CopyResult {
  store::Manifest copy;  // the destination's manifest
  CopyOutcome outcome = CopyOutcome::copied;
};

// Refuses a destination that is the source itself (`usage`) or that would
// hold an encrypted store's snapshots in the clear (`refused`: a copy
// never weakens how a snapshot is protected).
void check_copy_destination(const store::Store& from, const store::Store& to);
// The same refusal, before the destination `location` is opened (and so
// created): for an encrypted `from` when no key for the destination was given.
void refuse_copy_in_clear(const store::Store& from, const std::string& location);

// Copies one snapshot of `from` into `to` (see above). `progress` counts
// the bytes read from the source. Throws DbsnapError: `corrupt` when the
// source does not match its manifest (nothing is published), `refused`
// when the destination holds another snapshot under the same id, the
// stores' errors.
CopyResult copy_snapshot(store::Store& from, const store::Manifest& snapshot, store::Store& to,
                         pipeline::Progress* progress = nullptr);

}  // namespace dbsnap::core
