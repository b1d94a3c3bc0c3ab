#include "dbsnap/store/retention.hpp"

#include <set>

#include <fmt/core.h>

namespace dbsnap::store {

Expected<std::chrono::milliseconds> parse_age(std::string_view text) {
  std::size_t used = 0;
  long long value = 0;
  try {
    value = std::stoll(std::string(text), &used);
  } catch (const std::exception&) {
    used = 0;  // not a number: said below
  }
  static const std::map<std::string, long long, std::less<>> seconds = {
      {"s", 1}, {"m", 60}, {"h", 3600}, {"d", 86400}, {"w", 604800}};
  auto it = seconds.find(text.substr(used));
  if (used == 0 || value < 0 || it == seconds.end()) {
    return make_error(ErrorKind::usage, "keep within '{}': expected a number and a unit (s, m, h, d, w), e.g. 7d",
                      util::printable(text));
  }
  return std::chrono::milliseconds(value * it->second * 1000);
}

namespace {

// The calendar buckets of a snapshot's UTC creation time: "2026-12-06", a week number, "2026-12".
struct Buckets {
  std::string day, month;
  long long week = 0;
};

std::optional<Buckets> buckets_of(const Manifest& m) {
  util::TimePoint created;
  if (!util::parse_utc(m.created_at, created)) return std::nullopt;
  const auto days = std::chrono::floor<std::chrono::days>(created.time_since_epoch()).count();
  // 1970-01-01 was a Thursday: shifting by 3 days makes weeks start on Monday.
  return Buckets{m.created_at.substr(0, 10), m.created_at.substr(0, 7), (days + 3) / 7};
}

}  // namespace

Expected<std::map<std::string, std::vector<std::string>>> retained(const std::vector<Manifest>& snapshots,
                                                                   const RetentionPolicy& policy, util::TimePoint now,
                                                                   LastOfRevision last_of_revision) {
  std::map<std::string, std::vector<std::string>> reasons;
  for (const auto& m : snapshots) {
    if (m.pinned) reasons[m.id].push_back("pinned (dbsnap unpin releases it)");
  }
  if (policy.keep_last >= 0) {
    for (std::size_t i = 0; i < snapshots.size() && i < static_cast<std::size_t>(policy.keep_last); ++i) {
      reasons[snapshots[i].id].push_back(fmt::format("newest {}", policy.keep_last));
    }
  }
  if (policy.keep_per_revision >= 0) {
    std::map<std::string, int> seen;
    for (const auto& m : snapshots) {
      if (seen[util::revision_text(m.revisions)]++ < policy.keep_per_revision) {
        reasons[m.id].push_back(fmt::format("newest {} at its revision", policy.keep_per_revision));
      }
    }
  }
  if (!policy.keep_within.empty()) {
    auto age = parse_age(policy.keep_within);
    if (!age) return std::unexpected(age.error());
    const auto cutoff = now - *age;
    for (const auto& m : snapshots) {
      util::TimePoint created;
      if (util::parse_utc(m.created_at, created) && created >= cutoff) {
        reasons[m.id].push_back("within " + policy.keep_within);
      }
    }
  }
  // The newest snapshot of each of the last N days (weeks, months) that have one.
  auto per_period = [&](int keep, const char* unit, auto key_of) {
    if (keep < 0) return;
    std::set<std::string> periods;
    for (const auto& m : snapshots) {
      auto b = buckets_of(m);
      if (!b) continue;
      const std::string key = key_of(*b);
      if (periods.contains(key) || periods.size() >= static_cast<std::size_t>(keep)) continue;
      periods.insert(key);
      reasons[m.id].push_back(fmt::format("{} {} ({})", unit, keep, key));
    }
  };
  per_period(policy.keep_daily, "daily", [](const Buckets& b) { return b.day; });
  per_period(policy.keep_weekly, "weekly", [](const Buckets& b) { return "week " + std::to_string(b.week); });
  per_period(policy.keep_monthly, "monthly", [](const Buckets& b) { return b.month; });
  if (last_of_revision == LastOfRevision::keep) {
    std::set<std::string> covered;
    for (const auto& m : snapshots) {
      if (reasons.contains(m.id)) covered.insert(util::revision_text(m.revisions));
    }
    for (const auto& m : snapshots) {
      const auto revision = util::revision_text(m.revisions);
      if (!covered.contains(revision)) {
        reasons[m.id].push_back("only snapshot left at revision " + revision + " (--force drops it)");
        covered.insert(revision);
      }
    }
  }
  return reasons;
}

}  // namespace dbsnap::store
