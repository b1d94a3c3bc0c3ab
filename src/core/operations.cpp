#include "dbsnap/core/operations.hpp"

#include <fcntl.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <chrono>
#include <optional>
#include <thread>

#include "dbsnap/pipeline/sha256.hpp"
#include "dbsnap/util/interrupt.hpp"
#include "dbsnap/util/text.hpp"

namespace dbsnap::core {

namespace {

// The verify/restore chain: blob file -> SHA-256 (stored) -> zstd -d ->
// SHA-256 or byte count (raw) -> sink.
struct ReadChain {
  std::unique_ptr<pipeline::HashingSink> raw;
  std::unique_ptr<pipeline::CountingSink> raw_count;
  std::unique_ptr<pipeline::DecompressingSink> decompress;
  std::unique_ptr<pipeline::HashingSink> stored;

  ReadChain(pipeline::Sink& out, RawCheck raw_check) {
    if (raw_check == RawCheck::sha256) {
      raw = std::make_unique<pipeline::HashingSink>(value_or_throw(pipeline::HashingSink::create(out)));
      decompress = value_or_throw(pipeline::DecompressingSink::create(*raw));
    } else {
      raw_count = std::make_unique<pipeline::CountingSink>(out);
      decompress = value_or_throw(pipeline::DecompressingSink::create(*raw_count));
    }
    stored = std::make_unique<pipeline::HashingSink>(value_or_throw(pipeline::HashingSink::create(*decompress)));
  }

