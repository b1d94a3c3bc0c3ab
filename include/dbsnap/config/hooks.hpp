#pragma once

// A target's monitoring hooks in dbsnap.toml, run around each backup
// (core/hooks.hpp runs them):
//   ping_url            a healthchecks.io-style check: <url>/start when the
//                       backup starts, <url> when it succeeded, <url>/fail
//                       when it failed
//   ping_start_url, ping_success_url, ping_failure_url
//                       one URL per event instead (or as well: these win), for
//                       Uptime Kuma's push URLs (?status=up / ?status=down) and
//                       the like
//   ping_method         "GET" (default) or "POST", which sends the backup's
//                       summary or the error's line as the body
//   on_failure_command  argv run when a backup fails, with DBSNAP_TARGET,
//                       DBSNAP_EXIT_CODE and DBSNAP_ERROR in its environment

#include <optional>
#include <string>
#include <vector>

#include "dbsnap/config/config.hpp"
#include "dbsnap/util/http.hpp"

namespace dbsnap::config {

struct Hooks {
  std::optional<util::Url> start_url, success_url, failure_url;
  std::string method = "GET";
  std::vector<std::string> on_failure_command;
  bool empty() const { return !start_url && !success_url && !failure_url && on_failure_command.empty(); }
};

// The keys, for every engine's schema (engine/registry.cpp).
const std::vector<KeySpec>& hook_keys();

// The target's hooks (empty when it sets none). Errors: `config` naming the
// target and key for a URL that is not http(s), a method other than GET or
// POST, an empty on_failure_command.
Expected<Hooks> hooks_of(const Target& target);

}  // namespace dbsnap::config
