#pragma once

// `dbsnap init`, part one: what there is to back up on this host. The
// containers a docker (or podman) CLI lists, with their image, environment
// and labels (never the value of a variable that holds a password); the
// SQLite files under a folder that have an Alembic version table; the
// Alembic versions folders there (Flask-Migrate's migrations/versions,
// alembic's alembic/versions). init/proposal.hpp turns them into targets.

#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "dbsnap/util/error.hpp"

namespace dbsnap::init {

struct Container {
  std::string name;   // without docker's leading '/'
  std::string image;  // as the container was created from it ("mariadb:11", "postgres:16-alpine")
  // Config.Env. The value of a variable whose name says it holds a secret
  // (PASSWORD, SECRET, TOKEN, KEY) is never kept: it is empty here.
  std::map<std::string, std::string> env;
  std::map<std::string, std::string> labels;
  bool running = false;
};

// Whether a variable's name says it holds a secret (its value is never read).
bool is_secret_name(std::string_view name);

// Parses `docker inspect` (or `podman inspect`) output: a JSON array of
// containers. A `corrupt` error for anything else.
Expected<std::vector<Container>> parse_inspect(std::string_view json);

// The containers `cli` knows (running or not): `ps -aq`, then `inspect`.
// Throws a `runtime` DbsnapError when the CLI is missing or its daemon does
// not answer, saying which.
std::vector<Container> list_containers(const std::string& cli);

// SQLite databases under `root` (at most 4 folders deep; hidden folders,
// node_modules, virtualenvs, __pycache__ and dbsnap stores skipped) that
// hold a table named `version_table`; paths relative to `root`, sorted.
// Files that are not SQLite databases, or cannot be opened, are skipped.
std::vector<std::filesystem::path> find_sqlite_databases(const std::filesystem::path& root,
                                                         const std::string& version_table = "alembic_version");

// Alembic versions folders under `root` (as deep as above): a `versions`
// folder beside an `env.py`; relative to `root`, sorted.
std::vector<std::filesystem::path> find_migrations(const std::filesystem::path& root);

}  // namespace dbsnap::init
