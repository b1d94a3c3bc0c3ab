#include "dbsnap/runtime/quiesce.hpp"

#include <cstdio>
#include <utility>

#include <fmt/core.h>

#include "dbsnap/runtime/process.hpp"
#include "dbsnap/util/error.hpp"
#include "dbsnap/util/text.hpp"

namespace dbsnap::runtime {

namespace {

// The container CLI of the target's runtime: docker unless `runtime` says
// podman; `docker_cli` and `docker_context` as for the database's container.
std::vector<std::string> cli_for(const config::Target& target) {
  const std::string kind = target.string("runtime", "docker") == "podman" ? "podman" : "docker";
  std::vector<std::string> cli{target.string("docker_cli", kind)};
  if (target.has("docker_context")) cli.insert(cli.end(), {"--context", target.string("docker_context")});
  return cli;
}

// Runs `cli ARGS...`; the last line of its stderr when it failed, else "".
std::string run_cli(const std::vector<std::string>& cli, std::initializer_list<std::string> args, std::string* out) {
  std::vector<std::string> argv = cli;
  argv.insert(argv.end(), args.begin(), args.end());
  auto result = run({.argv = argv});
  if (!result) return result.error().message;
  if (!result->status.ok()) {
    std::string why(util::last_nonempty_line(result->err));
    return why.empty() ? result->status.describe() : why;
  }
  if (out != nullptr) *out = std::string(util::trim(result->out));
  return {};
}

}  // namespace

const std::vector<config::KeySpec>& quiesce_keys() {
  static const std::vector<config::KeySpec> keys = {
      {"stop_containers", config::KeyType::string_list, false,
       "app containers to stop while restore, upgrade or rollback replace the data (started again afterwards)"},
      {"pause_containers", config::KeyType::string_list, false,
       "app containers to pause (docker pause) while restore, upgrade or rollback replace the data"},
  };
  return keys;
}

QuietApps QuietApps::begin(const config::Target& target, bool quiet) {
  QuietApps apps(cli_for(target), quiet);
  for (const Quiet how : {Quiet::stop, Quiet::pause}) {
    for (const auto& name : target.strings(how == Quiet::stop ? "stop_containers" : "pause_containers")) {
      std::string state;
      if (auto why = run_cli(apps.cli_, {"inspect", "--format", "{{.State.Status}}", name}, &state); !why.empty()) {
        fail(ErrorKind::runtime, "target '{}': cannot inspect app container '{}' ({}); nothing was changed",
             target.name, name, why);
      }
      if (state != "running") continue;  // stopped or paused already: not ours to start again
      if (!quiet) {
        std::fprintf(stderr, "dbsnap: %s app container '%s' while '%s' is replaced\n",
                     how == Quiet::stop ? "stopping" : "pausing", name.c_str(), target.name.c_str());
      }
      if (auto why = run_cli(apps.cli_, {how == Quiet::stop ? "stop" : "pause", name}, nullptr); !why.empty()) {
        fail(ErrorKind::runtime, "target '{}': cannot {} app container '{}' ({}); nothing was changed", target.name,
             how == Quiet::stop ? "stop" : "pause", name, why);
      }
      apps.held_.emplace_back(name, how);
    }
  }
  return apps;
}

QuietApps::QuietApps(QuietApps&& other) noexcept
    : cli_(std::move(other.cli_)), quiet_(other.quiet_), held_(std::exchange(other.held_, {})) {}

QuietApps::~QuietApps() { release(); }

void QuietApps::release() noexcept {
  // Restores what was running; commits nothing. Failures are told, never thrown from here.
  while (!held_.empty()) {
    auto [name, how] = held_.back();
    held_.pop_back();
    const char* verb = how == Quiet::stop ? "start" : "unpause";
    std::string why;
    try {
      why = run_cli(cli_, {verb, name}, nullptr);
    } catch (const std::exception& e) {
      why = e.what();
    }
    if (!why.empty()) {
      std::fprintf(stderr, "dbsnap: warning: cannot %s app container '%s' again (%s); run: %s %s %s\n", verb,
                   name.c_str(), why.c_str(), util::join(cli_, " ").c_str(), verb, name.c_str());
    } else if (!quiet_) {
      std::fprintf(stderr, "dbsnap: %s app container '%s' again\n", how == Quiet::stop ? "started" : "unpaused",
                   name.c_str());
    }
  }
}

}  // namespace dbsnap::runtime
