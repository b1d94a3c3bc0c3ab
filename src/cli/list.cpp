#include <CLI/CLI.hpp>

#include "dbsnap/cli/commands.hpp"
#include "dbsnap/cli/context.hpp"
#include "dbsnap/cli/output.hpp"
#include "dbsnap/util/text.hpp"

namespace dbsnap::cli {

int run_list(Context& context, const ListOptions& options) {
  auto& store = context.store();
  store::CatalogFilter filter{.target = options.target};
  if (!options.revision.empty()) {
    // An exact revision first; otherwise a unique revision prefix.
    filter.revision = options.revision;
    auto exact = value_or_throw(store.catalog().find(filter));
    if (exact.empty()) {
      filter.revision.clear();
      filter.revision_prefix = options.revision;
    }
  }
  auto snapshots = value_or_throw(store.catalog().find(filter));
  if (!options.revision.empty() && !filter.revision_prefix.empty()) {
    std::set<std::string> matching;
    for (const auto& m : snapshots) {
      for (const auto& r : m.revisions) {
        if (r.starts_with(options.revision)) matching.insert(r);
      }
    }
    if (matching.size() > 1) {
      fail(ErrorKind::not_found, "revision prefix '{}' is ambiguous: {}", options.revision,
           util::join(std::vector<std::string>(matching.begin(), matching.end()), ", "));
    }
  }
  if (options.json) {
    auto doc = nlohmann::json::array();
    for (const auto& m : snapshots) doc.push_back(snapshot_json(store, m));
    fmt::print("{}\n", doc.dump(2));
    return 0;
  }
  if (snapshots.empty()) {
    fmt::print(stderr, "no snapshots{}\n", options.target.empty() ? "" : " of target '" + options.target + "'");
    return 0;
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& m : snapshots) {
    util::TimePoint created;
    std::string when = util::parse_utc(m.created_at, created) ? util::format_local(created) : m.created_at;
    rows.push_back({m.id, m.target, m.engine, util::revision_text(m.revisions), when, util::human_bytes(m.stored_bytes),
                    util::compression_ratio(m.raw_bytes, m.stored_bytes),
                    m.status == "damaged" ? "[DAMAGED] " + m.label : m.label});
  }
  print_table({"ID", "TARGET", "ENGINE", "REVISION", "CREATED", "SIZE", "RATIO", "LABEL"}, rows);
  return 0;
}

void add_list(CLI::App& app, Context& context) {
  auto options = std::make_shared<ListOptions>();
  auto* cmd = app.add_subcommand("list", "List snapshots, newest first");
  cmd->add_option("target", options->target, "Only this target's snapshots");
  cmd->add_option("--revision", options->revision, "Only snapshots at this Alembic revision (or unique prefix)");
  cmd->add_flag("--json", options->json, "Print the manifests as a JSON array");
  cmd->callback([&context, options] { context.exit_code = run_list(context, *options); });
}

}  // namespace dbsnap::cli
