#include "dbsnap/init/discover.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <fstream>

#include <SQLiteCpp/SQLiteCpp.h>
#include <nlohmann/json.hpp>

#include "dbsnap/runtime/process.hpp"
#include "dbsnap/util/text.hpp"

namespace dbsnap::init {

namespace fs = std::filesystem;

namespace {

constexpr int max_depth = 4;

// Folders never searched: hidden ones, dependencies, caches, dbsnap stores.
bool skipped_folder(const fs::path& dir) {
  const std::string name = dir.filename().string();
  if (name.starts_with('.') || name == "node_modules" || name == "__pycache__" || name == "site-packages") return true;
  std::error_code ec;
  if (fs::exists(dir / "pyvenv.cfg", ec)) return true;  // a virtualenv
  return fs::exists(dir / "catalog.db", ec) || fs::exists(dir / ".repository-lock", ec);  // a dbsnap store
}

// Walks `root` to max_depth, calling `visit` for every regular file and folder.
template <typename Visit>
void walk(const fs::path& root, Visit visit) {
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(root, fs::directory_options::skip_permission_denied, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    const auto status = it->symlink_status(ec);
    if (ec) break;
    if (fs::is_directory(status)) {
      if (it.depth() >= max_depth - 1 || skipped_folder(it->path())) it.disable_recursion_pending();
      visit(*it, true);
    } else if (fs::is_regular_file(status)) {
      visit(*it, false);
    }
  }
}

// True when the file starts with SQLite's header.
bool looks_like_sqlite(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::array<char, 16> header{};
  in.read(header.data(), header.size());
  return in.gcount() == 16 && std::memcmp(header.data(), "SQLite format 3\0", 16) == 0;
}

}  // namespace

bool is_secret_name(std::string_view name) {
  std::string upper(name);
  std::transform(upper.begin(), upper.end(), upper.begin(), [](unsigned char c) { return std::toupper(c); });
  for (const char* word : {"PASSWORD", "PASSWD", "SECRET", "TOKEN", "KEY", "CREDENTIAL"}) {
    if (upper.find(word) != std::string::npos) return true;
  }
  return false;
}

Expected<std::vector<Container>> parse_inspect(std::string_view text) {
  auto doc = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_array()) return make_error(ErrorKind::corrupt, "not a container listing");
  std::vector<Container> out;
  try {
    for (const auto& item : doc) {
      Container c;
      c.name = item.value("Name", "");
      if (c.name.starts_with('/')) c.name.erase(0, 1);
      const auto& config = item.contains("Config") && item["Config"].is_object() ? item["Config"] : nlohmann::json();
      c.image = config.is_object() ? config.value("Image", item.value("ImageName", "")) : "";
      if (config.is_object() && config.contains("Env") && config["Env"].is_array()) {
        for (const auto& entry : config["Env"]) {
          if (!entry.is_string()) continue;
          const std::string kv = entry.get<std::string>();
          const auto eq = kv.find('=');
          const std::string name = kv.substr(0, eq);
          c.env[name] = eq == std::string::npos || is_secret_name(name) ? std::string() : kv.substr(eq + 1);
        }
      }
      if (config.is_object() && config.contains("Labels") && config["Labels"].is_object()) {
        for (auto it = config["Labels"].begin(); it != config["Labels"].end(); ++it) {
          if (it.value().is_string()) c.labels[it.key()] = it.value().get<std::string>();
        }
      }
      if (item.contains("State") && item["State"].is_object()) c.running = item["State"].value("Running", false);
      if (!c.name.empty()) out.push_back(std::move(c));
    }
  } catch (const nlohmann::json::exception& e) {
    return make_error(ErrorKind::corrupt, "unexpected container listing: {}", e.what());
  }
  return out;
}

std::vector<Container> list_containers(const std::string& cli) {
  auto ids = runtime::run({.argv = {cli, "ps", "-aq", "--no-trunc"}});
  if (!ids) fail(ErrorKind::runtime, "'{}' is not installed", cli);
  if (!ids->status.ok()) {
    fail(ErrorKind::runtime, "{} ps failed: {}", cli, util::last_nonempty_line(ids->err));
  }
  std::vector<std::string> argv{cli, "inspect", "--type", "container"};
  for (auto line : util::nonempty_lines(ids->out)) argv.emplace_back(util::trim(line));
  if (argv.size() == 4) return {};
  auto listing = runtime::run({.argv = argv});
  if (!listing || !listing->status.ok()) {
    // A container removed between ps and inspect: list what is left.
    fail(ErrorKind::runtime, "{} inspect failed: {}", cli,
         listing ? std::string(util::last_nonempty_line(listing->err)) : listing.error().message);
  }
  return value_or_throw(parse_inspect(listing->out));
}

std::vector<fs::path> find_sqlite_databases(const fs::path& root, const std::string& version_table) {
  std::vector<fs::path> found;
  walk(root, [&](const fs::directory_entry& entry, bool folder) {
    if (folder || !looks_like_sqlite(entry.path())) return;
    try {
      SQLite::Database db(entry.path().string(), SQLite::OPEN_READONLY);
      SQLite::Statement query(db, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?");
      query.bind(1, version_table);
      if (query.executeStep()) found.push_back(fs::relative(entry.path(), root));
    } catch (const SQLite::Exception&) {
      // Locked, damaged or encrypted: not one init can propose.
    }
  });
  std::sort(found.begin(), found.end());
  return found;
}

std::vector<fs::path> find_migrations(const fs::path& root) {
  std::vector<fs::path> found;
  walk(root, [&](const fs::directory_entry& entry, bool folder) {
    std::error_code ec;
    if (folder && entry.path().filename() == "versions" && fs::is_regular_file(entry.path().parent_path() / "env.py", ec)) {
      found.push_back(fs::relative(entry.path(), root));
    }
  });
  std::sort(found.begin(), found.end());
  return found;
}

}  // namespace dbsnap::init
