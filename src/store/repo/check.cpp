#include "dbsnap/store/repo/check.hpp"

#include <set>

#include <fmt/core.h>

#include "dbsnap/store/repo/pack.hpp"

namespace dbsnap::store::repo {

namespace {

// Reads `out.size()` bytes from `source`; false when it ends first.
Expected<bool> read_exactly(pipeline::Source& source, std::vector<std::byte>& out) {
  for (std::size_t got = 0; got < out.size();) {
    auto n = source.read(pipeline::MutableBytes(out).subspan(got));
    if (!n) return std::unexpected(n.error());
    if (*n == 0) return false;
    got += *n;
  }
  return true;
}

}  // namespace

Expected<PackCheck> check_packs(const Backend& backend, ChunkIndex& index, pipeline::Progress* progress) {
  PackCheck out;
  auto reconciled = reconcile(backend, index);
  if (!reconciled) return std::unexpected(reconciled.error());
  for (const auto& pack : reconciled->unreadable) {
    out.problems.push_back(fmt::format("pack {}: its own index does not read; no snapshot can use its chunks",
                                       backend.locate(pack)));
  }
  auto packs = index.packs();
  if (!packs) return std::unexpected(packs.error());
  std::vector<std::byte> frame;
  std::vector<std::byte> raw;
  for (const auto& pack : *packs) {
    ++out.packs;
    auto indexed = index.entries(pack);
    if (!indexed) return std::unexpected(indexed.error());
    // Every chunk the index places here is damaged until read back sound.
    auto whole_pack_lost = [&](const std::string& why) {
      out.problems.push_back(fmt::format("pack {}: {}", backend.locate(pack), why));
      for (const auto& e : *indexed) out.damaged.emplace(e.id, fmt::format("its pack {} {}", pack, why));
    };
    auto own = read_pack_index(backend, pack);
    if (!own) {
      whole_pack_lost(fmt::format("does not read ({})", own.error().message));
      continue;
    }
    // Every chunk the index places here must be where the pack's own index
    // says (the pack may hold more: copies of chunks the index locates in
    // another pack, written by two backups at once).
    std::map<ChunkId, PackEntry> by_id;
    for (const auto& e : *own) by_id.emplace(e.id, e);
    bool moved = false;
    for (const auto& e : *indexed) {
      auto it = by_id.find(e.id);
      moved = moved || it == by_id.end() || it->second.offset != e.offset || it->second.stored_size != e.stored_size ||
              it->second.raw_size != e.raw_size;
    }
    if (moved) {
      whole_pack_lost("holds other chunks than when it was indexed");
      continue;
    }
    std::set<ChunkId> located;
    for (const auto& e : *indexed) located.insert(e.id);
    auto source = backend.open(pack);
    if (!source) {
      whole_pack_lost(fmt::format("cannot be opened ({})", source.error().message));
      continue;
    }
    for (const auto& e : *own) {
      frame.resize(e.stored_size);
      auto whole = read_exactly(**source, frame);
      if (!whole) return std::unexpected(whole.error());
      if (!*whole) {
        whole_pack_lost("ends early");
        break;
      }
      ++out.chunks;
      out.stored_bytes += e.stored_size;
      if (progress) progress->advance(e.stored_size);
      if (auto r = decode_chunk(backend, pack, e, frame, raw); !r) {
        out.problems.push_back(r.error().message);
        if (located.contains(e.id)) out.damaged.emplace(e.id, r.error().message);
      }
    }
  }
  return out;
}

}  // namespace dbsnap::store::repo
