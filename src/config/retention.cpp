#include "dbsnap/config/retention.hpp"

#include <fmt/core.h>

namespace dbsnap::config {

const std::vector<KeySpec>& retention_keys() {
  static const std::vector<KeySpec> keys = {
      {"keep_last", KeyType::integer, false, "retention: keep the newest N snapshots"},
      {"keep_per_revision", KeyType::integer, false, "retention: keep the newest N snapshots of each revision"},
      {"keep_within", KeyType::string, false, "retention: keep snapshots younger than AGE (30m, 12h, 7d, 2w)"},
      {"keep_daily", KeyType::integer, false, "retention: keep the newest snapshot of each of the last N days"},
      {"keep_weekly", KeyType::integer, false, "retention: keep the newest snapshot of each of the last N weeks"},
      {"keep_monthly", KeyType::integer, false, "retention: keep the newest snapshot of each of the last N months"},
  };
  return keys;
}

Expected<store::RetentionPolicy> retention_of(const Target& target) {
  store::RetentionPolicy policy;
  auto count = [&](const char* key, int& out) -> Expected<void> {
    if (!target.has(key)) return {};
    const auto value = target.integer(key, -1);
    if (value < 0 || value > 1000000) {
      return make_error(ErrorKind::config, "target '{}': {} must be a count from 0 to 1000000, not {}", target.name,
                        key, value);
    }
    out = static_cast<int>(value);
    return {};
  };
  for (auto [key, field] : {std::pair{"keep_last", &policy.keep_last}, {"keep_per_revision", &policy.keep_per_revision},
                            {"keep_daily", &policy.keep_daily}, {"keep_weekly", &policy.keep_weekly},
                            {"keep_monthly", &policy.keep_monthly}}) {
    if (auto r = count(key, *field); !r) return std::unexpected(r.error());
  }
  if (target.has("keep_within")) {
    policy.keep_within = target.string("keep_within");
    if (auto age = store::parse_age(policy.keep_within); !age) {
      return make_error(ErrorKind::config, "target '{}': {}", target.name, age.error().message);
    }
  }
  return policy;
}

}  // namespace dbsnap::config
