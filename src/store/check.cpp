// The repository-wide check (`dbsnap verify --repository`): which chunked
// snapshots a missing or damaged chunk, or a bad chunk list, affects.

#include <set>

#include "dbsnap/store/store.hpp"

namespace dbsnap::store {

Expected<RepositoryCheck> Store::check_repository(pipeline::Progress* progress) const {
  auto lock = share_repository();
  if (!lock) return std::unexpected(lock.error());
  auto index = chunk_index();
  if (!index) return std::unexpected(index.error());
  RepositoryCheck out;
  auto packs = repo::check_packs(*backend_, **index, progress);
  if (!packs) return std::unexpected(packs.error());
  out.packs = std::move(*packs);

  auto snapshots = catalog_.find({});
  if (!snapshots) return std::unexpected(snapshots.error());
  if (auto r = (*index)->clear_live(); !r) return std::unexpected(r.error());
  for (const auto& m : *snapshots) {
    if (m.layout != DataLayout::chunks) continue;
    ++out.snapshots;
    auto list = load_chunk_list(m);
    if (!list) {
      out.affected[m.id] = list.error().message;
      continue;
    }
    if (auto r = (*index)->mark_live(list->ids); !r) return std::unexpected(r.error());
    if (auto r = (*index)->mark_live(list->list_chunks); !r) return std::unexpected(r.error());
    std::size_t missing = 0;
    std::size_t damaged = 0;
    std::string first;
    for (const auto& id : list->ids) {
      std::string why;
      if (auto bad = out.packs.damaged.find(id); bad != out.packs.damaged.end()) {
        why = bad->second;
        ++damaged;
      } else {
        auto where = (*index)->find(id);
        if (!where) return std::unexpected(where.error());
        if (*where) continue;
        why = fmt::format("chunk {} is in no pack", id.hex().substr(0, 16));
        ++missing;
      }
      if (first.empty()) first = why;
    }
    if (missing + damaged > 0) {
      out.affected[m.id] = fmt::format("{} of its {} chunks missing, {} damaged: {}", missing, list->ids.size(),
                                       damaged, first);
    }
  }
  auto usage = (*index)->pack_usage();
  if (!usage) return std::unexpected(usage.error());
  auto totals = (*index)->totals();
  if (!totals) return std::unexpected(totals.error());
  std::uint64_t live_chunks = 0;
  std::uint64_t live_bytes = 0;
  for (const auto& u : *usage) {
    live_chunks += u.live_chunks;
    live_bytes += u.live_bytes;
  }
  out.unreferenced_chunks = totals->first - live_chunks;
  out.unreferenced_bytes = totals->second - live_bytes;
  return out;
}

}  // namespace dbsnap::store
