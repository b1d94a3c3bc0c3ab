#pragma once

#include <string_view>
#include <vector>

namespace dbsnap::cli {

// One file of the embedded demo project: a real Alembic project (alembic.ini,
// env.py, three revision files) and the dbsnap.toml that names its SQLite
// database as target "dev".
struct DemoFile {
  std::string_view path;
  std::string_view content;
};

const std::vector<DemoFile>& demo_files();

// SQL that brings an empty SQLite database to the head revision exactly as
// `alembic upgrade head` with the embedded revisions does, plus sample rows.
std::string_view demo_schema_sql();

// The head revision of the embedded history.
inline constexpr std::string_view demo_head_revision = "c61e04d2f9b8";

}  // namespace dbsnap::cli
