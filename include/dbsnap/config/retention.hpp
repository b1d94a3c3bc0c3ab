#pragma once

// A target's retention policy in dbsnap.toml: keep_last, keep_per_revision,
// keep_within, keep_daily, keep_weekly, keep_monthly (store/retention says
// what each keeps). `prune TARGET` with no rules on its command line applies
// it, and so does every successful backup of the target.

#include <vector>

#include "dbsnap/config/config.hpp"
#include "dbsnap/store/retention.hpp"

namespace dbsnap::config {

// The keys, for every engine's schema (engine/registry.cpp).
const std::vector<KeySpec>& retention_keys();

// The policy the target's keys set (empty when none is). Errors: `config`
// naming the target and key for a negative count or a bad age.
Expected<store::RetentionPolicy> retention_of(const Target& target);

}  // namespace dbsnap::config
