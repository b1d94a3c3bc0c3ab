#include "dbsnap/cli/reclaim.hpp"

#include "dbsnap/util/text.hpp"

namespace dbsnap::cli {

nlohmann::json reclaim_space(Context& context) {
  auto& store = context.store();
  const auto [chunks, stored] = value_or_throw(store.chunk_totals());
  if (chunks == 0) return nullptr;
  auto attempt = store.collect_garbage();
  if (!attempt) {
    // The snapshots are deleted already; what could not run is the reclaim.
    // Say so (a chunk list that does not read stops it: nothing is removed
    // on partial knowledge) and leave the space for a later run.
    if (attempt.error().kind == ErrorKind::interrupted) throw DbsnapError(attempt.error());
    const std::string why = fmt::format("space not reclaimed: {} ('dbsnap verify --repository' checks the store)",
                                        attempt.error().message);
    fmt::print(stderr, "dbsnap: warning: {}\n", why);
    return {{"collected", false}, {"packs_deleted", 0}, {"packs_repacked", 0}, {"packs_written", 0},
            {"bytes_freed", 0}, {"damaged", nlohmann::json::array({why})}};
  }
  auto& collected = *attempt;
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
