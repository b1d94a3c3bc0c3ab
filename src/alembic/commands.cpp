#include "dbsnap/alembic/commands.hpp"

#include <algorithm>

#include "dbsnap/util/error.hpp"

namespace dbsnap::alembic {

const std::vector<config::KeySpec>& migration_command_keys() {
  static const std::vector<config::KeySpec> keys = {
      {"upgrade_command", config::KeyType::string_list, false,
       "argv of the app's upgrade command, {revision} where the revision goes (upgrade without -- CMD runs it)"},
      {"downgrade_command", config::KeyType::string_list, false,
       "argv of the app's downgrade command with {revision} (rollback --via downgrade without --command runs it)"},
  };
  return keys;
}

std::string migration_command_key(Migration direction) {
  return direction == Migration::upgrade ? "upgrade_command" : "downgrade_command";
}

bool has_migration_command(const config::Target& target, Migration direction) {
  return target.has(migration_command_key(direction));
}

bool migration_command_takes_revision(const config::Target& target, Migration direction) {
  const auto argv = target.strings(migration_command_key(direction));
  return std::ranges::any_of(argv, [](const std::string& a) { return a.find(revision_placeholder) != a.npos; });
}

std::optional<std::vector<std::string>> migration_command(const config::Target& target, Migration direction,
                                                          const std::string& revision) {
  const std::string key = migration_command_key(direction);
  if (!target.has(key)) return std::nullopt;
  std::vector<std::string> argv = target.strings(key);
  if (argv.empty() || argv.front().empty()) {
    fail(ErrorKind::config, "target '{}': {} is empty: give the command as an array, e.g. [\"flask\", \"db\", \"{}\", "
         "\"{}\"]", target.name, key, direction == Migration::upgrade ? "upgrade" : "downgrade", revision_placeholder);
  }
  if (direction == Migration::downgrade && !migration_command_takes_revision(target, direction)) {
    fail(ErrorKind::config, "target '{}': {} has no {} element: a downgrade must be told where to stop", target.name,
         key, revision_placeholder);
  }
  if (revision.empty()) fail(ErrorKind::usage, "the revision for {} is empty", key);
  if (revision.starts_with('-')) {
    fail(ErrorKind::usage, "revision '{}' starts with '-': it would read as an option of {}", revision, argv.front());
  }
  if (std::ranges::any_of(revision, [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; })) {
    fail(ErrorKind::usage, "the revision for {} holds a control character", key);
  }
  for (auto& arg : argv) {
    for (auto at = arg.find(revision_placeholder); at != std::string::npos;
         at = arg.find(revision_placeholder, at + revision.size())) {
      arg.replace(at, revision_placeholder.size(), revision);
    }
  }
  return argv;
}

}  // namespace dbsnap::alembic
