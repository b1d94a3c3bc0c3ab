#pragma once

// The chunk index: which pack holds each chunk (index.db, SQLite, beside
// catalog.db in the store's local folder).
//
// Like the catalog it is an index, never the truth: the packs' own indexes
// are, and rebuild() recreates it from them. It lives on disk so that a
// backup's dedup lookups cost a B-tree probe each and memory stays constant
// however big the repository grows. A pack is indexed in one transaction
// after its object was committed; a pack that a killed run committed but
// never indexed is found by the next reconcile (a list of the backend's
// packs against the index).

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "dbsnap/store/repo/pack.hpp"

namespace dbsnap::store::repo {

inline constexpr int chunk_index_schema_version = 1;

// A chunk's place in the repository.
struct ChunkLocation {
  std::string pack;
  PackEntry entry;
};

class ChunkIndex {
 public:
  // Opens (creating) index.db at `path`. Errors: a newer schema, a damaged
  // or unwritable file (one line, naming the file).
  static Expected<ChunkIndex> open(const std::filesystem::path& path);
  // An index in memory (tests; a store this process cannot write).
  static Expected<ChunkIndex> in_memory();
  ChunkIndex(ChunkIndex&&) noexcept;
  ChunkIndex& operator=(ChunkIndex&&) noexcept;
  ~ChunkIndex();

  // Where a chunk is; std::nullopt when no indexed pack holds it.
  Expected<std::optional<ChunkLocation>> find(const ChunkId& id) const;
  // Indexes a committed pack and its entries, in one transaction (a chunk
  // already indexed in another pack keeps its first location).
  Expected<void> add_pack(const std::string& pack, std::uint64_t size, const std::vector<PackEntry>& entries);
  // Forgets a pack and the chunks it held, in one transaction.
  Expected<void> remove_pack(const std::string& pack);
  // Every indexed pack, sorted by name.
  Expected<std::vector<std::string>> packs() const;
  // Garbage collection (repo/gc): the live set is a temporary table on
  // disk, so memory stays constant whatever the repository's size.
  // Forgets the live set; mark_live() adds chunks to it.
  Expected<void> clear_live();
  Expected<void> mark_live(const std::vector<ChunkId>& ids);
  // Every indexed pack with how much of it is live.
  struct PackUsage {
    std::string name;
    std::uint64_t size = 0;
    std::uint64_t chunks = 0;
    std::uint64_t live_chunks = 0;
    std::uint64_t live_bytes = 0;  // stored bytes of its live chunks
  };
  Expected<std::vector<PackUsage>> pack_usage() const;
  // The live chunks a pack holds, in pack order.
  Expected<std::vector<PackEntry>> live_entries(const std::string& pack) const;
  // The chunks the index places in a pack, in pack order.
  Expected<std::vector<PackEntry>> entries(const std::string& pack) const;
  // In one transaction: forgets `old_packs` and indexes `new_packs` (whose
  // chunks take the place of the old ones').
  struct NewPack {
    std::string name;
    std::uint64_t size = 0;
    std::vector<PackEntry> entries;
  };
  Expected<void> replace_packs(const std::vector<std::string>& old_packs, const std::vector<NewPack>& new_packs);

  // How many chunks are indexed, and their stored bytes.
  Expected<std::pair<std::uint64_t, std::uint64_t>> totals() const;

 private:
  struct Impl;
  explicit ChunkIndex(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// What reconcile() found and did.
struct ReconcileReport {
  std::vector<std::string> indexed;     // committed packs the index did not know (a run killed before indexing)
  std::vector<std::string> forgotten;   // indexed packs the backend no longer has
  std::vector<std::string> unreadable;  // packs whose own index does not read (left in place, not indexed)
};

// Brings the index in line with the packs the backend holds (objects under
// "data/"): indexes the unknown ones from their own indexes, forgets the
// vanished ones. Errors: listing the backend, writing the index.
Expected<ReconcileReport> reconcile(const Backend& backend, ChunkIndex& index);

}  // namespace dbsnap::store::repo
