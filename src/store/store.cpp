#include "dbsnap/store/store.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <set>

#include <unistd.h>

#include "dbsnap/store/ids.hpp"
#include "dbsnap/util/text.hpp"

namespace dbsnap::store {

namespace {

constexpr const char* lock_name = ".lock";
constexpr const char* catalog_name = "catalog.db";
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

}  // namespace

Expected<Store> Store::open(const fs::path& root_in, CatalogRecovery recovery) {
  fs::path root = fs::absolute(root_in).lexically_normal();
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
  std::optional<util::FileLock> lock(std::move(*acquired));
  std::error_code missing_ec;
  const bool catalog_missing = !fs::exists(root / catalog_name, missing_ec);
  auto catalog = Catalog::open(root / catalog_name);
  // Only a damaged catalog is set aside: one from a newer dbsnap, or one that cannot be written, stays as it is.
  if (recovery == CatalogRecovery::set_aside && Catalog::looks_damaged(root / catalog_name)) {
    catalog = std::unexpected(Error{});  // close it before the rename
    const fs::path live = root / catalog_name;
    const std::string aside = fmt::format("{}.damaged-{}", live.string(), util::now_ms().time_since_epoch().count());
    for (const char* suffix : {"", "-wal", "-shm"}) {
      std::error_code ec;
      fs::rename(live.string() + suffix, aside + suffix, ec);
    }
    catalog = Catalog::open(live);
  }
  if (!catalog) return std::unexpected(catalog.error());
  Store store(root, std::move(*catalog));
  util::remove_stale_temp_files(root);
  store.remove_unpublished_blobs();
  if (catalog_missing && store.has_manifests()) {
    lock.reset();  // rebuild_catalog takes the lock itself
    std::vector<std::string> skipped;
    auto count = store.rebuild_catalog(skipped);
    if (!count) return std::unexpected(count.error());
    std::fprintf(stderr, "dbsnap: %s was missing; rebuilt it from %zu manifest(s)\n",
                 (root / catalog_name).c_str(), *count);
  }
  return store;
}

bool Store::has_manifests() const {
  std::error_code ec;
  for (const auto& dir : fs::directory_iterator(root_, ec)) {
    if (!dir.is_directory() || dir.path().filename().string().starts_with(".")) continue;
    for (const auto& entry : fs::directory_iterator(dir.path(), ec)) {
      if (entry.path().extension() == ".json") return true;
    }
  }
  return false;
}

void Store::remove_unpublished_blobs() {
  // Under the store lock (held by open): a blob without a manifest is the
  // remains of a publish that crashed between the blob's rename and the
  // manifest's; it was never listed.
  std::error_code ec;
  for (const auto& dir : fs::directory_iterator(root_, ec)) {
    if (!dir.is_directory() || dir.path().filename().string().starts_with(".")) continue;
    for (const auto& entry : fs::directory_iterator(dir.path(), ec)) {
      const std::string name = entry.path().filename().string();
      if (!name.ends_with(".zst")) continue;
      const std::string id = name.substr(0, name.find('.'));
      if (!is_valid_snapshot_id(id)) continue;
      if (!fs::exists(dir.path() / (id + ".json"))) {
        std::error_code rm;
        fs::remove(entry.path(), rm);
      }
    }
  }
}

Expected<PendingSnapshot> Store::begin(const std::string& target, const std::string& extension) {
  if (!is_valid_target_name(target)) {
    return make_error(ErrorKind::config, "target name '{}' is not usable as a folder name", target);
  }
  const fs::path dir = root_ / target;
  if (auto r = util::ensure_private_dir(dir); !r) return std::unexpected(r.error());
  std::string id = new_snapshot_id(util::now_ms());
  auto blob = util::AtomicFile::create(dir / fmt::format("{}.{}.zst", id, extension));
  if (!blob) return std::unexpected(blob.error());
  return PendingSnapshot{std::move(id), target, std::move(*blob)};
}

Expected<void> Store::publish(PendingSnapshot& pending, Manifest manifest) {
  manifest.id = pending.id;
  manifest.target = pending.target;
  manifest.blob_file = pending.blob.final_path().filename().string();
  auto lock = util::FileLock::acquire(root_ / lock_name);
  if (!lock) return std::unexpected(lock.error());
  if (auto r = pending.blob.commit(); !r) return r;
  if (auto r = util::write_file_atomic(manifest_path(manifest), to_json(manifest).dump(2) + "\n"); !r) {
    std::error_code ec;
    fs::remove(blob_path(manifest), ec);
    return r;
  }
  if (auto r = catalog_.put(manifest); !r) {
    std::error_code ec;
    fs::remove(manifest_path(manifest), ec);
    fs::remove(blob_path(manifest), ec);
    return r;
  }
  return {};
}

Expected<void> Store::update(const Manifest& manifest) {
  auto lock = util::FileLock::acquire(root_ / lock_name);
  if (!lock) return std::unexpected(lock.error());
  if (auto r = util::write_file_atomic(manifest_path(manifest), to_json(manifest).dump(2) + "\n"); !r) return r;
  return catalog_.put(manifest);
}

Expected<void> Store::remove(const Manifest& manifest) {
  auto lock = util::FileLock::acquire(root_ / lock_name);
  if (!lock) return std::unexpected(lock.error());
  if (auto r = catalog_.remove(manifest.id); !r) return r;
  std::error_code ec;
  fs::remove(manifest_path(manifest), ec);
  if (ec) return make_error(ErrorKind::failure, "cannot remove {}: {}", manifest_path(manifest).string(), ec.message());
  fs::remove(blob_path(manifest), ec);
  if (ec) return make_error(ErrorKind::failure, "cannot remove {}: {}", blob_path(manifest).string(), ec.message());
  return util::fsync_dir(manifest_path(manifest).parent_path());
}

Expected<std::size_t> Store::rebuild_catalog(std::vector<std::string>& skipped) {
  auto lock = util::FileLock::acquire(root_ / lock_name);
  if (!lock) return std::unexpected(lock.error());
  // In place, in one transaction, under the store lock: other dbsnap processes
  // keep the same catalog file open and see the old index or the new one.
  std::vector<Manifest> manifests;
  std::error_code ec;
  for (const auto& dir : fs::directory_iterator(root_, ec)) {
    if (!dir.is_directory() || dir.path().filename().string().starts_with(".")) continue;
    for (const auto& entry : fs::directory_iterator(dir.path(), ec)) {
      if (entry.path().extension() != ".json") continue;
      auto text = util::read_small_file(entry.path());
      auto manifest = text ? parse_manifest(*text) : Expected<Manifest>(std::unexpected(text.error()));
      if (!manifest) {
        skipped.push_back(fmt::format("{}: {}", entry.path().string(), manifest.error().message));
        continue;
      }
      if (manifest->target != dir.path().filename().string() || entry.path().filename() != manifest->id + ".json") {
        skipped.push_back(fmt::format("{}: its id or target does not match where it is", entry.path().string()));
        continue;
      }
      if (!fs::exists(blob_path(*manifest))) {
        skipped.push_back(fmt::format("{}: its blob {} is missing", entry.path().string(), manifest->blob_file));
        continue;
      }
      manifests.push_back(std::move(*manifest));
    }
  }
  if (ec) return make_error(ErrorKind::failure, "cannot read the store folder {}: {}", root_.string(), ec.message());
  if (std::error_code gone; !fs::exists(root_ / catalog_name, gone)) {
    // Deleted while we had it open: index into a new file at its place, not into the unlinked one.
    auto fresh = Catalog::open(root_ / catalog_name);
    if (!fresh) return std::unexpected(fresh.error());
    catalog_ = std::move(*fresh);
  }
  if (auto r = catalog_.replace_all(manifests); !r) return std::unexpected(r.error());
  return manifests.size();
}

fs::path Store::blob_path(const Manifest& manifest) const { return root_ / manifest.target / manifest.blob_file; }

fs::path Store::manifest_path(const Manifest& manifest) const {
  return root_ / manifest.target / (manifest.id + ".json");
}

Expected<std::pair<util::UniqueFd, fs::path>> Store::scratch_file(std::string_view stem) const {
  if (auto r = util::ensure_private_dir(root_ / scratch_dir); !r) return std::unexpected(r.error());
  return util::make_private_temp(root_ / scratch_dir, stem);
}

Expected<Manifest> Store::resolve(std::string_view reference, const std::string& target) {
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
    return found->front();
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
    return found->front();
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
