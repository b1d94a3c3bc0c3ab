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

constexpr const char* catalog_name = "catalog.db";
constexpr const char* index_name = "index.db";
constexpr const char* scratch_dir = ".scratch";

std::string describe_candidates(const std::vector<Manifest>& snapshots, std::size_t max) {
  std::vector<std::string> parts;
  for (std::size_t i = 0; i < snapshots.size() && i < max; ++i) {
    const auto& m = snapshots[i];
    parts.push_back(fmt::format("{} ({}, {}, rev {})", m.id, m.target, m.created_at, util::revision_text(m.revisions)));
  }
  if (snapshots.size() > max) parts.push_back(fmt::format("and {} more", snapshots.size() - max));
  return util::join(parts, "; ");
}

// Dumps are secrets: the store folder is 0700 (FORMAT.md). A folder the user
// made with a wider mode is narrowed when it is ours; otherwise a warning says so.
void keep_private(const fs::path& root) {
  struct stat st {};
  if (::stat(root.c_str(), &st) != 0 || (st.st_mode & 077) == 0) return;
  const bool ours = st.st_uid == ::geteuid() && (st.st_mode & S_ISVTX) == 0;
  if (ours && ::chmod(root.c_str(), 0700) == 0) return;
  std::fprintf(stderr, "dbsnap: warning: the store folder %s has mode %04o: other users can see into it; dumps are "
               "secrets: use a folder only you can read (chmod 700)\n", root.c_str(),
               static_cast<unsigned>(st.st_mode & 07777));
}

// The newest snapshot `latest` or `@REV` may pick from `newest_first`.
std::optional<Manifest> first_eligible(const std::vector<Manifest>& newest_first, AutomaticSnapshots automatic) {
  for (const auto& m : newest_first) {
    if (automatic == AutomaticSnapshots::include || !m.automatic) return m;
  }
  return std::nullopt;
}

}  // namespace

Store::Store(fs::path root, Catalog catalog, bool writable, std::unique_ptr<Backend> backend, std::string location,
             bool remote)
    : root_(std::move(root)),
      catalog_(std::move(catalog)),
      writable_(writable),
      backend_(backend ? std::move(backend)
                       : std::make_unique<local::LocalBackend>(root_, writable ? BackendAccess::write
                                                                               : BackendAccess::read)),
      location_(location.empty() ? root_.string() : std::move(location)),
      remote_(remote) {}

namespace {

// The folder a store location names: a path, or file:///path; std::nullopt
// for any other scheme ("s3://bucket/prefix"), a remote store.
std::optional<fs::path> local_root(const fs::path& location) {
  const std::string text = location.string();
  const auto sep = text.find("://");
  if (sep == std::string::npos || !has_scheme(text)) return location;
  if (text.substr(0, sep) == "file") return fs::path(text.substr(sep + 3));
  return std::nullopt;
}

// Opens the catalog at `path`, setting a damaged one aside when asked.
Expected<Catalog> open_catalog(const fs::path& path, CatalogRecovery recovery) {
  auto catalog = Catalog::open(path);
  // Only a damaged catalog is set aside: one from a newer dbsnap, or one that cannot be written, stays as it is.
  if (recovery == CatalogRecovery::set_aside && Catalog::looks_damaged(path)) {
    catalog = std::unexpected(Error{});  // close it before the rename
    const std::string aside = fmt::format("{}.damaged-{}", path.string(), util::now_ms().time_since_epoch().count());
    for (const char* suffix : {"", "-wal", "-shm"}) {
      std::error_code ec;
      fs::rename(path.string() + suffix, aside + suffix, ec);
    }
    catalog = Catalog::open(path);
  }
  return catalog;
}

}  // namespace

Expected<fs::path> cache_folder(std::string_view location) {
  fs::path base;
  if (const char* env = std::getenv("DBSNAP_CACHE_DIR"); env && *env) {
    base = env;
  } else if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg) {
    base = fs::path(xdg) / "dbsnap";
  } else if (const char* home = std::getenv("HOME"); home && *home) {
    base = fs::path(home) / ".cache" / "dbsnap";
  } else {
    return make_error(ErrorKind::config, "store '{}': no folder for its local cache (catalog, index, locks): set "
                      "DBSNAP_CACHE_DIR or HOME", util::printable(location));
  }
  auto digest = pipeline::sha256_hex(
      pipeline::Bytes(reinterpret_cast<const std::byte*>(location.data()), location.size()));
  if (!digest) return std::unexpected(digest.error());
  return (fs::absolute(base) / "stores" / digest->substr(0, 16)).lexically_normal();
}

