// Keeping the catalog true to the store: the manifests are the truth about
// which snapshots exist (their commit point, FORMAT.md); the catalog is an
// index that reconcile_catalog() and rebuild_catalog() bring back to them,
// and remove_unpublished_blobs() takes away data no manifest names.

#include <cstdio>
#include <map>
#include <set>
#include <sstream>

#include "dbsnap/store/ids.hpp"
#include "dbsnap/store/store.hpp"

namespace dbsnap::store {

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
      auto manifest = text ? parse_manifest(*text, *backend_) : Expected<Manifest>(std::unexpected(text.error()));
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
  std::map<std::string, std::string> versions;
  auto files = snapshot_files(remote_ ? &versions : nullptr);
  if (!files) return std::unexpected(files.error());
  std::set<std::string> listed(indexed->begin(), indexed->end());
  std::set<std::string> seen;
  std::set<std::string> just_read;  // manifests read (after the listing) to index them now
  for (const auto& [target, names] : *files) {
    const std::set<std::string> present(names.begin(), names.end());
    for (const auto& name : names) {
      if (!name.ends_with(".json")) continue;
      const std::string id = name.substr(0, name.size() - 5);
      if (!is_valid_snapshot_id(id)) continue;
      seen.insert(id);
      if (listed.contains(id)) continue;
      auto text = read_object(*backend_, target + "/" + name, 1024 * 1024);
      auto manifest = text ? parse_manifest(*text, *backend_) : Expected<Manifest>(std::unexpected(text.error()));
      if (!manifest || manifest->id != id || manifest->target != target) continue;  // rebuild reports it
      const std::string data = manifest->layout == DataLayout::chunks ? manifest->chunk_list : manifest->blob_file;
      if (!present.contains(data)) continue;
      if (auto r = catalog_.put(*manifest); !r) return r;
      just_read.insert(target + "/" + name);
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
  if (remote_) return refresh_rewritten_manifests(versions, just_read);
  return {};
}

Expected<void> Store::refresh_rewritten_manifests(const std::map<std::string, std::string>& versions,
                                                  const std::set<std::string>& just_read) {
  // "<target>/<id>.json <version>" per line, as this host last read them. A
  // missing or unreadable record means: read every indexed manifest once.
  std::map<std::string, std::string> recorded;
  const auto text = util::read_small_file(root_ / manifest_versions_name);
  if (text) {
    std::istringstream in(*text);
    std::string line;
    while (std::getline(in, line)) {
      const auto space = line.find(' ');
      if (space != std::string::npos) recorded[line.substr(0, space)] = line.substr(space + 1);
    }
  }
  auto indexed = catalog_.find({});
  if (!indexed) return std::unexpected(indexed.error());
  std::string record;
  for (const auto& row : *indexed) {
    const std::string object = manifest_object(row);
    const auto listed = versions.find(object);
    if (listed == versions.end()) continue;
    const auto seen_before = recorded.find(object);
    const bool unchanged = !listed->second.empty() && seen_before != recorded.end() &&
                           seen_before->second == listed->second;
    if (!unchanged && !just_read.contains(object)) {
      // Read after the listing: a rewrite in between is read now and, its
      // version not matching the one recorded, read again next time.
      auto manifest = load_manifest(row);
      if (!manifest) {
        if (manifest.error().kind != ErrorKind::corrupt) return std::unexpected(manifest.error());
        continue;  // verify says what is wrong with it
      }
      if (manifest->id != row.id || manifest->target != row.target) continue;
      if (to_json(*manifest) != to_json(row)) {
        if (auto r = catalog_.put(*manifest); !r) return r;
      }
    }
    record += object + " " + listed->second + "\n";
  }
  // A cache: when it cannot be written, the next open reads the manifests
  // again. Written only when it changed (most opens change nothing).
  if (!text || *text != record) (void)util::write_file_atomic(root_ / manifest_versions_name, record);
  return {};
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
      auto manifest = text ? parse_manifest(*text, *backend_) : Expected<Manifest>(std::unexpected(text.error()));
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

}  // namespace dbsnap::store
