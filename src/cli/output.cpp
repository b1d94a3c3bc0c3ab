#include "dbsnap/cli/output.hpp"

#include <algorithm>

#include <fmt/core.h>

#include "dbsnap/util/text.hpp"

namespace dbsnap::cli {

nlohmann::json snapshot_json(const store::Store& store, const store::Manifest& manifest) {
  auto doc = store::to_json(manifest);
  doc["path"] = store.blob_path(manifest).string();
  doc["manifest_path"] = store.manifest_path(manifest).string();
  return doc;
}

void print_table(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> widths(header.size());
  for (std::size_t i = 0; i < header.size(); ++i) widths[i] = header[i].size();
  for (const auto& row : rows) {
    for (std::size_t i = 0; i < row.size() && i < widths.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  }
  auto print_row = [&](const std::vector<std::string>& row) {
    std::string line;
    for (std::size_t i = 0; i < row.size(); ++i) {
      if (i + 1 == row.size()) {
        line += row[i];
      } else {
        line += fmt::format("{:<{}}  ", row[i], widths[i]);
      }
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    fmt::print("{}\n", line);
  };
  print_row(header);
  for (const auto& row : rows) print_row(row);
}

std::string snapshot_summary(const store::Manifest& m) {
  return fmt::format(
      "snapshot  {}\n"
      "target    {} ({})\n"
      "revision  {}\n"
      "size      {} raw, {} stored ({})\n"
      "time      {}\n",
      m.id, m.target, m.engine, util::revision_text(m.revisions), util::human_bytes(m.raw_bytes),
      util::human_bytes(m.stored_bytes), util::compression_ratio(m.raw_bytes, m.stored_bytes),
      util::human_duration(std::chrono::milliseconds(m.duration_ms)));
}

}  // namespace dbsnap::cli
