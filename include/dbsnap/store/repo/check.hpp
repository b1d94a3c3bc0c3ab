#pragma once

// The repository check: every pack read once, every chunk in it decoded and
// checked against its SHA-256 (what `verify --repository` runs).
//
// Reading pack by pack costs the repository's size once, however many
// snapshots share its chunks (reading each snapshot costs the sum of their
// dump sizes). Which snapshots a damaged or missing chunk affects is the
// caller's question (Store::check_repository asks each chunk list).

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "dbsnap/pipeline/progress.hpp"
#include "dbsnap/store/backend.hpp"
#include "dbsnap/store/repo/chunk_index.hpp"

namespace dbsnap::store::repo {

struct PackCheck {
  std::uint64_t packs = 0;         // packs read
  std::uint64_t chunks = 0;        // chunks decoded and checked
  std::uint64_t stored_bytes = 0;  // pack bytes read
  std::map<ChunkId, std::string> damaged;  // chunk -> what is wrong (bytes, pack gone or cut short)
  std::vector<std::string> problems;        // one line each: packs that do not read, damaged chunks
};

// Reconciles the index with the backend's packs, then reads every indexed
// pack from start to end. `progress`, when set, counts pack bytes. Errors:
// the backend's listing, the index's (damage is the report, not an error).
Expected<PackCheck> check_packs(const Backend& backend, ChunkIndex& index, pipeline::Progress* progress = nullptr);

}  // namespace dbsnap::store::repo
