#include "dbsnap/init/proposal.hpp"

#include <algorithm>
#include <set>

#include <fmt/format.h>

#include "dbsnap/store/ids.hpp"
#include "dbsnap/util/text.hpp"

namespace dbsnap::init {

namespace {

// The image's name without registry, tag or digest: "docker.io/library/mariadb:11" -> "mariadb".
std::string image_name(std::string image) {
  if (auto at = image.find('@'); at != std::string::npos) image.erase(at);
  if (auto slash = image.rfind('/'); slash != std::string::npos) image.erase(0, slash + 1);
  if (auto colon = image.find(':'); colon != std::string::npos) image.erase(colon);
  std::transform(image.begin(), image.end(), image.begin(), [](unsigned char c) { return std::tolower(c); });
  return image;
}

bool has(const Container& c, const std::string& name) { return c.env.contains(name); }

std::string value(const Container& c, const std::string& name) {
  auto it = c.env.find(name);
  return it == c.env.end() ? std::string() : it->second;
}

// A target name from `wanted`: characters outside [A-Za-z0-9_.-] become '-',
// never starting with a dot, at most 64 characters, unique among `taken`.
std::string unique_name(std::string wanted, std::set<std::string>& taken) {
  for (auto& c : wanted) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '.' && c != '-') c = '-';
  }
  while (!wanted.empty() && wanted.front() == '.') wanted.erase(0, 1);
  if (wanted.size() > 60) wanted.resize(60);
  if (wanted.empty()) wanted = "db";
  std::string name = wanted;
  for (int n = 2; taken.contains(name) || !store::is_valid_target_name(name); ++n) name = fmt::format("{}-{}", wanted, n);
  taken.insert(name);
  return name;
}

// A TOML basic string.
std::string toml_string(const std::string& text) {
  std::string out = "\"";
  for (unsigned char c : text) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20 || c == 0x7f) {
          out += fmt::format("\\u{:04x}", c);
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

// Where a container is: by compose service (and project) when compose made it.
void add_location(ProposedTarget& t, const Container& c, const std::string& runtime) {
  if (runtime != "docker") t.keys.emplace_back("runtime", runtime);
  auto service = c.labels.find("com.docker.compose.service");
  auto project = c.labels.find("com.docker.compose.project");
  if (service != c.labels.end() && !service->second.empty()) {
    t.keys.emplace_back("compose_service", service->second);
    if (project != c.labels.end() && !project->second.empty()) t.keys.emplace_back("compose_project", project->second);
    t.origin = fmt::format("compose service '{}'{} (container {}, image {})", service->second,
                           project != c.labels.end() ? " of project '" + project->second + "'" : std::string(),
                           c.name, c.image);
  } else {
    t.keys.emplace_back("container", c.name);
    t.origin = fmt::format("container {} (image {})", c.name, c.image);
  }
}

ProposedTarget mysql_target(const Container& c, const std::string& runtime) {
  ProposedTarget t{.engine = "mysql"};
  add_location(t, c, runtime);
  t.origin = "MySQL/MariaDB in " + t.origin;
  std::string database;
  for (const char* var : {"MARIADB_DATABASE", "MYSQL_DATABASE"}) {
    if (database.empty()) database = value(c, var);
  }
  if (database.empty()) {
    t.missing = "the container names no database (MYSQL_DATABASE / MARIADB_DATABASE): set `database` and uncomment";
    t.keys.emplace_back("database", "DATABASE");
  } else {
    t.keys.emplace_back("database", database);
  }
  // root when its password is in the environment; else the application's user.
  for (const char* var : {"MARIADB_ROOT_PASSWORD", "MYSQL_ROOT_PASSWORD"}) {
    if (has(c, var)) {
      t.keys.emplace_back("user", "root");
      t.keys.emplace_back("password_from_container", var);
      return t;
    }
  }
  for (const auto& [user_var, password_var] :
       {std::pair{"MARIADB_USER", "MARIADB_PASSWORD"}, std::pair{"MYSQL_USER", "MYSQL_PASSWORD"}}) {
    if (has(c, user_var) && has(c, password_var)) {
      t.keys.emplace_back("user", value(c, user_var));
      t.keys.emplace_back("password_from_container", password_var);
      return t;
    }
  }
  t.notes.push_back("no password variable in the container's environment: set user and password_env "
                    "(a variable of dbsnap's environment) if the server needs one");
  return t;
}

ProposedTarget postgres_target(const Container& c, const std::string& runtime) {
  ProposedTarget t{.engine = "postgres"};
  add_location(t, c, runtime);
  t.origin = "PostgreSQL in " + t.origin;
  const std::string user = value(c, "POSTGRES_USER").empty() ? "postgres" : value(c, "POSTGRES_USER");
  const std::string database = value(c, "POSTGRES_DB").empty() ? user : value(c, "POSTGRES_DB");
  t.keys.emplace_back("database", database);
  t.keys.emplace_back("user", user);
  // Over the container's unix socket the official image trusts every user; the
  // password is given anyway, for a server that asks for it.
  if (has(c, "POSTGRES_PASSWORD")) t.keys.emplace_back("password_from_container", "POSTGRES_PASSWORD");
  return t;
}

}  // namespace

