#pragma once

#include <string>

#include "dbsnap/config/config.hpp"
#include "dbsnap/engine/engine.hpp"
#include "dbsnap/pipeline/progress.hpp"
#include "dbsnap/pipeline/zstd.hpp"
#include "dbsnap/store/store.hpp"

namespace dbsnap::core {

// How to take a snapshot.
struct SnapshotOptions {
  std::string label;
  pipeline::ZstdOptions zstd = default_zstd_options();
  pipeline::Progress* progress = nullptr;  // counts the raw dump's bytes when set
  static pipeline::ZstdOptions default_zstd_options();
};

// Takes and publishes a snapshot of `target`: the engine's dump streams
// through SHA-256 (raw), zstd, SHA-256 (stored) into a temp file in the
// store, and is published only if the engine reports a complete dump.
// Throws DbsnapError; on any failure nothing is listed and no temp file stays.
store::Manifest take_snapshot(store::Store& store, const config::Target& target, const SnapshotOptions& options);

// Streams a snapshot's decoded dump into `out`, checking the stored and raw
// sizes and SHA-256 checksums against the manifest as it goes. Throws a
// `corrupt` DbsnapError on any mismatch, after the last byte; callers that
// must not act on bad data (restore) commit only after this returns.
// `progress`, when set, counts the stored bytes read.
void stream_snapshot(store::Store& store, const store::Manifest& manifest, pipeline::Sink& out,
                     pipeline::Progress* progress = nullptr);

// The outcome of checking one stored snapshot.
struct VerifyResult {
  bool ok = false;
  std::string problem;  // why not, when !ok
};

// Re-hashes a snapshot's blob and decodes it fully, comparing sizes and both
// checksums with its manifest. Never throws for a bad snapshot: that is the
// result.
VerifyResult verify_snapshot(store::Store& store, const store::Manifest& manifest,
                             pipeline::Progress* progress = nullptr);

// Checks that a snapshot's stored file is exactly the one published (its
// size and SHA-256), without decoding it: the cheap test a restore makes
// before it asks anything or takes a safety snapshot. The full decode and
// the raw checksum are checked again as the restore streams, before the
// engine commits.
VerifyResult check_stored(store::Store& store, const store::Manifest& manifest,
                          pipeline::Progress* progress = nullptr);

// Restores a verified snapshot into `target` through the engine's
// all-or-nothing restore session: the stream is checked again as it flows
// and the session is committed only when both checksums match. Throws
// DbsnapError; on failure the database is as it was.
void restore_snapshot(store::Store& store, const config::Target& target, const store::Manifest& manifest,
                      pipeline::Progress* progress = nullptr);

// The scratch context engines get: a private folder inside the store.
engine::WorkContext work_context(const store::Store& store);

}  // namespace dbsnap::core
