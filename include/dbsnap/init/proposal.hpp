#pragma once

// `dbsnap init`, part two: targets proposed from what init/discover.hpp found,
// and the commented dbsnap.toml that holds them.
//
// A container is a MySQL/MariaDB target when its image or environment says so
// (MYSQL_* / MARIADB_* variables, an image named mysql or mariadb), a
// PostgreSQL one likewise (POSTGRES_*, an image named postgres/postgis/
// postgresql). Credentials come from the container's own environment at each
// run (`password_from_container` names the variable): no password is ever
// written into the file. A container started by compose is named by its
// service and project, so the target survives the container being recreated.
// A container whose database cannot be told (MySQL without MYSQL_DATABASE)
// is proposed commented out, saying what to fill in.

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "dbsnap/init/discover.hpp"

namespace dbsnap::init {

struct ProposedTarget {
  std::string name;
  std::string engine;
  std::string origin;  // where it was found, for the comment above it
  std::vector<std::pair<std::string, std::string>> keys;  // key -> string value, in order (engine first)
  std::vector<std::string> notes;  // comment lines inside the table (what to check)
  std::string missing;             // non-empty: proposed commented out, and why
};

struct Proposal {
  std::vector<ProposedTarget> targets;
  std::vector<std::string> skipped;  // containers looked at and left out, and why
  std::vector<std::filesystem::path> migrations;
};

// What kind of database a container runs: "mysql", "postgres", or empty.
std::string engine_of(const Container& container);

// Targets for the running database containers (the CLI `runtime` lists:
// "docker" or "podman"), the SQLite files (relative paths) and the Alembic
// versions folders found. Target names are unique and valid.
Proposal propose(const std::vector<Container>& containers, const std::string& runtime,
                 const std::vector<std::filesystem::path>& sqlite_files,
                 const std::vector<std::filesystem::path>& migrations);

// The dbsnap.toml text: a header saying how it was made and what to do next,
// then one commented table per target. `written_on`: a date for the header.
std::string render(const Proposal& proposal, const std::string& written_on);

}  // namespace dbsnap::init
