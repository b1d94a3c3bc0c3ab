#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "dbsnap/store/manifest.hpp"
#include "dbsnap/util/error.hpp"

namespace dbsnap::store {

// The schema version of catalog.db this build writes (PRAGMA user_version).
inline constexpr int catalog_schema_version = 1;

// Which snapshots a query returns. Empty fields do not filter.
struct CatalogFilter {
  std::string target;
  std::string revision;         // snapshots whose revision set contains this exact revision
  std::string revision_prefix;  // or one starting with this prefix
  std::string id_prefix;
};

// The SQLite catalog of published snapshots (catalog.db in the store, WAL
// mode). It is an index: the manifests are the truth, and rebuild() can
// recreate it from them. Opening migrates an older schema forward and
// refuses a newer one.
class Catalog {
 public:
  // Opens (creating) a catalog. Errors, one line each: a catalog written by
  // a newer dbsnap (left untouched), a catalog file that is not writable, a
  // damaged one (naming `dbsnap catalog rebuild`), a full file system.
  static Expected<Catalog> open(const std::filesystem::path& path);
  // Opens an existing catalog that this process cannot or must not write
  // (a store on a read-only mount): SQLite's immutable mode, which needs no
  // -wal/-shm files beside it. Writes through it fail.
  static Expected<Catalog> open_read_only(const std::filesystem::path& path);
  // An empty catalog in memory: the index of a store that has no catalog.db
  // and may not get one (a read-only command on a store it cannot write).
  static Expected<Catalog> in_memory();
  // The schema version recorded in an existing catalog file's header (where
  // a checkpoint puts it), read without SQLite so that nothing is created
  // beside it; std::nullopt when the file is not an SQLite database.
  static std::optional<int> schema_version(const std::filesystem::path& path);
  // True when an existing catalog file is not an SQLite database or fails
  // SQLite's quick_check: what `catalog rebuild` sets aside.
  static bool looks_damaged(const std::filesystem::path& path);
  Catalog(Catalog&&) noexcept;
  Catalog& operator=(Catalog&&) noexcept;
  ~Catalog();

  // Inserts or replaces one snapshot, revisions included, in one transaction.
  Expected<void> put(const Manifest& manifest);
  // Replaces every row with these snapshots, in one transaction: other
  // processes see the old index or the new one, never a mix.
  Expected<void> replace_all(const std::vector<Manifest>& manifests);
  // Removes one snapshot's row; removing an absent id is not an error.
  Expected<void> remove(const std::string& id);
  // Snapshots matching the filter, newest first.
  Expected<std::vector<Manifest>> find(const CatalogFilter& filter) const;
  // Every snapshot id in the catalog.
  Expected<std::vector<std::string>> ids() const;
  // Every distinct target name in the catalog.
  Expected<std::vector<std::string>> targets() const;

 private:
  struct Impl;
  explicit Catalog(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace dbsnap::store
