#pragma once

#include <string>
#include <string_view>

#include "dbsnap/util/text.hpp"

namespace dbsnap::store {

// A new snapshot id: 9 characters of Crockford base32 milliseconds since the
// epoch followed by 4 random ones, lowercase ("0c4x1m7qe-" style without the
// dash: 13 characters). Ids sort as text in creation order, are safe as file
// names on every file system, and collide only for two snapshots made in the
// same millisecond with the same 20 random bits.
std::string new_snapshot_id(util::TimePoint now);

// True for strings that new_snapshot_id could have produced.
bool is_valid_snapshot_id(std::string_view id);

// True for names usable as a target name (and so as a folder name in the
// store): 1-64 characters of [A-Za-z0-9_.-], not starting with a dot.
bool is_valid_target_name(std::string_view name);

}  // namespace dbsnap::store
