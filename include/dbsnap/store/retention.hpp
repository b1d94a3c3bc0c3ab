#pragma once

// Retention: which snapshots of a target to keep, by rules like restic's
// `forget` and borgmatic's keep_* (keep the newest N; the newest N at each
// revision; everything younger than an age; the newest of each of the last N
// days, weeks and months that have snapshots). Pinned snapshots are always
// kept, and (unless asked otherwise) so is the only snapshot left at a
// revision: it may be the only way back to it. `prune` applies a policy
// given on its command line or set in the target (config/retention), and a
// backup applies the target's after it succeeds.

#include <chrono>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "dbsnap/store/manifest.hpp"
#include "dbsnap/util/error.hpp"
#include "dbsnap/util/text.hpp"

namespace dbsnap::store {

struct RetentionPolicy {
  int keep_last = -1;  // -1: the rule is not used
  int keep_per_revision = -1;
  int keep_daily = -1;
  int keep_weekly = -1;  // weeks start on Monday (UTC)
  int keep_monthly = -1;
  std::string keep_within;  // "7d"; empty: not used
  bool empty() const {
    return keep_last < 0 && keep_per_revision < 0 && keep_daily < 0 && keep_weekly < 0 && keep_monthly < 0 &&
           keep_within.empty();
  }
};

// "30s", "30m", "12h", "7d", "2w" -> milliseconds. Errors: `usage` naming the text.
Expected<std::chrono::milliseconds> parse_age(std::string_view text);

enum class LastOfRevision { keep, drop };

// Why each snapshot of `newest_first` (one target's, newest first) is kept,
// by id; the ones missing from the result are to be removed. Errors: `usage`
// for a bad keep_within.
Expected<std::map<std::string, std::vector<std::string>>> retained(const std::vector<Manifest>& newest_first,
                                                                   const RetentionPolicy& policy, util::TimePoint now,
                                                                   LastOfRevision last_of_revision);

}  // namespace dbsnap::store
