#include "dbsnap/core/copy.hpp"

#include <filesystem>

#include <fmt/core.h>

#include "dbsnap/core/operations.hpp"
#include "dbsnap/engine/engine.hpp"
#include "dbsnap/util/interrupt.hpp"

namespace dbsnap::core {

namespace {

bool same_folder(const std::filesystem::path& a, const std::filesystem::path& b) {
  std::error_code ec;
  const bool same = std::filesystem::equivalent(a, b, ec);
  return !ec && same;
}

// The blob kind a copy in the blob layout gets: its engine's.
std::string blob_extension_of(const store::Manifest& m) {
  if (const auto* engine = engine::find_engine(m.engine)) return engine->blob_extension();
  fail(ErrorKind::corrupt, "snapshot {}: unknown engine '{}' in its manifest", m.id, m.engine);
}

// The destination's snapshot with `id`, if it has one.
std::optional<store::Manifest> find_by_id(store::Store& store, const std::string& id) {
  for (auto& m : value_or_throw(store.find({.id_prefix = id}))) {
    if (m.id == id) return m;
  }
  return std::nullopt;
}

}  // namespace

void check_copy_destination(const store::Store& from, const store::Store& to) {
  if (from.location() == to.location() || same_folder(from.root(), to.root())) {
    fail(ErrorKind::usage, "the destination {} is the store the snapshots are in", to.location());
  }
  if (!to.encrypted()) refuse_copy_in_clear(from, to.location());
}

void refuse_copy_in_clear(const store::Store& from, const std::string& location) {
  if (!from.encrypted()) return;
  fail(ErrorKind::refused, "{} is encrypted and {} would not be: a copy never stores an encrypted store's snapshots "
       "in the clear (give a new destination a key: --to-key-file, copy_key_file, DBSNAP_COPY_KEY_FILE or "
       "DBSNAP_COPY_PASSPHRASE)", from.location(), location);
}

CopyResult copy_snapshot(store::Store& from, const store::Manifest& snapshot, store::Store& to,
                         pipeline::Progress* progress) {
  if (auto there = find_by_id(to, snapshot.id)) {
    if (there->target != snapshot.target || there->raw_sha256 != snapshot.raw_sha256 ||
        there->raw_bytes != snapshot.raw_bytes) {
      fail(ErrorKind::refused, "{} already holds a different snapshot {} ({} of target '{}'); nothing was copied",
           to.location(), snapshot.id, there->raw_bytes, there->target);
    }
    return {.copy = *there, .outcome = CopyOutcome::present};
  }
  auto zstd = SnapshotOptions::default_zstd_options();
  zstd.level = snapshot.level;
  auto pending = value_or_throw(to.begin(snapshot.target, blob_extension_of(snapshot), zstd.level, snapshot.id));
  SnapshotInput input(to, pending, zstd);
  try {
    // By the chunk list when the stores key chunk ids alike, reading only
    // what the destination lacks; else the dump, checked as a restore reads
    // it (stream_snapshot throws after the last byte on a mismatch), so a
    // bad source is never published.
    if (!value_or_throw(to.copy_chunks(from, snapshot, pending, progress))) {
      stream_snapshot(from, snapshot, input.sink(), RawCheck::sha256, progress);
    }
    input.finish();
  } catch (const DbsnapError& e) {
    input.fail_with(DbsnapError(e.kind(), fmt::format("copying snapshot {} to {}: {}", snapshot.id, to.location(),
                                                      e.what())));
  }
  util::check_interrupted();
  store::Manifest copy = snapshot;
  input.describe(copy);
  if (copy.raw_bytes != snapshot.raw_bytes || copy.raw_sha256 != snapshot.raw_sha256) {
    input.fail_with(DbsnapError(ErrorKind::corrupt, fmt::format("copying snapshot {}: the destination received {} "
                                                                "bytes that do not match the manifest", snapshot.id,
                                                                copy.raw_bytes)));
  }
  input.publish(copy);
  auto published = find_by_id(to, snapshot.id);
  if (!published) fail(ErrorKind::failure, "copying snapshot {}: it is not listed in {} after it was published",
                       snapshot.id, to.location());
  return {.copy = *published, .outcome = CopyOutcome::copied};
}

}  // namespace dbsnap::core