std::string engine_of(const Container& c) {
  const std::string image = image_name(c.image);
  for (const auto& [name, _] : c.env) {
    if (name.starts_with("MYSQL_") || name.starts_with("MARIADB_")) return "mysql";
    if (name.starts_with("POSTGRES_") || name == "PGDATA") return "postgres";
  }
  if (image.find("mariadb") != std::string::npos || image.find("mysql") != std::string::npos) return "mysql";
  if (image.find("postgres") != std::string::npos || image.find("postgis") != std::string::npos) return "postgres";
  return {};
}

Proposal propose(const std::vector<Container>& containers, const std::string& runtime,
                 const std::vector<std::filesystem::path>& sqlite_files,
                 const std::vector<std::filesystem::path>& migrations) {
  Proposal p;
  p.migrations = migrations;
  std::set<std::string> taken;
  std::vector<const Container*> sorted;
  for (const auto& c : containers) sorted.push_back(&c);
  std::sort(sorted.begin(), sorted.end(), [](const Container* a, const Container* b) { return a->name < b->name; });
  for (const auto* c : sorted) {
    const std::string engine = engine_of(*c);
    if (engine.empty()) continue;  // not a database
    if (!c->running) {
      p.skipped.push_back(fmt::format("{} ({}): not running", c->name, engine == "mysql" ? "MySQL/MariaDB" : "PostgreSQL"));
      continue;
    }
    ProposedTarget t = engine == "mysql" ? mysql_target(*c, runtime) : postgres_target(*c, runtime);
    auto service = c->labels.find("com.docker.compose.service");
    t.name = unique_name(service != c->labels.end() && !service->second.empty() ? service->second : c->name, taken);
    p.targets.push_back(std::move(t));
  }
  for (const auto& file : sqlite_files) {
    ProposedTarget t{.engine = "sqlite"};
    t.keys.emplace_back("file", file.generic_string());
    t.origin = "SQLite file " + file.generic_string() + " (it has an alembic_version table)";
    t.name = unique_name(file.stem().string(), taken);
    p.targets.push_back(std::move(t));
  }
  if (migrations.size() == 1) {
    for (auto& t : p.targets) t.keys.emplace_back("migrations", migrations.front().generic_string());
  }
  return p;
}

std::string render(const Proposal& p, const std::string& written_on) {
  std::string out = fmt::format(
      "# dbsnap.toml, written by `dbsnap init` on {} from what it found here.\n"
      "# Check each target, then: dbsnap doctor TARGET, and dbsnap backup TARGET.\n"
      "# Passwords are never stored here: password_from_container names a variable that dbsnap reads\n"
      "# inside the container at each run; password_env, one of dbsnap's own environment.\n"
      "\n"
      "# Where snapshots go (default: snapshots/ beside this file); s3://BUCKET/PREFIX for a bucket.\n"
      "# store = \"snapshots\"\n",
      written_on);
  if (p.migrations.size() > 1) {
    out += "\n# Alembic versions folders found (each target's `migrations` key names its own):\n";
    for (const auto& m : p.migrations) out += "#   " + m.generic_string() + "\n";
  }
  if (p.targets.empty()) {
    out += "\n# No database found: no database container runs, and no SQLite file with an alembic_version\n"
           "# table is under this folder. A target looks like this:\n"
           "# [targets.app]\n# engine = \"sqlite\"\n# file = \"instance/app.db\"\n";
  }
  for (const auto& t : p.targets) {
    const std::string lead = t.missing.empty() ? "" : "# ";
    out += fmt::format("\n# {}\n", t.origin);
    if (!t.missing.empty()) out += "# Not enabled: " + t.missing + ".\n";
    for (const auto& note : t.notes) out += "# " + note + ".\n";
    out += fmt::format("{}[targets.{}]\n", lead, t.name);
    out += fmt::format("{}engine = {}\n", lead, toml_string(t.engine));
    for (const auto& [key, val] : t.keys) {
      std::string line = fmt::format("{}{} = {}", lead, key, toml_string(val));
      if (key == "password_from_container") line += "  # the variable's name, not its value";
      out += line + "\n";
    }
  }
  if (!p.skipped.empty()) {
    out += "\n# Left out:\n";
    for (const auto& s : p.skipped) out += "#   " + s + "\n";
  }
  return out;
}

}  // namespace dbsnap::init
