#include "dbsnap/store/repo/gc.hpp"

#include <map>

#include "dbsnap/pipeline/zstd.hpp"
#include "dbsnap/store/repo/chunk_list.hpp"
#include "dbsnap/store/repo/pack.hpp"

namespace dbsnap::store::repo {

namespace {

// Moves the live chunks of `packs` into new packs; returns the new packs
// (committed, not yet indexed). A pack whose live chunk does not read is
// dropped from `packs` and described in `damaged`.
Expected<std::vector<ChunkIndex::NewPack>> repack(Backend& backend, const ChunkIndex& index,
                                                  std::vector<std::string>& packs, const GcOptions& options,
                                                  std::vector<std::string>& damaged) {
  auto compressor = pipeline::FrameCompressor::create(options.level);
  if (!compressor) return std::unexpected(compressor.error());
  std::vector<ChunkIndex::NewPack> written;
  std::unique_ptr<PackWriter> out;
  auto close_pack = [&]() -> Expected<void> {
    if (!out) return {};
    auto entries = out->commit();
    if (!entries) return std::unexpected(entries.error());
    written.push_back({out->name(), out->size(), std::move(*entries)});
    out.reset();
    return {};
  };
  std::vector<std::string> moved;
  std::vector<std::byte> raw;
  for (const auto& pack : packs) {
    auto entries = index.live_entries(pack);
    if (!entries) return std::unexpected(entries.error());
    // Check every live chunk of this pack first (one at a time: memory stays
    // one chunk): a damaged one keeps the whole pack where it is.
    bool readable = true;
    for (const auto& e : *entries) {
      if (auto r = read_chunk(backend, pack, e, raw); !r) {
        damaged.push_back(r.error().message);
        readable = false;
        break;
      }
    }
    if (!readable) continue;
    for (const auto& e : *entries) {
      if (auto r = read_chunk(backend, pack, e, raw); !r) return std::unexpected(r.error());
      if (!out) {
        auto created = PackWriter::create(backend, new_pack_name());
        if (!created) return std::unexpected(created.error());
        out = std::make_unique<PackWriter>(std::move(*created));
      }
      auto frame = compressor->compress(raw);
      if (!frame) return std::unexpected(frame.error());
      if (auto r = out->add(e.id, *frame, e.raw_size); !r) return std::unexpected(r.error());
      if (out->size() >= options.pack_size) {
        if (auto r = close_pack(); !r) return std::unexpected(r.error());
      }
    }
    moved.push_back(pack);
  }
  if (auto r = close_pack(); !r) return std::unexpected(r.error());
  packs = std::move(moved);
  return written;
}

}  // namespace

Expected<GcReport> collect_garbage(Backend& backend, ChunkIndex& index, const std::vector<std::string>& live_lists,
                                   const GcOptions& options) {
  GcReport report;
  // 1-2.
  if (auto r = reconcile(backend, index); !r) return std::unexpected(r.error());
  if (auto r = index.clear_live(); !r) return std::unexpected(r.error());
  for (const auto& name : live_lists) {
    auto list = read_chunk_list(backend, index, name);
    if (!list) return std::unexpected(list.error());
    if (auto r = index.mark_live(list->ids); !r) return std::unexpected(r.error());
    if (auto r = index.mark_live(list->list_chunks); !r) return std::unexpected(r.error());
  }
  auto usage = index.pack_usage();
  if (!usage) return std::unexpected(usage.error());

  std::vector<std::string> dead;
  std::vector<std::string> sparse;
  std::uint64_t dead_bytes = 0;
  std::map<std::string, std::uint64_t> sparse_size;
  for (const auto& pack : *usage) {
    if (pack.live_chunks == 0) {
      dead.push_back(pack.name);
      dead_bytes += pack.size;
    } else if (static_cast<double>(pack.size - std::min(pack.size, pack.live_bytes)) >
               options.max_unused * static_cast<double>(pack.size)) {
      sparse.push_back(pack.name);
      sparse_size[pack.name] = pack.size;
    }
  }

  // 3.
  if (!dead.empty()) {
    if (auto r = index.replace_packs(dead, {}); !r) return std::unexpected(r.error());
    for (const auto& pack : dead) {
      if (auto r = backend.remove(pack); !r && r.error().kind != ErrorKind::not_found) return std::unexpected(r.error());
      ++report.packs_deleted;
    }
    report.bytes_freed += dead_bytes;
  }

  // 4.
  if (!sparse.empty()) {
    auto written = repack(backend, index, sparse, options, report.damaged);
    if (!written) return std::unexpected(written.error());
    if (auto r = index.replace_packs(sparse, *written); !r) return std::unexpected(r.error());
    std::uint64_t new_bytes = 0;
    for (const auto& pack : *written) new_bytes += pack.size;
    std::uint64_t old_bytes = 0;
    for (const auto& pack : sparse) {
      if (auto r = backend.remove(pack); !r && r.error().kind != ErrorKind::not_found) return std::unexpected(r.error());
      old_bytes += sparse_size[pack];  // `sparse` now holds only the packs repack() moved
    }
    report.packs_repacked = sparse.size();
    report.packs_deleted += sparse.size();
    report.packs_written = written->size();
    report.bytes_freed += old_bytes - std::min(old_bytes, new_bytes);
  }
  return report;
}

}  // namespace dbsnap::store::repo