Expected<Store> Store::open_remote(const std::string& location, CatalogRecovery recovery) {
  auto backend = open_backend(location, BackendAccess::write);
  if (!backend) return std::unexpected(backend.error());
  auto cache = cache_folder(location);
  if (!cache) return std::unexpected(cache.error());
  if (auto r = util::ensure_private_dir(*cache); !r) return std::unexpected(r.error());
  // For people who find the folder: which store it caches.
  if (std::error_code ec; !fs::exists(*cache / "location", ec)) {
    if (auto r = util::write_file_atomic(*cache / "location", location + "\n"); !r) return std::unexpected(r.error());
  }
  auto acquired = util::FileLock::acquire(*cache / lock_name);
  if (!acquired) return std::unexpected(acquired.error());
  std::error_code missing_ec;
  const bool catalog_missing = !fs::exists(*cache / catalog_name, missing_ec);
  auto catalog = open_catalog(*cache / catalog_name, recovery);
  if (!catalog) return std::unexpected(catalog.error());
  util::remove_stale_temp_files(*cache);
  return finish_open(Store(*cache, std::move(*catalog), true, std::move(*backend), location, true),
                     std::move(*acquired), catalog_missing);
}

Expected<Store> Store::open(const fs::path& root_in, CatalogRecovery recovery, StoreAccess access) {
  auto local = local_root(root_in);
  if (!local) return open_remote(root_in.string(), recovery);
  fs::path root = fs::absolute(*local).lexically_normal();
  if (access == StoreAccess::read) {
    std::error_code ec;
    const fs::path catalog = root / catalog_name;
    const bool usable = fs::is_directory(root, ec) && ::access(root.c_str(), W_OK | X_OK) == 0 &&
                        (!fs::exists(catalog, ec) || ::access(catalog.c_str(), W_OK) == 0);
    if (!usable) return open_unwritable(root);
  }
  if (auto r = util::ensure_private_dir(root); !r) return std::unexpected(r.error());
  if (std::error_code ec; !fs::is_directory(root, ec)) {
    return make_error(ErrorKind::failure, "the store {} is not a folder (--store chooses another)", root.string());
  }
  if (::access(root.c_str(), W_OK | X_OK) != 0) {
    return make_error(ErrorKind::failure, "cannot write to the store folder {} ({}); dbsnap keeps its lock, catalog "
                      "and snapshots there (--store chooses another)", root.string(), std::strerror(errno));
  }
  auto acquired = util::FileLock::acquire(root / lock_name);
  if (!acquired) return std::unexpected(acquired.error());
  std::error_code missing_ec;
  const bool catalog_missing = !fs::exists(root / catalog_name, missing_ec);
  auto catalog = open_catalog(root / catalog_name, recovery);
  if (!catalog) return std::unexpected(catalog.error());
  Store store(root, std::move(*catalog), true, nullptr, {}, false);
  keep_private(root);
  store.report_symlinks();
  util::remove_stale_temp_files(root);
  // Under the store lock: no publish of this host is between its data and its manifest.
  if (auto r = store.remove_unpublished_blobs(); !r) return std::unexpected(r.error());
  return finish_open(std::move(store), std::move(*acquired), catalog_missing);
}

Expected<Store> Store::finish_open(Store store, std::optional<util::FileLock> lock, bool catalog_missing) {
  if (!catalog_missing) {
    if (auto r = store.reconcile_catalog(); !r) return std::unexpected(r.error());
    return store;
  }
  auto files = store.snapshot_files();
  if (!files) return std::unexpected(files.error());
  const bool has_manifests = std::ranges::any_of(*files, [](const auto& entry) {
    return std::ranges::any_of(entry.second, [](const std::string& f) { return f.ends_with(".json"); });
  });
  if (has_manifests) {
    lock.reset();  // rebuild_catalog takes the lock itself
    std::vector<std::string> skipped;
    auto count = store.rebuild_catalog(skipped);
    if (!count) return std::unexpected(count.error());
    std::fprintf(stderr, "dbsnap: %s was missing; rebuilt it from %zu manifest(s)%s\n",
                 (store.root_ / catalog_name).c_str(), *count,
                 store.remote_ ? fmt::format(" in {}", util::printable(store.location_)).c_str() : "");
  }
  return store;
}

