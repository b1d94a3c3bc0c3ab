// dbsnap __complete: the candidates for shell completion (packaging/completion/dbsnap.bash).
//
//   dbsnap __complete -- WORD... CURRENT
//
// WORD... are the words of the command line after "dbsnap" up to the cursor and CURRENT the
// (possibly empty) word being completed. It prints the candidates that start with CURRENT, one
// per line: command names, option names and option choices read from the CLI11 app itself (so
// options added later complete without touching the shell script), target names from
// dbsnap.toml, and snapshot ids, `latest` and @REVISION from the store's catalog. A first line
// `!files`, `!dirs` or `!commands` asks the shell to complete file names, folders or commands
// instead. The command is hidden from --help and never fails: a missing or broken dbsnap.toml
// or store just means fewer candidates.

#include <algorithm>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>

#include "dbsnap/alembic/revision_file.hpp"
#include "dbsnap/cli/commands.hpp"
#include "dbsnap/cli/context.hpp"
#include "dbsnap/store/catalog.hpp"

namespace dbsnap::cli {

namespace {

// What the word under the cursor should be.
enum class Want { nothing, commands, options, targets, snapshots, revisions, choices, files, dirs, programs };

// The command line up to the cursor, as CLI11 would see it.
struct Parsed {
  CLI::App* command = nullptr;
  std::map<std::string, std::string> values;  // option or positional name -> last value given
  std::size_t positionals = 0;                // words given to the command's positionals so far
  bool after_dashdash = false;
};

std::vector<CLI::App*> visible_subcommands(CLI::App* app) {
  return app->get_subcommands([](CLI::App* sub) { return !sub->get_group().empty(); });
}

CLI::App* find_subcommand(CLI::App* app, const std::string& name) {
  for (auto* sub : visible_subcommands(app)) {
    if (sub->get_name() == name) return sub;
  }
  return nullptr;
}

// The option `name` ("--to", "-y") of `app`, else of the top-level app (global options).
const CLI::Option* find_option(CLI::App* app, CLI::App* root, const std::string& name) {
  for (auto* where : {app, root}) {
    for (const auto* opt : where->get_options()) {
      if (opt->get_positional()) continue;
      if (name.starts_with("--")) {
        const auto& longs = opt->get_lnames();
        if (std::find(longs.begin(), longs.end(), name.substr(2)) != longs.end()) return opt;
      } else if (name.size() == 2) {
        const auto& shorts = opt->get_snames();
        if (std::find(shorts.begin(), shorts.end(), name.substr(1)) != shorts.end()) return opt;
      }
    }
  }
  return nullptr;
}

bool takes_value(const CLI::Option* opt) { return opt != nullptr && opt->get_expected_max() > 0; }

std::string long_name(const CLI::Option* opt) {
  return opt->get_lnames().empty() ? "-" + opt->get_snames().front() : "--" + opt->get_lnames().front();
}

Parsed parse(CLI::App* root, const std::vector<std::string>& words) {
  Parsed parsed{.command = root};
  for (std::size_t i = 0; i < words.size(); ++i) {
    const std::string& word = words[i];
    if (parsed.after_dashdash) {
      ++parsed.positionals;
      continue;
    }
    if (word == "--") {
      parsed.after_dashdash = true;
      continue;
    }
    if (word.size() > 1 && word[0] == '-') {
      auto eq = word.find('=');
      const auto* opt = find_option(parsed.command, root, word.substr(0, eq));
      if (opt == nullptr) continue;
      if (eq != std::string::npos) {
        parsed.values[long_name(opt)] = word.substr(eq + 1);
      } else if (takes_value(opt) && i + 1 < words.size()) {
        parsed.values[long_name(opt)] = words[++i];
      }
      continue;
    }
    if (parsed.positionals == 0) {
      if (auto* sub = find_subcommand(parsed.command, word)) {
        parsed.command = sub;
        continue;
      }
    }
    // Which positional this word fills (in declaration order, a list takes the rest).
    std::size_t slot = 0;
    for (const auto* opt : parsed.command->get_options([](const CLI::Option* o) { return o->get_positional(); })) {
      std::size_t width = static_cast<std::size_t>(std::max(1, opt->get_items_expected_max()));
      if (parsed.positionals < slot + width) {
        parsed.values[opt->get_name(true)] = word;
        break;
      }
      slot += width;
    }
    ++parsed.positionals;
  }
  return parsed;
}

// The positional that the next word fills, if any: its name and how many words it already has.
std::optional<std::pair<std::string, std::size_t>> next_positional(const Parsed& parsed) {
  std::size_t slot = 0;
  for (const auto* opt : parsed.command->get_options([](const CLI::Option* o) { return o->get_positional(); })) {
    std::size_t width = static_cast<std::size_t>(std::max(1, opt->get_items_expected_max()));
    if (parsed.positionals < slot + width) return std::pair{opt->get_name(true), parsed.positionals - slot};
    slot += width;
  }
  return std::nullopt;
}

// The choices of an option checked with CLI::IsMember: its type name reads "TEXT:{a,b}".
std::vector<std::string> choices_of(const CLI::Option* opt) {
  std::string type = opt->get_type_name();
  auto open = type.find('{');
  auto close = type.rfind('}');
  std::vector<std::string> out;
  if (open == std::string::npos || close == std::string::npos || close < open) return out;
  std::string list = type.substr(open + 1, close - open - 1);
  for (std::size_t start = 0; start <= list.size();) {
    auto comma = list.find(',', start);
    if (comma == std::string::npos) comma = list.size();
    if (comma > start) out.push_back(list.substr(start, comma - start));
    start = comma + 1;
  }
  return out;
}

// What an option's value is, from its name (and the command: rollback --to takes a revision,
// copy --to a store).
Want value_kind(const CLI::App* command, const CLI::Option* opt) {
  if (!choices_of(opt).empty()) return Want::choices;
  const std::string name = long_name(opt);
  if (name == "--config") return Want::files;
  if (name == "--store" || name == "--migrations") return Want::dirs;
  if (name == "--target") return Want::targets;
  if (name == "--to") {
    if (command->get_name() == "rollback") return Want::revisions;
    return command->get_name() == "copy" ? Want::dirs : Want::targets;
  }
  if (name == "--to-key-file") return Want::files;
  if (name == "--revision") return Want::revisions;
  return Want::nothing;
}

Want positional_kind(const std::string& name, std::size_t index) {
  if (name == "target") return Want::targets;
  if (name == "snapshot" || name == "snapshots") return Want::snapshots;
  if (name == "directory") return Want::dirs;
  if (name == "command" || name == "argv") return index == 0 ? Want::programs : Want::files;
  return Want::nothing;
}

// The snapshots in the store's catalog (of `target` when given), newest first; none when the
// store or its catalog does not exist (completion never creates a store).
std::vector<store::Manifest> catalog_snapshots(Context& context, const std::string& target) {
  auto path = context.store_path() / "catalog.db";
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) return {};
  auto catalog = store::Catalog::open(path);
  if (!catalog) return {};
  auto found = catalog->find(store::CatalogFilter{.target = target});
  return found ? std::move(*found) : std::vector<store::Manifest>{};
}

std::vector<std::string> candidates(Context& context, const Parsed& parsed, Want want, const CLI::Option* opt) {
  std::vector<std::string> out;
  auto value = [&](const std::string& key) {
    auto it = parsed.values.find(key);
    return it == parsed.values.end() ? std::string{} : it->second;
  };
  switch (want) {
    case Want::commands:
      for (auto* sub : visible_subcommands(parsed.command)) out.push_back(sub->get_name());
      break;
    case Want::options:
      for (const auto* o : parsed.command->get_options([](const CLI::Option* x) { return !x->get_positional(); })) {
        out.push_back(long_name(o));
      }
      break;
    case Want::choices:
      out = choices_of(opt);
      break;
    case Want::targets:
      for (const auto& [name, target] : context.config().targets) out.push_back(name);
      break;
    case Want::snapshots: {
      std::set<std::string> revisions;
      for (const auto& m : catalog_snapshots(context, value("--target"))) {
        out.push_back(m.id);
        revisions.insert(m.revisions.begin(), m.revisions.end());
      }
      if (!out.empty()) out.push_back("latest");
      for (const auto& r : revisions) out.push_back("@" + r);
      break;
    }
    case Want::revisions: {
      std::string target = value("target");
      if (target.empty()) target = value("--target");
      std::set<std::string> revisions;
      for (const auto& m : catalog_snapshots(context, target)) revisions.insert(m.revisions.begin(), m.revisions.end());
      if (!target.empty() && context.config().targets.contains(target)) {
        if (auto history = alembic::load_revisions(context.migrations_dir(context.target(target)))) {
          for (const auto& r : *history) revisions.insert(r.id);
        }
      }
      out.assign(revisions.begin(), revisions.end());
      break;
    }
    case Want::files: out.push_back("!files"); break;
    case Want::dirs: out.push_back("!dirs"); break;
    case Want::programs: out.push_back("!commands"); break;
    case Want::nothing: break;
  }
  return out;
}

int run_complete(CLI::App& root, Context& context, std::vector<std::string> words) {
  if (words.empty()) words.emplace_back();
  std::string current = words.back();
  words.pop_back();
  Parsed parsed = parse(&root, words);
  // The global options before the command choose the config and the store, as they would when run.
  if (auto it = parsed.values.find("--config"); it != parsed.values.end()) context.globals.config_file = it->second;
  if (auto it = parsed.values.find("--store"); it != parsed.values.end()) context.globals.store_dir = it->second;

  Want want = Want::nothing;
  const CLI::Option* opt = nullptr;
  const std::string previous = words.empty() ? std::string{} : words.back();
  if (!parsed.after_dashdash && previous.size() > 1 && previous[0] == '-' && previous.find('=') == std::string::npos &&
      takes_value(opt = find_option(parsed.command, &root, previous))) {
    want = value_kind(parsed.command, opt);
  } else if (!parsed.after_dashdash && current.starts_with("--") && current.find('=') != std::string::npos) {
    // --option=VALUE: the candidates are values; the shell completes the part after '='.
    opt = find_option(parsed.command, &root, current.substr(0, current.find('=')));
    if (takes_value(opt)) want = value_kind(parsed.command, opt);
    current = current.substr(current.find('=') + 1);
  } else if (!parsed.after_dashdash && current.starts_with("-")) {
    want = Want::options;
  } else if (parsed.positionals == 0 && !visible_subcommands(parsed.command).empty()) {
    want = Want::commands;
  } else if (auto next = next_positional(parsed)) {
    if (!parsed.after_dashdash || next->first == "command" || next->first == "argv") {
      want = positional_kind(next->first, next->second);
    }
  }

  std::vector<std::string> found;
  try {
    found = candidates(context, parsed, want, opt);
  } catch (const std::exception&) {
    return 0;  // a broken dbsnap.toml: nothing to offer, and no error in the middle of the prompt
  }
  for (const auto& candidate : found) {
    if (candidate.starts_with("!") || candidate.starts_with(current)) fmt::print("{}\n", candidate);
  }
  return 0;
}

}  // namespace

void add_complete(CLI::App& app, Context& context) {
  auto words = std::make_shared<std::vector<std::string>>();
  // An empty group hides the command from --help.
  auto* cmd = app.add_subcommand("__complete", "Print shell completion candidates")->group("");
  cmd->add_option("words", *words, "The command line's words after 'dbsnap', the last one being completed");
  cmd->callback([&app, &context, words] { context.exit_code = run_complete(app, context, *words); });
}

}  // namespace dbsnap::cli
