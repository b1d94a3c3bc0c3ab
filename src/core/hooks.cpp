#include "dbsnap/core/hooks.hpp"

#include <chrono>
#include <cstdio>
#include <thread>

#include <fmt/core.h>

#include "dbsnap/runtime/process.hpp"
#include "dbsnap/util/interrupt.hpp"

namespace dbsnap::core {

namespace {

constexpr int ping_tries = 3;
constexpr std::chrono::milliseconds ping_timeout{10000};

const char* key_of(HookEvent event) {
  switch (event) {
    case HookEvent::start: return "ping_start_url";
    case HookEvent::success: return "ping_success_url";
    case HookEvent::failure: return "ping_failure_url";
  }
  return "?";
}

void warn(const std::string& text) {
  std::fprintf(stderr, "dbsnap: warning: %s\n", text.c_str());
  std::fflush(stderr);
}

}  // namespace

void ping(const config::Target& target, const config::Hooks& hooks, HookEvent event, std::string_view message) {
  const auto& url = event == HookEvent::start     ? hooks.start_url
                    : event == HookEvent::success ? hooks.success_url
                                                  : hooks.failure_url;
  if (!url) return;
  std::string last;
  for (int attempt = 1; attempt <= ping_tries; ++attempt) {
    if (attempt > 1) {
      // Not while dbsnap is told to stop: a failure ping after SIGTERM is tried once.
      if (util::interrupt_signal() != 0) break;
      std::this_thread::sleep_for(std::chrono::seconds(attempt - 1));
    }
    auto answer = util::http_request(*url, hooks.method, message, ping_timeout);
    if (answer && answer->status >= 200 && answer->status < 300) return;
    if (!answer) {
      last = answer.error().message;
      if (answer.error().kind == ErrorKind::config) break;  // an untrusted certificate stays so
      continue;
    }
    last = fmt::format("HTTP {}", answer->status);
    if (answer->status != 429 && answer->status < 500) break;
  }
  warn(fmt::format("target '{}': {} ({}) failed: {}; the backup's result stands", target.name, key_of(event),
                   url->shown(), last));
}

void run_failure_command(const config::Target& target, const config::Hooks& hooks, int exit_code,
                         std::string_view error) {
  if (hooks.on_failure_command.empty()) return;
  runtime::Command command{.argv = hooks.on_failure_command,
                           .env = {{"DBSNAP_TARGET", target.name},
                                   {"DBSNAP_EXIT_CODE", std::to_string(exit_code)},
                                   {"DBSNAP_ERROR", std::string(error)}},
                           .cwd = target.config_dir};
  auto ran = runtime::run(std::move(command), {}, 1 << 20);
  if (ran) {
    // Its output, all of it on stderr: stdout stays the backup's (--json).
    std::fwrite(ran->out.data(), 1, ran->out.size(), stderr);
    std::fwrite(ran->err.data(), 1, ran->err.size(), stderr);
    std::fflush(stderr);
  }
  if (!ran) {
    warn(fmt::format("target '{}': on_failure_command did not run: {}", target.name, ran.error().message));
  } else if (!ran->status.ok()) {
    warn(fmt::format("target '{}': on_failure_command {}", target.name, ran->status.describe()));
  }
}

}  // namespace dbsnap::core