Expected<std::map<std::string, std::vector<std::string>>> Store::snapshot_files() const {
  auto listed = backend_->list();
  if (!listed) return std::unexpected(listed.error());
  std::map<std::string, std::vector<std::string>> files;
  for (const auto& object : *listed) {
    const auto slash = object.name.find('/');
    if (slash == std::string::npos || object.name.find('/', slash + 1) != std::string::npos) continue;
    const std::string target = object.name.substr(0, slash);
    if (!is_valid_target_name(target)) continue;
    files[target].push_back(object.name.substr(slash + 1));
  }
  return files;  // the listing is sorted, and so each folder's names
}

void Store::report_symlinks() const {
  if (remote_) return;
  auto report = [](const fs::path& link) {
    std::error_code ec;
    const fs::path to = fs::read_symlink(link, ec);
    std::fprintf(stderr, "dbsnap: warning: %s is a symbolic link (to %s); dbsnap never follows links in its store: "
                 "it is not read, cleaned or indexed\n", link.c_str(), ec ? "?" : to.c_str());
  };
  std::error_code ec;
  std::vector<fs::path> dirs;
  for (const auto& entry : fs::directory_iterator(root_, ec)) {
    std::error_code st;
    const auto type = entry.symlink_status(st).type();
    if (type == fs::file_type::symlink) report(entry.path());
    if (type == fs::file_type::directory && !entry.path().filename().string().starts_with(".")) {
      dirs.push_back(entry.path());
    }
  }
  for (const auto& dir : dirs) {
    for (const auto& entry : fs::directory_iterator(dir, ec)) {
      std::error_code st;
      if (entry.symlink_status(st).type() == fs::file_type::symlink) report(entry.path());
    }
  }
}

Expected<Store> Store::open_unwritable(const fs::path& root) {
  std::error_code ec;
  if (!fs::exists(root, ec)) {
    auto empty = Catalog::in_memory();  // nothing there, and a reader creates nothing
    if (!empty) return std::unexpected(empty.error());
    return Store(root, std::move(*empty), false, nullptr, {}, false);
  }
  if (!fs::is_directory(root, ec)) {
    return make_error(ErrorKind::failure, "the store {} is not a folder (--store chooses another)", root.string());
  }
  if (fs::exists(root / catalog_name, ec)) {
    auto catalog = Catalog::open_read_only(root / catalog_name);
    if (!catalog) return std::unexpected(catalog.error());
    Store store(root, std::move(*catalog), false, nullptr, {}, false);
    store.report_symlinks();
    return store;
  }
  auto catalog = Catalog::in_memory();
  if (!catalog) return std::unexpected(catalog.error());
  Store store(root, std::move(*catalog), false, nullptr, {}, false);
  store.report_symlinks();
  std::vector<std::string> skipped;
  auto manifests = store.collect_manifests(skipped);
  if (!manifests) return std::unexpected(manifests.error());
  if (auto r = store.catalog_.replace_all(*manifests); !r) return std::unexpected(r.error());
  return store;
}

Expected<void> Store::check_writable() const {
  if (writable_) return {};
  return make_error(ErrorKind::failure, "the store {} is read-only here (opened for reading only)", root_.string());
}

