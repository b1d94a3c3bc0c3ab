#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "dbsnap/store/catalog.hpp"
#include "dbsnap/store/manifest.hpp"
#include "dbsnap/util/fs.hpp"

namespace dbsnap::store {

namespace fs = std::filesystem;

// A snapshot being written: its id and the temp file its blob goes to.
// Nothing of it is visible until Store::publish(); dropping it deletes the
// temp file.
struct PendingSnapshot {
  std::string id;
  std::string target;
  util::AtomicFile blob;
};

// The snapshot store: a folder (0700) holding catalog.db and one folder per
// target with <id>.<kind>.zst blobs and <id>.json manifests (FORMAT.md).
// Opening it removes temp files and unpublished blobs that crashed or killed
// runs left behind.
enum class CatalogRecovery {
  fail,         // a damaged catalog.db is an error
  set_aside,    // a damaged catalog.db is renamed to catalog.db.damaged-<time> and a new one started
};

class Store {
 public:
  static Expected<Store> open(const fs::path& root, CatalogRecovery recovery = CatalogRecovery::fail);

  const fs::path& root() const noexcept { return root_; }
  Catalog& catalog() noexcept { return catalog_; }

  // Starts a new snapshot of `target`; `extension` is the blob's kind, e.g. "sql" or "sqlite".
  Expected<PendingSnapshot> begin(const std::string& target, const std::string& extension);

  // Publishes a finished snapshot: the blob is fsynced and renamed into
  // place, then the manifest is written atomically, then the catalog row is
  // added in one transaction, all under the store lock.
  Expected<void> publish(PendingSnapshot& pending, Manifest manifest);

  // Rewrites a snapshot's manifest and catalog row (status changes).
  Expected<void> update(const Manifest& manifest);

  // Deletes a snapshot: catalog row first, then manifest and blob.
  Expected<void> remove(const Manifest& manifest);

  // Recreates catalog.db from the manifests found in the store, atomically.
  // Returns the number of snapshots indexed; manifests that do not parse are
  // reported in `skipped`.
  Expected<std::size_t> rebuild_catalog(std::vector<std::string>& skipped);

  fs::path blob_path(const Manifest& manifest) const;
  fs::path manifest_path(const Manifest& manifest) const;
  // A private temp file for scratch data (e.g. SQLite's online copy); removed by the caller.
  Expected<std::pair<util::UniqueFd, fs::path>> scratch_file(std::string_view stem) const;

  // Resolves a snapshot reference: a full id, a unique id prefix, "latest"
  // (newest of `target`, or of the only target in the store), or "@REV"
  // (newest snapshot taken at revision REV, or at the one revision starting
  // with REV). Unknown or ambiguous references are not_found errors that
  // list the candidates.
  Expected<Manifest> resolve(std::string_view reference, const std::string& target = {});

 private:
  Store(fs::path root, Catalog catalog) : root_(std::move(root)), catalog_(std::move(catalog)) {}
  void remove_unpublished_blobs();
  bool has_manifests() const;
  fs::path root_;
  Catalog catalog_;
};

}  // namespace dbsnap::store