  // Compares what flowed with the manifest; empty when it all matches.
  std::string mismatch(const store::Manifest& m) const {
    if (stored->count() != m.stored_bytes) {
      return fmt::format("stored size is {} bytes, the manifest says {}", stored->count(), m.stored_bytes);
    }
    if (stored->digest() != m.stored_sha256) return "the stored file's SHA-256 does not match the manifest";
    const std::uint64_t decoded = raw ? raw->count() : raw_count->count();
    if (decoded != m.raw_bytes) {
      return fmt::format("the dump decodes to {} bytes, the manifest says {}", decoded, m.raw_bytes);
    }
    if (raw && raw->digest() != m.raw_sha256) return "the decoded dump's SHA-256 does not match the manifest";
    return {};
  }
};

}  // namespace

pipeline::ZstdOptions SnapshotOptions::default_zstd_options() {
  unsigned cores = std::thread::hardware_concurrency();
  return pipeline::ZstdOptions{.level = default_level, .workers = cores > 1 ? static_cast<int>(std::min(cores, 2u)) : 0};
}

int snapshot_level(const config::Target& target, std::optional<int> level) {
  const std::int64_t chosen = level ? *level : target.integer("level", default_level);
  if (chosen < pipeline::zstd_min_level() || chosen > pipeline::zstd_max_level()) {
    fail(ErrorKind::config, "target '{}': level {} is out of range ({}-{})", target.name, chosen,
         pipeline::zstd_min_level(), pipeline::zstd_max_level());
  }
  return static_cast<int>(chosen);
}

engine::WorkContext work_context(const store::Store& store) {
  return engine::WorkContext{value_or_throw(store.scratch_folder())};
}

namespace {

// Drops a chunked snapshot that will not be published and deletes the packs
// it committed, so that a failed backup leaves the repository as it found it.
// Only packs no snapshot lists go (garbage collection, without repacking); it
// never waits: when another backup or a restore uses the repository, or the
// collection fails, the packs stay for the next delete or prune, and the
// returned text (appended to the failure's message) says so.
std::string abandon(store::Store& store, store::PendingSnapshot& pending) {
  if (pending.layout != store::DataLayout::chunks || !pending.chunk_store) return {};
  pending.chunks_in.reset();  // uncommitted: no chunk list; its worker joined, the open pack abandoned
  // A pack still committing in the background is waited for, so that it is counted (and collected).
  std::string unsettled;
  if (auto settled = pending.chunk_store->settle(); !settled) {
    unsettled = fmt::format(" (a pack being stored failed too: {})", settled.error().message);
  }
  if (pending.chunk_store->stats().packs == 0) return unsettled;
  pending.chunk_store.reset();
  pending.repository_lock.reset();
  const auto collected = store.collect_garbage(store::repo::GcOptions{.max_unused = 1.0});
  constexpr std::string_view left = " (the packs it stored are left for the next delete or prune: ";
  if (!collected) return fmt::format("{}{}){}", left, collected.error().message, unsettled);
  if (!collected->report) return fmt::format("{}a backup or restore is using the repository){}", left, unsettled);
  return unsettled;
}

}  // namespace

SnapshotInput::SnapshotInput(store::Store& store, store::PendingSnapshot& pending, const pipeline::ZstdOptions& zstd)
    : store_(store), pending_(pending) {
  input_ = pending.chunks_in.get();
  if (pending.layout == store::DataLayout::blob) {
    stored_.emplace(value_or_throw(pipeline::HashingSink::create(*pending.blob)));
    compress_ = value_or_throw(pipeline::CompressingSink::create(*stored_, zstd));
    raw_.emplace(value_or_throw(pipeline::HashingSink::create(*compress_)));
    input_ = &*raw_;
  }
}

void SnapshotInput::finish() {
  // Idempotent; the chunks layout's figures are known once it returned.
  if (pending_.chunks_in) value_or_throw(pending_.chunks_in->finish());
}

void SnapshotInput::describe(store::Manifest& m) const {
  if (raw_) {
    m.raw_bytes = raw_->count();
    m.raw_sha256 = raw_->digest();
    m.stored_bytes = stored_->count();
    m.stored_sha256 = stored_->digest();
  } else {
    m.raw_bytes = pending_.chunks_in->written().raw_bytes;  // publish() fills in the rest
    m.raw_sha256 = pending_.chunks_in->written().raw_sha256;
  }
}

void SnapshotInput::fail_with(const DbsnapError& e) {
  // Whatever went wrong, the pending snapshot is dropped: say so here, once
  // (an interruption's message already says it).
  if (e.kind() == ErrorKind::interrupted) throw e;
  throw DbsnapError(e.kind(), fmt::format("{}; nothing was published{}", e.what(), abandon(store_, pending_)));
}

void SnapshotInput::publish(const store::Manifest& m) {
  if (auto published = store_.publish(pending_, m); !published) {
    if (published.error().kind == ErrorKind::interrupted) throw DbsnapError(published.error());
    throw DbsnapError(published.error().kind, published.error().message + abandon(store_, pending_));
  }
}

store::Manifest take_snapshot(store::Store& store, const config::Target& target, const SnapshotOptions& options) {
  engine::Engine& engine = engine::engine_for(target);
  const auto started = util::now_ms();
  pipeline::ZstdOptions zstd = options.zstd;
  zstd.level = snapshot_level(target, options.level);
  auto pending = value_or_throw(store.begin(target.name, engine.blob_extension(), zstd.level));
  SnapshotInput input(store, pending, zstd);

  std::optional<pipeline::ProgressSink> counted;
  if (options.progress) counted.emplace(input.sink(), *options.progress);
  engine::DumpInfo info;
  try {
    info = engine.dump(target, counted ? static_cast<pipeline::Sink&>(*counted) : input.sink(), work_context(store));
    input.finish();
  } catch (const DbsnapError& e) {
    input.fail_with(e);
  }
  util::check_interrupted();

  store::Manifest m;
  m.engine = std::string(engine.name());
  m.created_at = util::format_utc(started);
  m.label = options.label;
  m.automatic = options.taken == Taken::by_dbsnap;
  m.pinned = options.pin;
  m.revisions = info.revisions;
  m.tables = std::move(info.tables);
  m.level = zstd.level;
  input.describe(m);
  m.tool_version = info.tool_version;
  m.server_version = info.server_version;
  m.dbsnap_version = DBSNAP_VERSION;
  m.source = info.source;
  m.duration_ms = static_cast<std::uint64_t>((util::now_ms() - started).count());
  if (m.raw_bytes == 0) fail(ErrorKind::engine, "target '{}': the dump is empty; nothing was published", target.name);
  input.publish(m);
  return value_or_throw(store.resolve(pending.id, pending.target, store::AutomaticSnapshots::include));
}

namespace {

// A chunked snapshot: every chunk is checked against its SHA-256 as it is
// read; the whole dump's size (and SHA-256 for RawCheck::sha256) against the manifest.
void stream_chunks(store::Store& store, const store::Manifest& m, pipeline::Sink& out, RawCheck raw_check,
                   pipeline::Progress* progress) {
  auto source = store.open_chunks(m);
  if (!source) throw DbsnapError(with_context(source.error(), fmt::format("snapshot {}", m.id)));
  std::optional<pipeline::HashingSink> hashed;
  pipeline::CountingSink counted_raw(out);
  if (raw_check == RawCheck::sha256) hashed.emplace(value_or_throw(pipeline::HashingSink::create(counted_raw)));
  pipeline::Sink& first = hashed ? static_cast<pipeline::Sink&>(*hashed) : counted_raw;
  std::optional<pipeline::ProgressSink> counted;
  if (progress) counted.emplace(first, *progress);
  if (auto moved = pipeline::pump(**source, counted ? static_cast<pipeline::Sink&>(*counted) : first); !moved) {
    throw DbsnapError(with_context(moved.error(), fmt::format("snapshot {}", m.id)));
  }
  if (counted_raw.count() != m.raw_bytes) {
    fail(ErrorKind::corrupt, "snapshot {}: the chunks add up to {} bytes, the manifest says {}", m.id,
         counted_raw.count(), m.raw_bytes);
  }
  if (hashed && hashed->digest() != m.raw_sha256) {
    fail(ErrorKind::corrupt, "snapshot {}: the dump's SHA-256 does not match the manifest", m.id);
  }
}

}  // namespace

void stream_snapshot(store::Store& store, const store::Manifest& m, pipeline::Sink& out, RawCheck raw_check,
                     pipeline::Progress* progress) {
  if (m.layout == store::DataLayout::chunks) return stream_chunks(store, m, out, raw_check, progress);
  auto source = store.open_blob(m);
  if (!source) throw DbsnapError(with_context(source.error(), fmt::format("snapshot {}", m.id)));
  ReadChain chain(out, raw_check);
  std::optional<pipeline::ProgressSink> counted;
  if (progress) counted.emplace(*chain.stored, *progress);
  if (auto moved = pipeline::pump(**source, counted ? static_cast<pipeline::Sink&>(*counted) : *chain.stored); !moved) {
    throw DbsnapError(with_context(moved.error(), fmt::format("snapshot {}", m.id)));
  }
  if (auto why = chain.mismatch(m); !why.empty()) fail(ErrorKind::corrupt, "snapshot {}: {}", m.id, why);
}

void restore_to_file(store::Store& store, const store::Manifest& m, const std::filesystem::path& path,
                     pipeline::Progress* progress) {
  std::error_code ec;
  if (std::filesystem::symlink_status(path, ec).type() != std::filesystem::file_type::not_found) {
    fail(ErrorKind::refused, "{} already exists; --to-file never replaces a file (choose another path)", path.string());
  }
  const auto folder = path.parent_path().empty() ? std::filesystem::path(".") : path.parent_path();
  if (!std::filesystem::is_directory(folder, ec)) fail(ErrorKind::usage, "folder {} does not exist", folder.string());
  auto file = value_or_throw(util::AtomicFile::create(path));
  pipeline::FdSink out(file.fd(), path.string());
  stream_snapshot(store, m, out, RawCheck::sha256, progress);
  if (auto r = file.commit(util::AtomicFile::Existing::keep); !r) {
    if (std::filesystem::exists(path, ec)) {
      fail(ErrorKind::refused, "{} appeared while the snapshot was written; it was left as it is", path.string());
    }
    throw DbsnapError(r.error());
  }
}

VerifyResult check_stored(store::Store& store, const store::Manifest& m, pipeline::Progress* progress) {
  // A chunk is stored checked by its SHA-256: checking what is stored is reading it all.
  if (m.layout == store::DataLayout::chunks) return verify_snapshot(store, m, progress);
  VerifyResult result;
  auto source = store.open_blob(m);
  if (!source) {
    if (source.error().kind == ErrorKind::interrupted) throw DbsnapError(source.error());
    result.problem = source.error().message;
    return result;
  }
  pipeline::NullSink null;
  auto stored = value_or_throw(pipeline::HashingSink::create(null));
  std::optional<pipeline::ProgressSink> counted;
  if (progress) counted.emplace(stored, *progress);
  if (auto moved = pipeline::pump(**source, counted ? static_cast<pipeline::Sink&>(*counted) : stored); !moved) {
    if (moved.error().kind == ErrorKind::interrupted) throw DbsnapError(moved.error());
    result.problem = moved.error().message;
    return result;
  }
  if (stored.count() != m.stored_bytes) {
    result.problem = fmt::format("stored size is {} bytes, the manifest says {}", stored.count(), m.stored_bytes);
  } else if (stored.digest() != m.stored_sha256) {
    result.problem = "the stored file's SHA-256 does not match the manifest";
  }
  result.ok = result.problem.empty();
  return result;
}

VerifyResult verify_snapshot(store::Store& store, const store::Manifest& m, pipeline::Progress* progress) {
  VerifyResult result;
  try {
    pipeline::NullSink null;
    stream_snapshot(store, m, null, RawCheck::sha256, progress);
    result.ok = true;
  } catch (const DbsnapError& e) {
    if (e.kind() == ErrorKind::interrupted) throw;
    result.problem = e.what();
  }
  return result;
}

std::vector<std::string> restore_snapshot(store::Store& store, const config::Target& target,
                                          const store::Manifest& m, pipeline::Progress* progress,
                                          const std::function<void()>& safety) {
  engine::Engine& engine = engine::engine_for(target);
  if (engine.name() != m.engine) {
    fail(ErrorKind::usage, "snapshot {} is a {} dump; target '{}' is {}", m.id, m.engine, target.name, engine.name());
  }
  const auto context = work_context(store);
  const bool safety_under_lock = safety && engine.locks_before_commit(target);
  if (safety && !safety_under_lock) safety();
  auto session = engine.begin_restore(target, m, context);
  try {
    stream_snapshot(store, m, session->input(), RawCheck::size_only, progress);
  } catch (const DbsnapError& e) {
    // Damaged bytes can make the engine fail before the stream's checks see
    // the end: name the damage, not the symptom, so a corrupt snapshot is not
    // mistaken for a database problem (and gets exit code 5).
    if (e.kind() != ErrorKind::corrupt && e.kind() != ErrorKind::interrupted) {
      if (auto check = check_stored(store, m); !check.ok) {
        fail(ErrorKind::corrupt, "restore abandoned, target '{}' unchanged: snapshot {} failed verification: {} "
             "(the load had already stopped: {})",
             target.name, m.id, check.problem, e.what());
      }
    }
    throw DbsnapError(e.kind(), fmt::format("restore abandoned, target '{}' unchanged: {}", target.name, e.what()));
  }
  util::check_interrupted();
  if (safety_under_lock) {
    session->commit(safety);
  } else {
    session->commit();
  }
  if (const int signal = util::interrupt_signal(); signal != 0) {
    // The engine passed its commit point before the signal could stop it:
    // the restore is whole, and saying so is the truth a user needs.
    std::fprintf(stderr, "dbsnap: %s arrived after the restore of '%s' had passed its commit point; the restore "
                 "was finished\n", signal == SIGINT ? "SIGINT" : "SIGTERM", target.name.c_str());
    util::clear_interrupt();
  }
  if (!session->checks_revision()) return engine.read_revisions(target, context);
  auto revisions = m.revisions;
  std::sort(revisions.begin(), revisions.end());
  return revisions;
}

}  // namespace dbsnap::core