Expected<void> Store::remove_unpublished_blobs() {
  // Under the store lock (held by open), or for a remote store under the
  // repository lock held alone (collect_garbage): a blob without a manifest
  // is the remains of a publish that crashed between the blob's commit and
  // the manifest's (the commit point); it was never listed.
  // Likewise a chunk list without a manifest (its packs are garbage
  // collection's). A snapshot with both a blob and a chunk list is one a
  // conversion (store/convert.cpp) was stopped in: its manifest says which
  // one is the snapshot's; the other goes.
  auto files = snapshot_files();
  if (!files) return std::unexpected(files.error());
  for (const auto& [target, names] : *files) {
    const std::set<std::string> present(names.begin(), names.end());
    std::map<std::string, std::vector<std::string>> data_files;
    for (const auto& name : names) {
      if (!name.ends_with(".zst") && !name.ends_with(".chunks")) continue;
      const std::string id = name.substr(0, name.find('.'));
      if (!is_valid_snapshot_id(id)) continue;
      if (!present.contains(id + ".json")) {
        if (auto r = backend_->remove(target + "/" + name); !r && r.error().kind != ErrorKind::not_found) return r;
      } else {
        data_files[id].push_back(name);
      }
    }
    for (const auto& [id, data] : data_files) {
      if (data.size() < 2) continue;
      auto text = read_object(*backend_, target + "/" + id + ".json", 1024 * 1024);
      auto manifest = text ? parse_manifest(*text) : Expected<Manifest>(std::unexpected(text.error()));
      if (!manifest || manifest->id != id) continue;  // verify and catalog rebuild report it
      const std::string keep = manifest->layout == DataLayout::chunks ? manifest->chunk_list : manifest->blob_file;
      for (const auto& name : data) {
        if (name == keep) continue;
        if (auto r = backend_->remove(target + "/" + name); !r && r.error().kind != ErrorKind::not_found) return r;
      }
      // The row of a conversion stopped before it was indexed.
      if (auto r = catalog_.put(*manifest); !r) {
        std::fprintf(stderr, "dbsnap: warning: cannot index snapshot %s: %s\n", id.c_str(), r.error().message.c_str());
      }
    }
  }
  return {};
}

Expected<void> Store::reconcile_catalog() {
  // Under the store lock (held by open). A snapshot exists from the moment its
  // manifest is renamed into place (FORMAT.md: the commit point) until the
  // moment its manifest is removed; the catalog row follows. A run killed
  // between the two leaves a manifest without a row, or a row without a
  // manifest: make the index say what the manifests say. For a remote
  // store this is also how snapshots other hosts published or removed reach
  // this host's catalog.
  auto indexed = catalog_.ids();
  if (!indexed) return std::unexpected(indexed.error());
  auto files = snapshot_files();
  if (!files) return std::unexpected(files.error());
  std::set<std::string> listed(indexed->begin(), indexed->end());
  std::set<std::string> seen;
  for (const auto& [target, names] : *files) {
    const std::set<std::string> present(names.begin(), names.end());
    for (const auto& name : names) {
      if (!name.ends_with(".json")) continue;
      const std::string id = name.substr(0, name.size() - 5);
      if (!is_valid_snapshot_id(id)) continue;
      seen.insert(id);
      if (listed.contains(id)) continue;
      auto text = read_object(*backend_, target + "/" + name, 1024 * 1024);
      auto manifest = text ? parse_manifest(*text) : Expected<Manifest>(std::unexpected(text.error()));
      if (!manifest || manifest->id != id || manifest->target != target) continue;  // rebuild reports it
      const std::string data = manifest->layout == DataLayout::chunks ? manifest->chunk_list : manifest->blob_file;
      if (!present.contains(data)) continue;
      if (auto r = catalog_.put(*manifest); !r) return r;
      if (!remote_) {
        std::fprintf(stderr, "dbsnap: snapshot %s of '%s' was published by a run that stopped before it indexed "
                     "it; indexed it now\n", id.c_str(), manifest->target.c_str());
      }
    }
  }
  for (const auto& id : listed) {
    if (seen.contains(id)) continue;
    if (auto r = catalog_.remove(id); !r) return r;
  }
  return {};
}

