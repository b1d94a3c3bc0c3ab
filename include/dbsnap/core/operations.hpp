#pragma once

#include <functional>
#include <optional>
#include <string>

#include "dbsnap/config/config.hpp"
#include "dbsnap/engine/engine.hpp"
#include "dbsnap/pipeline/progress.hpp"
#include "dbsnap/pipeline/sha256.hpp"
#include "dbsnap/pipeline/zstd.hpp"
#include "dbsnap/store/store.hpp"

namespace dbsnap::core {

// The zstd level snapshots get when neither --level nor the target's
// `level` key says otherwise: level 1 costs half the CPU time of zstd's
// default 3 and, on SQL dumps, gives files within a few percent of its
// size, so a backup takes about as long as the bare dump.
inline constexpr int default_level = 1;

// Who asked for a snapshot: the user (backup), or dbsnap itself to protect
// a change (safety snapshots); the manifest's `automatic` field records it.
enum class Taken { by_user, by_dbsnap };

// How to take a snapshot.
struct SnapshotOptions {
  std::string label;
  Taken taken = Taken::by_user;
  bool pin = false;  // backup --pin
  std::optional<int> level;  // overrides the target's `level` key
  pipeline::ZstdOptions zstd = default_zstd_options();
  pipeline::Progress* progress = nullptr;  // counts the raw dump's bytes when set
  static pipeline::ZstdOptions default_zstd_options();
};

// The zstd level for a snapshot of `target`: `level` when given, else the
// target's `level` key, else default_level. Throws a `config` DbsnapError
// for a level zstd does not accept.
int snapshot_level(const config::Target& target, std::optional<int> level);

// Where a new snapshot's dump goes, in the pending snapshot's layout: blob,
// through SHA-256 (raw), zstd and SHA-256 (stored) into the blob; chunks,
// into the snapshot writer, which hashes, cuts, deduplicates and packs it.
// Used by take_snapshot and copy_snapshot (core/copy.hpp). Throws DbsnapError.
class SnapshotInput {
 public:
  SnapshotInput(store::Store& store, store::PendingSnapshot& pending, const pipeline::ZstdOptions& zstd);
  // The sink the dump is written into (whoever writes it calls its finish()).
  pipeline::Sink& sink() noexcept { return *input_; }
  // Ends the stream (idempotent); afterwards describe() is complete.
  void finish();
  // Fills in the dump's size and SHA-256 (and a blob's stored size and SHA-256).
  void describe(store::Manifest& manifest) const;
  // Rethrows a failure of the dump as "...; nothing was published", after
  // removing the packs the pending snapshot committed when it can (an
  // interruption is rethrown as it is). Never returns.
  [[noreturn]] void fail_with(const DbsnapError& error);
  // Publishes the snapshot (Store::publish); on failure its packs are
  // removed as by fail_with() and the store's error is thrown.
  void publish(const store::Manifest& manifest);

 private:
  store::Store& store_;
  store::PendingSnapshot& pending_;
  std::optional<pipeline::HashingSink> stored_;
  std::unique_ptr<pipeline::CompressingSink> compress_;
  std::optional<pipeline::HashingSink> raw_;
  pipeline::Sink* input_ = nullptr;
};

// Takes and publishes a snapshot of `target` in the store's snapshot layout:
// the engine's dump streams through SHA-256 (raw), zstd, SHA-256 (stored)
// into a temp file in the store (blob), or into the repository's chunks and
// a chunk list (chunks), and is published only if the engine reports a
// complete dump. Returns the published manifest.
// Throws DbsnapError; on any failure nothing is listed and no temp file stays.
store::Manifest take_snapshot(store::Store& store, const config::Target& target, const SnapshotOptions& options);

// How much of the decoded stream stream_snapshot checks. The stored bytes'
// size and SHA-256 are always checked, and zstd checks every frame's content
// checksum as it decodes; `size_only` skips the second SHA-256 over the
// decoded bytes, which identical stored bytes make redundant (a restore
// spends that CPU time on the database instead).
enum class RawCheck { sha256, size_only };

// Streams a snapshot's decoded dump into `out`, checking sizes and
// checksums against the manifest as it goes (see RawCheck). Throws a
// `corrupt` DbsnapError on any mismatch, after the last byte; callers that
// must not act on bad data (restore) commit only after this returns.
// `progress`, when set, counts the stored bytes read.
void stream_snapshot(store::Store& store, const store::Manifest& manifest, pipeline::Sink& out,
                     RawCheck raw_check = RawCheck::sha256, pipeline::Progress* progress = nullptr);

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

// Restores a snapshot into `target` through the engine's all-or-nothing
// restore session: the stream is checked as it flows (the stored SHA-256,
// zstd's frame checksums, the decoded size) and the session is committed
// only when it all matches. Returns the target's Alembic revisions after the
// restore: the snapshot's, when the engine checked them while committing,
// otherwise read back. `progress`, when set, counts the stored bytes read.
// `safety`, when set, takes the pre-restore safety snapshot: inside the
// engine's commit, while no other connection can commit, when the engine can
// (Engine::locks_before_commit), else before the restore begins. A failure
// of it abandons the restore. Throws DbsnapError; on failure the database is
// as it was.
std::vector<std::string> restore_snapshot(store::Store& store, const config::Target& target,
                                          const store::Manifest& manifest, pipeline::Progress* progress = nullptr,
                                          const std::function<void()>& safety = {});

// Writes a snapshot's decoded dump (a SQLite snapshot: the database file
// itself) to a new file at `path`, checked as it streams (both sizes, both
// SHA-256 sums), published by one rename only when every check passed, and
// never over an existing file. Throws DbsnapError: `refused` when `path`
// exists, `usage` when its folder does not, `corrupt` on a mismatch (nothing
// is left at `path`).
void restore_to_file(store::Store& store, const store::Manifest& manifest, const std::filesystem::path& path,
                     pipeline::Progress* progress = nullptr);

// The scratch context engines get: a private folder inside the store.
engine::WorkContext work_context(const store::Store& store);

}  // namespace dbsnap::core
