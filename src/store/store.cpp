#include "dbsnap/store/store.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <set>

#include <sys/stat.h>
#include <unistd.h>

#include "dbsnap/pipeline/sha256.hpp"
#include "dbsnap/store/backend.hpp"
#include "dbsnap/store/ids.hpp"
#include "dbsnap/store/local/local_backend.hpp"
#include "dbsnap/util/text.hpp"

namespace dbsnap::store {

namespace {

std::string describe_candidates(const std::vector<Manifest>& snapshots, std::size_t max) {
  std::vector<std::string> parts;
  for (std::size_t i = 0; i < snapshots.size() && i < max; ++i) {
    const auto& m = snapshots[i];
    parts.push_back(fmt::format("{} ({}, {}, rev {})", m.id, m.target, m.created_at, util::revision_text(m.revisions)));
  }
  if (snapshots.size() > max) parts.push_back(fmt::format("and {} more", snapshots.size() - max));
  return util::join(parts, "; ");
}


// The newest snapshot `latest` or `@REV` may pick from `newest_first`.
std::optional<Manifest> first_eligible(const std::vector<Manifest>& newest_first, AutomaticSnapshots automatic) {
  for (const auto& m : newest_first) {
    if (automatic == AutomaticSnapshots::include || !m.automatic) return m;
  }
  return std::nullopt;
}

}  // namespace

Expected<void> Store::check_writable() const {
  if (writable_) return {};
  return make_error(ErrorKind::failure, "the store {} is read-only here (opened for reading only)", root_.string());
}

Expected<PendingSnapshot> Store::begin(const std::string& target, const std::string& extension, int level,
                                       const std::string& given_id) {
  if (auto r = check_writable(); !r) return std::unexpected(r.error());
  if (!is_valid_target_name(target)) {
    return make_error(ErrorKind::config, "target name '{}' is not usable as a folder name", target);
  }
  const fs::path dir = root_ / target;
  if (std::error_code ec; !remote_ && fs::symlink_status(dir, ec).type() == fs::file_type::symlink) {
    return make_error(ErrorKind::failure, "the store's folder {} is a symbolic link; dbsnap never follows links in "
                      "its store (replace it with a folder)", dir.string());
  }
  if (!given_id.empty() && !is_valid_snapshot_id(given_id)) {
    return make_error(ErrorKind::config, "'{}' is not a snapshot id", given_id);
  }
  std::string id = given_id.empty() ? new_snapshot_id(util::now_ms()) : given_id;
  // A copy's objects may have been left unpublished by a copy that was
  // killed (a remote store keeps them until garbage collection): the same
  // dump gives the same chunk list, so it is written over.
  const IfExists if_exists = given_id.empty() ? IfExists::fail : IfExists::replace;
  PendingSnapshot pending;
  pending.id = id;
  pending.target = target;
  pending.layout = layout_;
  if (layout_ == DataLayout::blob) {
    if (remote_) {
      // Another host's garbage collection removes blobs without a manifest: not this one while it is written.
      auto repository_lock = share_repository();
      if (!repository_lock) return std::unexpected(repository_lock.error());
      if (*repository_lock) pending.repository_lock.emplace(std::move(**repository_lock));
    }
    pending.blob_file = fmt::format("{}.{}.zst", id, extension);
    auto blob = backend_->create(target + "/" + pending.blob_file, if_exists);
    if (!blob) return std::unexpected(blob.error());
    pending.blob = std::move(*blob);
    return pending;
  }
  auto repository_lock = share_repository();
  if (!repository_lock) return std::unexpected(repository_lock.error());
  if (*repository_lock) pending.repository_lock.emplace(std::move(**repository_lock));
  auto index = chunk_index();
  if (!index) return std::unexpected(index.error());
  auto chunk_store = repo::ChunkStore::create(*backend_, **index, repo::ChunkStoreOptions{.level = level});
  if (!chunk_store) return std::unexpected(chunk_store.error());
  pending.chunk_store = std::make_unique<repo::ChunkStore>(std::move(*chunk_store));
  pending.chunk_list = id + ".chunks";
  auto writer = repo::SnapshotWriter::create(*backend_, *pending.chunk_store, target + "/" + pending.chunk_list, {},
                                             if_exists);
  if (!writer) return std::unexpected(writer.error());
  pending.chunks_in = std::move(*writer);
  return pending;
}

Expected<repo::ChunkIndex*> Store::chunk_index() const {
  if (index_) return &*index_;
  if (!writable_) {
    auto index = repo::ChunkIndex::in_memory();
    if (!index) return std::unexpected(index.error());
    if (auto r = repo::reconcile(*backend_, *index); !r) return std::unexpected(r.error());
    index_.emplace(std::move(*index));
    return &*index_;
  }
  std::error_code ec;
  const bool missing = !fs::exists(root_ / index_name, ec);
  auto index = repo::ChunkIndex::open(root_ / index_name);
  if (!index) return std::unexpected(index.error());
  if (missing || remote_) {
    // A new store, or one whose index.db was lost: the packs say what it
    // holds. A remote store's index is a cache of what other hosts change too.
    auto report = repo::reconcile(*backend_, *index);
    if (!report) return std::unexpected(report.error());
    if (missing && !report->indexed.empty()) {
      std::fprintf(stderr, "dbsnap: %s was missing; rebuilt it from %zu pack(s)\n", (root_ / index_name).c_str(),
                   report->indexed.size());
    }
  }
  index_.emplace(std::move(*index));
  return &*index_;
}

Expected<void> Store::publish(PendingSnapshot& pending, Manifest manifest) {
  manifest.id = pending.id;
  manifest.target = pending.target;
  manifest.layout = pending.layout;
  manifest.blob_file = pending.blob_file;
  manifest.chunk_list = pending.chunk_list;
  auto lock = util::FileLock::acquire(root_ / lock_name);
  if (!lock) return std::unexpected(lock.error());
  if (pending.layout == DataLayout::chunks) {
    // SnapshotWriter::commit() flushes the open pack (committed and indexed) before the list.
    auto written = pending.chunks_in->commit();
    if (!written) return std::unexpected(written.error());
    manifest.chunks = written->chunks;
    manifest.raw_bytes = written->raw_bytes;
    manifest.raw_sha256 = written->raw_sha256;
    manifest.stored_bytes = written->new_stored_bytes;
    manifest.stored_sha256 = written->list_sha256;
  } else if (auto r = pending.blob->commit(); !r) {
    return r;
  }
  // The manifest's commit is the snapshot's (FORMAT.md: Publishing protocol).
  if (auto r = write_manifest(manifest); !r) {
    (void)backend_->remove(blob_object(manifest));  // best effort: the next open removes it otherwise
    return r;
  }
  if (auto r = catalog_.put(manifest); !r) {
    // Not indexed: take the snapshot back, manifest first (the next open indexes or removes what stays).
    if (backend_->remove(manifest_object(manifest))) (void)backend_->remove(blob_object(manifest));
    return r;
  }
  return {};
}

Expected<Manifest> Store::load_manifest(const Manifest& indexed) const {
  auto text = read_object(*backend_, manifest_object(indexed), 1024 * 1024);
  if (!text) {
    if (text.error().kind == ErrorKind::not_found) {
      return make_error(ErrorKind::corrupt, "its manifest {} is missing", manifest_location(indexed));
    }
    return std::unexpected(text.error());
  }
  auto manifest = parse_manifest(*text, *backend_);
  if (!manifest) return std::unexpected(with_context(manifest.error(), manifest_location(indexed)));
  return manifest;
}

Expected<void> Store::update(const Manifest& manifest) {
  if (auto r = check_writable(); !r) return std::unexpected(r.error());
  auto lock = util::FileLock::acquire(root_ / lock_name);
  if (!lock) return std::unexpected(lock.error());
  if (auto r = write_manifest(manifest); !r) return r;
  return catalog_.put(manifest);
}

Expected<void> Store::remove(const Manifest& manifest) {
  if (auto r = check_writable(); !r) return std::unexpected(r.error());
  auto lock = util::FileLock::acquire(root_ / lock_name);
  if (!lock) return std::unexpected(lock.error());
  // The manifest's removal is the commit point: a run killed after it leaves a
  // blob and a row that the next open removes (reconcile_catalog).
  if (auto r = backend_->remove(manifest_object(manifest)); !r && r.error().kind != ErrorKind::not_found) return r;
  if (auto r = backend_->remove(blob_object(manifest)); !r && r.error().kind != ErrorKind::not_found) return r;
  return catalog_.remove(manifest.id);
}

std::string Store::blob_object(const Manifest& manifest) {
  return manifest.target + "/" + (manifest.layout == DataLayout::chunks ? manifest.chunk_list : manifest.blob_file);
}

std::string Store::manifest_object(const Manifest& manifest) { return manifest.target + "/" + manifest.id + ".json"; }

Expected<void> Store::write_manifest(const Manifest& manifest) {
  auto text = manifest_text(manifest, backend_->manifest_key());
  if (!text) return std::unexpected(text.error());
  return write_object(*backend_, manifest_object(manifest), *text);
}

std::string Store::blob_location(const Manifest& manifest) const { return backend_->locate(blob_object(manifest)); }

std::string Store::manifest_location(const Manifest& manifest) const {
  return backend_->locate(manifest_object(manifest));
}

Expected<std::unique_ptr<pipeline::Source>> Store::open_blob(const Manifest& manifest) const {
  if (manifest.layout != DataLayout::blob) {
    return make_error(ErrorKind::failure, "snapshot {} is stored as chunks, not as a blob", manifest.id);
  }
  auto source = backend_->open(blob_object(manifest));
  if (!source && source.error().kind == ErrorKind::not_found) {
    return make_error(ErrorKind::corrupt, "its blob {} is missing", blob_location(manifest));
  }
  return source;
}

namespace {

// A chunk reader that holds the repository lock (shared) as long as it lives.
class LockedChunkReader final : public pipeline::Source {
 public:
  LockedChunkReader(std::optional<RepositoryLock> lock, std::unique_ptr<repo::ChunkReader> reader)
      : lock_(std::move(lock)), reader_(std::move(reader)) {}
  Expected<std::size_t> read(pipeline::MutableBytes buffer) override { return reader_->read(buffer); }