Expected<PendingSnapshot> Store::begin(const std::string& target, const std::string& extension, int level) {
  if (auto r = check_writable(); !r) return std::unexpected(r.error());
  if (!is_valid_target_name(target)) {
    return make_error(ErrorKind::config, "target name '{}' is not usable as a folder name", target);
  }
  const fs::path dir = root_ / target;
  if (std::error_code ec; !remote_ && fs::symlink_status(dir, ec).type() == fs::file_type::symlink) {
    return make_error(ErrorKind::failure, "the store's folder {} is a symbolic link; dbsnap never follows links in "
                      "its store (replace it with a folder)", dir.string());
  }
  std::string id = new_snapshot_id(util::now_ms());
  PendingSnapshot pending;
  pending.id = id;
  pending.target = target;
  pending.layout = layout_;
  if (layout_ == DataLayout::blob) {
    pending.blob_file = fmt::format("{}.{}.zst", id, extension);
    auto blob = backend_->create(target + "/" + pending.blob_file, IfExists::fail);
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
  auto writer = repo::SnapshotWriter::create(*backend_, *pending.chunk_store, target + "/" + pending.chunk_list);
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
  if (auto r = write_object(*backend_, manifest_object(manifest), to_json(manifest).dump(2) + "\n"); !r) {
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
  auto manifest = parse_manifest(*text);
  if (!manifest) return std::unexpected(with_context(manifest.error(), manifest_location(indexed)));
  return manifest;
}

Expected<void> Store::update(const Manifest& manifest) {
  if (auto r = check_writable(); !r) return std::unexpected(r.error());
  auto lock = util::FileLock::acquire(root_ / lock_name);
  if (!lock) return std::unexpected(lock.error());
  if (auto r = write_object(*backend_, manifest_object(manifest), to_json(manifest).dump(2) + "\n"); !r) return r;
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

Expected<std::vector<Manifest>> Store::collect_manifests(std::vector<std::string>& skipped) const {
  auto files = snapshot_files();
  if (!files) return std::unexpected(files.error());
  std::vector<Manifest> manifests;
  for (const auto& [target, names] : *files) {
    const std::set<std::string> present(names.begin(), names.end());
    for (const auto& name : names) {
      if (!name.ends_with(".json")) continue;
      const std::string object = target + "/" + name;
      const std::string where = backend_->locate(object);
      auto text = read_object(*backend_, object, 1024 * 1024);
      if (!text && text.error().kind != ErrorKind::not_found && text.error().kind != ErrorKind::corrupt) {
        return std::unexpected(text.error());  // the backend failed: never index on partial knowledge
      }
      auto manifest = text ? parse_manifest(*text) : Expected<Manifest>(std::unexpected(text.error()));
      if (!manifest) {
        skipped.push_back(fmt::format("{}: {}", where, manifest.error().message));
        continue;
      }
      if (manifest->target != target || name != manifest->id + ".json") {
        skipped.push_back(fmt::format("{}: its id or target does not match where it is", where));
        continue;
      }
      const std::string data = manifest->layout == DataLayout::chunks ? manifest->chunk_list : manifest->blob_file;
      if (!present.contains(data)) {
        skipped.push_back(fmt::format("{}: its blob {} is missing", where, data));
        continue;
      }
      manifests.push_back(std::move(*manifest));
    }
  }
  return manifests;
}

Expected<std::size_t> Store::rebuild_catalog(std::vector<std::string>& skipped) {
  if (auto r = check_writable(); !r) return std::unexpected(r.error());
  auto lock = util::FileLock::acquire(root_ / lock_name);
  if (!lock) return std::unexpected(lock.error());
  // In place, in one transaction, under the store lock: other dbsnap processes
  // keep the same catalog file open and see the old index or the new one.
  std::error_code ec;
  if (!fs::is_directory(root_, ec)) {
    return make_error(ErrorKind::failure, "cannot read the store folder {}: {}", root_.string(),
                      ec ? ec.message() : "not a folder");
  }
  auto manifests = collect_manifests(skipped);
  if (!manifests) return std::unexpected(manifests.error());
  if (std::error_code gone; !fs::exists(root_ / catalog_name, gone)) {
    // Deleted while we had it open: index into a new file at its place, not into the unlinked one.
    auto fresh = Catalog::open(root_ / catalog_name);
    if (!fresh) return std::unexpected(fresh.error());
    catalog_ = std::move(*fresh);
  }
  if (auto r = catalog_.replace_all(*manifests); !r) return std::unexpected(r.error());
  return manifests->size();
}

std::string Store::blob_object(const Manifest& manifest) {
  return manifest.target + "/" + (manifest.layout == DataLayout::chunks ? manifest.chunk_list : manifest.blob_file);
}

std::string Store::manifest_object(const Manifest& manifest) { return manifest.target + "/" + manifest.id + ".json"; }

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
