#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "dbsnap/store/manifest.hpp"
#include "dbsnap/store/store.hpp"

namespace dbsnap::cli {

// A manifest as --json prints it: the manifest document plus the absolute
// paths of its blob and manifest files.
nlohmann::json snapshot_json(const store::Store& store, const store::Manifest& manifest);

// Prints rows as a left-aligned table with a header row.
void print_table(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows);

// The one-paragraph summary backup and restore print for a snapshot.
std::string snapshot_summary(const store::Manifest& manifest);

}  // namespace dbsnap::cli