 private:
  std::optional<RepositoryLock> lock_;
  std::unique_ptr<repo::ChunkReader> reader_;
};

}  // namespace

repo::LockObjectOptions Store::lock_object_options() {
  return {.command = fmt::format("dbsnap pid {}", ::getpid())};
}

Expected<std::optional<RepositoryLock>> Store::share_repository() const {
  // A store this process cannot write has no lock to take (documented limit:
  // a prune by its owner meanwhile can fail a read, never damage data).
  if (!writable_) return std::optional<RepositoryLock>();
  auto taken = util::FileLock::acquire(root_ / repository_lock_name, util::LockMode::shared);
  if (!taken) return std::unexpected(taken.error());
  RepositoryLock held{std::move(*taken), std::nullopt};
  if (remote_) {
    auto object = repo::LockObject::acquire(
        [this] { return open_backend(location_, BackendAccess::write); }, repo::LockObjectMode::shared,
        lock_object_options(), [](const std::string& message) { std::fprintf(stderr, "dbsnap: %s\n", message.c_str()); });
    if (!object) return std::unexpected(object.error());
    held.remote.emplace(std::move(*object));
    // Another host's garbage collection may have moved or removed packs since this index last looked.
    if (index_) {
      if (auto r = repo::reconcile(*backend_, *index_); !r) return std::unexpected(r.error());
    }
  }
  return std::optional<RepositoryLock>(std::move(held));
}

Expected<std::optional<RepositoryLock>> Store::try_own_repository() {
  auto taken = util::FileLock::try_acquire(root_ / repository_lock_name, util::LockMode::exclusive);
  if (!taken) return std::unexpected(taken.error());
  if (!*taken) return std::optional<RepositoryLock>();
  RepositoryLock held{std::move(**taken), std::nullopt};
  if (remote_) {
    auto backend = open_backend(location_, BackendAccess::write);
    if (!backend) return std::unexpected(backend.error());
    auto object = repo::LockObject::try_acquire(std::move(*backend), repo::LockObjectMode::exclusive,
                                                lock_object_options());
    if (!object) return std::unexpected(object.error());
    if (!*object) return std::optional<RepositoryLock>();
    held.remote.emplace(std::move(**object));
    if (index_) {
      if (auto r = repo::reconcile(*backend_, *index_); !r) return std::unexpected(r.error());
    }
  }
  return std::optional<RepositoryLock>(std::move(held));
}

Expected<repo::ChunkList> Store::load_chunk_list(const Manifest& manifest) const {
  auto index = chunk_index();
  if (!index) return std::unexpected(index.error());
  auto list = repo::read_chunk_list(*backend_, **index, blob_object(manifest));
  if (!list) {
    if (list.error().kind == ErrorKind::not_found) {
      return make_error(ErrorKind::corrupt, "its chunk list {} is missing", blob_location(manifest));
    }
    return std::unexpected(list.error());
  }
  const std::string where = blob_location(manifest);
  if (list->list_sha256 != manifest.stored_sha256) {
    return make_error(ErrorKind::corrupt, "its chunk list {} does not match the manifest's SHA-256", where);
  }
  if (list->raw_bytes != manifest.raw_bytes || list->raw_sha256 != manifest.raw_sha256 ||
      list->ids.size() != manifest.chunks) {
    return make_error(ErrorKind::corrupt, "its chunk list {} describes another dump than the manifest", where);
  }
  return list;
}

Expected<std::unique_ptr<pipeline::Source>> Store::open_chunks(const Manifest& manifest) const {
  if (manifest.layout != DataLayout::chunks) {
    return make_error(ErrorKind::failure, "snapshot {} is not stored as chunks", manifest.id);
  }
  auto lock = share_repository();
  if (!lock) return std::unexpected(lock.error());
  auto list = load_chunk_list(manifest);
  if (!list) return std::unexpected(list.error());
  auto index = chunk_index();
  if (!index) return std::unexpected(index.error());
  auto reader = std::make_unique<repo::ChunkReader>(*backend_, **index, std::move(list->ids));
  return std::unique_ptr<pipeline::Source>(new LockedChunkReader(std::move(*lock), std::move(reader)));
}

Expected<GarbageCollection> Store::collect_garbage(const repo::GcOptions& options) {
  if (auto r = check_writable(); !r) return std::unexpected(r.error());
  auto repository_lock = try_own_repository();
  if (!repository_lock) return std::unexpected(repository_lock.error());
  if (!*repository_lock) return GarbageCollection{};
  auto lock = util::FileLock::acquire(root_ / lock_name);
  if (!lock) return std::unexpected(lock.error());
  // A remote store's leftovers go here, where no host is publishing (see store.hpp).
  if (remote_) {
    if (auto r = remove_unpublished_blobs(); !r) return std::unexpected(r.error());
  }
  // The manifests are the truth about which snapshots exist: a run killed
  // between a manifest and its catalog row must not lose its chunks here.
  if (auto r = reconcile_catalog(); !r) return std::unexpected(r.error());
  auto snapshots = catalog_.find({});
  if (!snapshots) return std::unexpected(snapshots.error());
  std::vector<std::string> lists;
  for (const auto& m : *snapshots) {
    if (m.layout == DataLayout::chunks) lists.push_back(blob_object(m));
  }
  auto index = chunk_index();
  if (!index) return std::unexpected(index.error());
  auto report = repo::collect_garbage(*backend_, **index, lists, options);
  if (!report) return std::unexpected(report.error());
  return GarbageCollection{std::move(*report)};
}

Expected<std::pair<std::uint64_t, std::uint64_t>> Store::chunk_totals() const {
  auto index = chunk_index();
  if (!index) return std::unexpected(index.error());
  return (*index)->totals();
}

Expected<fs::path> Store::scratch_folder() const {
  // A store opened for reading only gets nothing written into it.
  if (!writable_) return fs::temp_directory_path();
  if (auto r = util::ensure_private_dir(root_ / scratch_dir); !r) return std::unexpected(r.error());
  return root_ / scratch_dir;
}

Expected<Manifest> Store::resolve(std::string_view reference, const std::string& target,
                                  AutomaticSnapshots automatic) {
  auto parsed = parse_snapshot_reference(reference);
  if (!parsed) return std::unexpected(parsed.error());
  const std::string ref(util::trim(reference));

  if (parsed->kind == SnapshotReference::Kind::latest) {
    std::string which = target;
    if (which.empty()) {
      auto targets = catalog_.targets();
      if (!targets) return std::unexpected(targets.error());
      if (targets->empty()) return make_error(ErrorKind::not_found, "'latest': the store has no snapshots");
      if (targets->size() > 1) {
        return make_error(ErrorKind::not_found, "'latest' is ambiguous: the store has snapshots of {}; add --target",
                          util::join(*targets, ", "));
      }
      which = targets->front();
    }
    auto found = catalog_.find({.target = which});
    if (!found) return std::unexpected(found.error());
    if (found->empty()) return make_error(ErrorKind::not_found, "'latest': no snapshots of target '{}'", which);
    if (auto chosen = first_eligible(*found, automatic)) return *chosen;
    return make_error(ErrorKind::not_found, "'latest': target '{}' has only snapshots dbsnap took itself ({}); "
                      "name one by id or pass --include-automatic", which, describe_candidates(*found, 3));
  }

  if (parsed->kind == SnapshotReference::Kind::revision) {
    const std::string& revision = parsed->value;
    auto found = catalog_.find({.target = target, .revision = revision});
    if (!found) return std::unexpected(found.error());
    if (found->empty()) {
      found = catalog_.find({.target = target, .revision_prefix = revision});
      if (!found) return std::unexpected(found.error());
      std::set<std::string> matching;
      for (const auto& m : *found) {
        for (const auto& r : m.revisions) {
          if (r.starts_with(revision)) matching.insert(r);
        }
      }
      if (matching.size() > 1) {
        return make_error(ErrorKind::not_found, "revision '{}' is ambiguous: {}", revision,
                          util::join(std::vector<std::string>(matching.begin(), matching.end()), ", "));
      }
    }
    if (found->empty()) {
      return make_error(ErrorKind::not_found, "no snapshot at revision '{}'{}", revision,
                        target.empty() ? std::string() : fmt::format(" of target '{}'", target));
    }
    if (auto chosen = first_eligible(*found, automatic)) return *chosen;
    return make_error(ErrorKind::not_found, "revision '{}'{}: only snapshots dbsnap took itself ({}); name one by "
                      "id or pass --include-automatic", revision,
                      target.empty() ? std::string() : fmt::format(" of target '{}'", target),
                      describe_candidates(*found, 3));
  }

  const std::string& prefix = parsed->value;
  auto found = catalog_.find({.target = target, .id_prefix = prefix});
  if (!found) return std::unexpected(found.error());
  for (const auto& m : *found) {
    if (m.id == prefix) return m;
  }
  if (found->size() == 1) return found->front();
  if (found->empty()) {
    auto recent = catalog_.find({.target = target});
    if (!recent) return std::unexpected(recent.error());
    return make_error(ErrorKind::not_found, "no snapshot '{}'{}", ref,
                      recent->empty() ? std::string(" (the store has none)")
                                      : fmt::format("; newest: {}", describe_candidates(*recent, 5)));
  }
  return make_error(ErrorKind::not_found, "snapshot '{}' is ambiguous: {}", ref, describe_candidates(*found, 10));
}

}  // namespace dbsnap::store
