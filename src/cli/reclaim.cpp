#include "dbsnap/cli/reclaim.hpp"

#include "dbsnap/util/text.hpp"

namespace dbsnap::cli {

nlohmann::json reclaim_space(Context& context) {
  auto& store = context.store();
  const auto [chunks, stored] = value_or_throw(store.chunk_totals());
  if (chunks == 0) return nullptr;
  auto collected = value_or_throw(store.collect_garbage());
  if (!collected.report) {
    const std::string why = "a backup or restore is using the repository; its unused chunks are reclaimed by the "
                            "next delete or prune";
    context.note("{}", why);
    return {{"collected", false}, {"packs_deleted", 0}, {"packs_repacked", 0}, {"packs_written", 0},
            {"bytes_freed", 0}, {"damaged", nlohmann::json::array()}};
  }
  const auto& r = *collected.report;
  for (const auto& damaged : r.damaged) context.note("warning: kept {}", damaged);
  if (r.packs_deleted > 0) {
    context.note("reclaimed {} from {} pack(s) ({} rewritten into {})", util::human_bytes(r.bytes_freed),
                 r.packs_deleted, r.packs_repacked, r.packs_written);
  }
  return {{"collected", true},
          {"packs_deleted", r.packs_deleted},
          {"packs_repacked", r.packs_repacked},
          {"packs_written", r.packs_written},
          {"bytes_freed", r.bytes_freed},
          {"damaged", r.damaged}};
}

}  // namespace dbsnap::cli
