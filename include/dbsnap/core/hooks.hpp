#pragma once

// Runs a target's monitoring hooks (config/hooks.hpp) around a backup. A
// hook that fails is a warning on stderr, never the backup's failure: the
// backup's result is what the exit code says. A ping is tried 3 times (10 s
// timeout each, 1 s then 2 s apart) on a connection failure, a 5xx or a 429;
// the URL's path and query (a check's UUID, a push token) never appear in a
// message, only its scheme, host and port.

#include <string_view>

#include "dbsnap/config/config.hpp"
#include "dbsnap/config/hooks.hpp"

namespace dbsnap::core {

enum class HookEvent { start, success, failure };

// Pings the event's URL, if the hooks have one; `message` is the body of a
// POST (the summary of the backup, or the error's line).
void ping(const config::Target& target, const config::Hooks& hooks, HookEvent event, std::string_view message);

// Runs on_failure_command, if the hooks have one, in dbsnap.toml's folder,
// with DBSNAP_TARGET, DBSNAP_EXIT_CODE and DBSNAP_ERROR in its environment;
// its output goes to dbsnap's stderr.
void run_failure_command(const config::Target& target, const config::Hooks& hooks, int exit_code,
                         std::string_view error);

}  // namespace dbsnap::core
