#pragma once

// Keeping an application's writers away from a database while dbsnap
// replaces its data. A target may name the containers that write to it
// (`stop_containers`, `pause_containers`); restore, upgrade and rollback stop
// or pause the running ones before their safety snapshot and start them
// again when they end, whatever happened: success, failure, an exception
// unwinding on SIGINT/SIGTERM. Only what dbsnap itself stopped is started
// again (a container the user had stopped stays stopped). A second signal,
// which kills dbsnap at once, or a kill -9 leaves them stopped; the next
// dbsnap run does not start them behind the user's back.

#include <string>
#include <vector>

#include "dbsnap/config/config.hpp"

namespace dbsnap::runtime {

// Target keys: the containers to stop, and those to pause (docker pause:
// frozen in place, their connections kept open).
const std::vector<config::KeySpec>& quiesce_keys();

// How one app container is kept quiet.
enum class Quiet { stop, pause };

class QuietApps {
 public:
  // Stops or pauses the running containers the target names, through the
  // target's container CLI (docker, or its `runtime`/`docker_cli`/
  // `docker_context`). Says on stderr what it does unless `quiet`. Throws a
  // `runtime` DbsnapError naming the container when one cannot be stopped,
  // after starting again the ones it already stopped. Does nothing when the
  // target names none.
  static QuietApps begin(const config::Target& target, bool quiet);

  QuietApps(QuietApps&& other) noexcept;
  QuietApps& operator=(QuietApps&&) = delete;
  // Starts (or unpauses) what begin() stopped, in reverse order; a container
  // that will not start is reported on stderr, with the command to run.
  ~QuietApps();

  // The containers stopped or paused, in order.
  const std::vector<std::pair<std::string, Quiet>>& held() const noexcept { return held_; }

 private:
  QuietApps(std::vector<std::string> cli, bool quiet) : cli_(std::move(cli)), quiet_(quiet) {}
  void release() noexcept;
  std::vector<std::string> cli_;
  bool quiet_ = false;
  std::vector<std::pair<std::string, Quiet>> held_;
};

}  // namespace dbsnap::runtime
