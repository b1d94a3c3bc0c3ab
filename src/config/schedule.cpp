#include "dbsnap/config/schedule.hpp"

namespace dbsnap::config {

const std::vector<KeySpec>& schedule_keys() {
  static const std::vector<KeySpec> keys = {
      {"schedule", KeyType::string, false,
       "when backups run by themselves, as systemd's OnCalendar= (\"daily\", \"*-*-* 00/6:00:00\")"},
  };
  return keys;
}

Expected<std::optional<std::string>> schedule_of(const Target& target) {
  if (!target.has("schedule")) return std::optional<std::string>{};
  const std::string value = target.string("schedule");
  const bool printable = std::ranges::all_of(value, [](char c) { return c >= 0x20 && c != 0x7f; });
  if (value.empty() || value.size() > 200 || !printable || value.front() == ' ') {
    return make_error(ErrorKind::config, "target '{}': schedule must be a systemd calendar expression such as "
                      "\"daily\" or \"*-*-* 00/6:00:00\" (one line, at most 200 characters)", target.name);
  }
  return std::optional<std::string>(value);
}

}  // namespace dbsnap::config
