#include "dbsnap/config/hooks.hpp"

namespace dbsnap::config {

const std::vector<KeySpec>& hook_keys() {
  static const std::vector<KeySpec> keys = {
      {"ping_url", KeyType::string, false, "healthchecks.io-style check URL: <url>/start, <url>, <url>/fail"},
      {"ping_start_url", KeyType::string, false, "URL pinged when a backup starts"},
      {"ping_success_url", KeyType::string, false, "URL pinged when a backup succeeded"},
      {"ping_failure_url", KeyType::string, false, "URL pinged when a backup failed"},
      {"ping_method", KeyType::string, false, "GET (default) or POST (the summary or error as the body)"},
      {"on_failure_command", KeyType::string_list, false,
       "argv run when a backup fails (DBSNAP_TARGET, DBSNAP_EXIT_CODE, DBSNAP_ERROR in its environment)"},
  };
  return keys;
}

namespace {

// `url` with `suffix` added to its path (before a query).
std::string with_suffix(const std::string& url, const std::string& suffix) {
  const auto query = url.find('?');
  std::string base = url.substr(0, query);
  while (base.ends_with('/')) base.pop_back();
  return base + suffix + (query == std::string::npos ? "" : url.substr(query));
}

Expected<std::optional<util::Url>> url_of(const Target& target, const std::string& key, const std::string& text) {
  if (text.empty()) return std::optional<util::Url>{};
  auto url = util::parse_url(text);
  if (!url) return make_error(ErrorKind::config, "target '{}': {}: {}", target.name, key, url.error().message);
  return std::optional<util::Url>(std::move(*url));
}

}  // namespace

Expected<Hooks> hooks_of(const Target& target) {
  Hooks hooks;
  const std::string base = target.string("ping_url");
  struct Event {
    const char* key;
    const char* suffix;
    std::optional<util::Url> Hooks::*field;
  };
  for (const Event& e : {Event{"ping_start_url", "/start", &Hooks::start_url},
                         Event{"ping_success_url", "", &Hooks::success_url},
                         Event{"ping_failure_url", "/fail", &Hooks::failure_url}}) {
    const bool own = target.has(e.key);
    const std::string text = own ? target.string(e.key) : (base.empty() ? "" : with_suffix(base, e.suffix));
    auto url = url_of(target, own || base.empty() ? e.key : "ping_url", text);
    if (!url) return std::unexpected(url.error());
    hooks.*e.field = std::move(*url);
  }
  hooks.method = target.string("ping_method", "GET");
  if (hooks.method != "GET" && hooks.method != "POST") {
    return make_error(ErrorKind::config, "target '{}': ping_method must be \"GET\" or \"POST\", not '{}'", target.name,
                      hooks.method);
  }
  if (target.has("on_failure_command")) {
    hooks.on_failure_command = target.strings("on_failure_command");
    if (hooks.on_failure_command.empty() || hooks.on_failure_command.front().empty()) {
      return make_error(ErrorKind::config, "target '{}': on_failure_command is empty: give the command as an array, "
                        "e.g. [\"/usr/local/bin/alert\", \"backup failed\"]", target.name);
    }
  }
  return hooks;
}

}  // namespace dbsnap::config
