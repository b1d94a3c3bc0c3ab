#include <map>
#include <set>

#include <CLI/CLI.hpp>

#include "dbsnap/alembic/history.hpp"
#include "dbsnap/alembic/revision_file.hpp"
#include "dbsnap/cli/command.hpp"
#include "dbsnap/cli/commands.hpp"
#include "dbsnap/cli/context.hpp"
#include "dbsnap/cli/output.hpp"
#include "dbsnap/util/text.hpp"

namespace dbsnap::cli {

namespace {

// The LABEL column: the label, marked when verify found the snapshot damaged,
// when dbsnap took it itself (`latest` and @REV skip those), when it is
// pinned and when a test restore (verify --restore) matched it.
std::string label_text(const store::Manifest& m) {
  std::string text = m.label;
  if (m.automatic) text = "[auto] " + text;
  if (!m.restore_tested_at.empty()) text = "[tested] " + text;
  if (m.pinned) text = "[pinned] " + text;
  if (m.status == "damaged") text = "[DAMAGED] " + text;
  return text;
}

// The Alembic history of the target the listing is about (the one given, or
// the only one configured), when its migrations folder can be read.
std::optional<alembic::History> history_for(Context& context, const std::string& target_name) {
  std::string name = target_name;
  if (name.empty() && context.config().targets.size() == 1) name = context.config().targets.begin()->first;
  if (name.empty()) return std::nullopt;
  auto revisions = alembic::load_revisions(context.migrations_dir(context.target(name)));
  if (!revisions) return std::nullopt;
  auto history = alembic::History::build(std::move(*revisions));
  if (!history) return std::nullopt;
  return std::move(*history);
}

// Prints snapshots grouped by revision set, in the history's head-to-base
// order where it is known; revisions outside the history come last.
void print_by_revision(Context& context, const std::string& target, const std::vector<store::Manifest>& snapshots) {
  // A snapshot taken at several heads is listed under each of them.
  std::map<std::string, std::vector<const store::Manifest*>> groups;
  std::vector<std::string> order;
  for (const auto& m : snapshots) {
    std::vector<std::string> keys = m.revisions;
    if (keys.empty()) keys.push_back(util::revision_text(m.revisions));
    for (const auto& key : keys) {
      if (!groups.contains(key)) order.push_back(key);
      groups[key].push_back(&m);
    }
  }
  std::vector<std::pair<std::string, std::string>> headings;  // (revision set, message)
  if (auto history = history_for(context, target)) {
    std::vector<std::string> chained;
    for (const auto* rev : history->walk_from_heads()) {
      headings.emplace_back(rev->id, rev->message);
      chained.push_back(rev->id);
    }
    for (const auto& key : order) {
      if (std::find(chained.begin(), chained.end(), key) == chained.end()) headings.emplace_back(key, "not in migrations");
    }
  } else {
    for (const auto& key : order) headings.emplace_back(key, "");
  }
  for (const auto& [key, message] : headings) {
    fmt::print("{}{}\n", key, message.empty() ? "" : "  " + message);
    auto it = groups.find(key);
    if (it == groups.end()) {
      fmt::print("    (no snapshots)\n");
      continue;
    }
    for (const auto* m : it->second) {
      fmt::print("    {}  {}  {}  {}  {}\n", m->id, m->target, util::display_time(m->created_at),
                 util::human_bytes(m->stored_bytes), label_text(*m));
    }
  }
}

}  // namespace

int run_list(Context& context, const ListOptions& options) {
  auto& store = context.store_for_reading();
  remove_restore_leftovers(context);
  report_unfinished_moves(context, options.target);
  if (!options.target.empty()) require_known_target(context, store, options.target);
  store::CatalogFilter filter{.target = options.target};
  if (!options.revision.empty()) {
    // An exact revision first; otherwise a unique revision prefix.
    filter.revision = options.revision;
    auto exact = value_or_throw(store.find(filter));
    if (exact.empty()) {
      filter.revision.clear();
      filter.revision_prefix = options.revision;
    }
  }
  auto snapshots = value_or_throw(store.find(filter));
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
  if (context.globals.json) {
    auto doc = nlohmann::json::array();
    for (const auto& m : snapshots) doc.push_back(snapshot_json(store, m));
    print_json(doc);
    return 0;
  }
  if (options.by_revision) {
    print_by_revision(context, options.target, snapshots);
    return 0;
  }
  if (snapshots.empty()) {
    context.note("no snapshots{}", options.target.empty() ? "" : " of target '" + options.target + "'");
    return 0;
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& m : snapshots) {
    rows.push_back({m.id, m.target, m.engine, util::revision_text(m.revisions), util::display_time(m.created_at),
                    util::human_bytes(m.stored_bytes), util::compression_ratio(m.raw_bytes, m.stored_bytes),
                    label_text(m)});
  }
  print_table({"ID", "TARGET", "ENGINE", "REVISION", "CREATED", "SIZE", "RATIO", "LABEL"}, rows);
  return 0;
}

void add_list(CLI::App& app, Context& context) {
  auto options = std::make_shared<ListOptions>();
  auto* cmd = add_command(app, context, options, "list", "List snapshots, newest first", run_list);
  cmd->add_option("target", options->target, "Only this target's snapshots");
  cmd->add_option("--revision", options->revision, "Only snapshots at this Alembic revision (or unique prefix)");
  cmd->add_flag("--by-revision", options->by_revision,
                "Group snapshots by Alembic revision, in the history's head-to-base order");
}

}  // namespace dbsnap::cli
