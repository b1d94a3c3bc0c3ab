#pragma once

// A target's `schedule` key: when its backups run by themselves, as a
// systemd OnCalendar= expression ("daily", "*-*-* 00/6:00:00"). The Debian
// package's systemd generator (packaging/systemd/dbsnap-schedule-generator,
// which runs `dbsnap __systemd-generator DIR`) enables
// dbsnap-backup@TARGET.timer for each target that has one, with that
// schedule: the config is the one place a schedule is set.

#include <optional>
#include <string>
#include <vector>

#include "dbsnap/config/config.hpp"

namespace dbsnap::config {

// The keys, for every engine's schema (engine/registry.cpp).
const std::vector<KeySpec>& schedule_keys();

// The target's schedule, or nullopt when it sets none. Errors: `config`
// naming the target for an empty one, or one with a control character or
// over 200 characters (systemd checks the expression itself).
Expected<std::optional<std::string>> schedule_of(const Target& target);

}  // namespace dbsnap::config
