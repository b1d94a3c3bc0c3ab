#include <map>
#include <set>

#include <CLI/CLI.hpp>

#include "dbsnap/alembic/history.hpp"
#include "dbsnap/alembic/revision_file.hpp"
#include "dbsnap/cli/command.hpp"
#include "dbsnap/cli/commands.hpp"
#include "dbsnap/cli/context.hpp"
#include "dbsnap/cli/output.hpp"
#include "dbsnap/core/operations.hpp"
#include "dbsnap/util/text.hpp"

namespace dbsnap::cli {

int run_revisions(Context& context, const RevisionsOptions& options) {
  std::string name = options.target;
  if (name.empty()) {
    // The only configured target needs no name, as with `latest`.
    const auto& targets = context.config().targets;
    if (targets.size() != 1) {
      std::vector<std::string> known;
      for (const auto& [key, _] : targets) known.push_back(key);
      fail(ErrorKind::usage, "name the target (known: {})", known.empty() ? std::string("none") : util::join(known, ", "));
    }
    name = targets.begin()->first;
  }
  const auto& target = context.target(name);
  const auto dir = context.migrations_dir(target, options.migrations);
  auto history = value_or_throw(alembic::History::build(value_or_throw(alembic::load_revisions(dir))));
  auto& store = context.store_for_reading();
  const auto snapshots = value_or_throw(store.find({.target = target.name}));

  std::vector<std::string> current;
  std::string current_problem;
  try {
    current = engine::engine_for(target).read_revisions(target, core::work_context(store));
  } catch (const DbsnapError& e) {
    current_problem = e.what();
  }
  const std::set<std::string> current_set(current.begin(), current.end());

  // Snapshots per revision (newest first, as the catalog returns them).
  std::map<std::string, std::vector<const store::Manifest*>> at;
  for (const auto& m : snapshots) {
    for (const auto& r : m.revisions) at[r].push_back(&m);
  }

  std::vector<std::string> warnings;
  if (!current_problem.empty()) warnings.push_back("cannot read the database's revision: " + current_problem);
  for (const auto& r : current) {
    if (!history.find(r)) {
      warnings.push_back(fmt::format("the database is at revision {}, which is not in {} (Alembic will say "
                                     "\"Can't locate revision identified by '{}'\")", r, dir.string(), r));
    }
  }
  for (const auto& [r, list] : at) {
    if (!history.find(r)) {
      warnings.push_back(fmt::format("{} snapshot(s) hold revision {}, which is not in {} (newest {})", list.size(), r,
                                     dir.string(), list.front()->id));
    }
  }
  if (history.heads().size() > 1) {
    warnings.push_back(fmt::format("the history has {} heads ({}); `alembic merge heads` joins them",
                                   history.heads().size(), util::join(history.heads(), ", ")));
  }
  for (const auto& d : history.dangling()) {
    warnings.push_back(fmt::format("revision {} revises {}, which is not in {}", d.revision, d.missing, dir.string()));
  }

  if (context.globals.json) {
    auto doc = nlohmann::json::object();
    doc["migrations"] = dir.string();
    doc["current"] = current;
    doc["heads"] = history.heads();
    doc["warnings"] = warnings;
    auto list = nlohmann::json::array();
    for (const auto* rev : history.walk_from_heads()) {
      auto snaps = nlohmann::json::array();
      if (auto it = at.find(rev->id); it != at.end()) {
        for (const auto* m : it->second) snaps.push_back(m->id);
      }
      list.push_back({{"revision", rev->id},
                      {"down_revisions", rev->down_revisions},
                      {"message", rev->message},
                      {"create_date", rev->create_date},
                      {"file", rev->file.string()},
                      {"current", current_set.contains(rev->id)},
                      {"snapshots", snaps}});
    }
    doc["revisions"] = list;
    print_json(doc);
  } else {
    std::vector<std::vector<std::string>> rows;
    const auto now = util::now_ms();
    for (const auto* rev : history.walk_from_heads()) {
      std::vector<std::string> marks;
      if (std::find(history.heads().begin(), history.heads().end(), rev->id) != history.heads().end()) {
        marks.push_back("head");
      }
      if (rev->down_revisions.empty()) marks.push_back("base");
      if (rev->down_revisions.size() > 1) marks.push_back("merge");
      if (current_set.contains(rev->id)) marks.push_back("current");
      std::string newest = "-";
      std::size_t count = 0;
      if (auto it = at.find(rev->id); it != at.end()) {
        count = it->second.size();
        util::TimePoint created;
        const auto* m = it->second.front();
        newest = util::parse_utc(m->created_at, created) ? fmt::format("{} ({})", m->id, util::human_age(created, now))
                                                         : m->id;
      }
      rows.push_back({current_set.contains(rev->id) ? "*" : " ", rev->id, std::to_string(count), newest,
                      marks.empty() ? rev->message : fmt::format("{}  ({})", rev->message, util::join(marks, ", "))});
    }
    print_table({" ", "REVISION", "SNAPSHOTS", "NEWEST", "MESSAGE"}, rows);
    if (current.empty() && current_problem.empty()) fmt::print("(the database has no Alembic revision)\n");
  }
  for (const auto& w : warnings) fmt::print(stderr, "warning: {}\n", w);
  return 0;
}

void add_revisions(CLI::App& app, Context& context) {
  auto options = std::make_shared<RevisionsOptions>();
  auto* cmd = add_command(app, context, options, 
      "revisions", "Show the Alembic history head to base, the database's revision and the snapshots at each", run_revisions);
  cmd->add_option("target", options->target, "Target name from dbsnap.toml (default: the only one configured)");
  cmd->add_option("--migrations", options->migrations,
                  "The Alembic versions folder (default: the target's `migrations` key, else migrations/versions)");
}

}  // namespace dbsnap::cli
