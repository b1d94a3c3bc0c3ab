#include <CLI/CLI.hpp>

#include "dbsnap/cli/command.hpp"
#include "dbsnap/cli/commands.hpp"
#include "dbsnap/cli/context.hpp"
#include "dbsnap/cli/output.hpp"
#include "dbsnap/core/operations.hpp"
#include "dbsnap/engine/engine.hpp"
#include "dbsnap/runtime/runtime.hpp"
#include "dbsnap/util/fs.hpp"
#include "dbsnap/util/text.hpp"

namespace dbsnap::cli {

namespace {

using Check = engine::Check;

bool under(const std::string& path, const std::string& mount) {
  if (mount == "/") return true;
  return path == mount || path.starts_with(mount.back() == '/' ? mount : mount + "/");
}

}  // namespace

int run_doctor(Context& context, const DoctorOptions& options) {
  std::vector<Check> checks;
  const auto& target = context.target(options.target);
  checks.push_back({Check::Level::ok, "config", fmt::format("{} (engine {})", context.config().file.string(), target.engine), ""});
  engine::Engine& engine = engine::engine_for(target);
  const auto work = core::work_context(context.store());

  std::unique_ptr<runtime::Runtime> rt;
  try {
    rt = runtime::make_runtime(target);
    rt->check();
    std::string version = rt->version();
    checks.push_back({Check::Level::ok, "runtime",
                      fmt::format("{}{}{}{}", rt->name(), rt->container().empty() ? "" : ", " + rt->where() + " running",
                                  version.empty() ? "" : " (" + version + ")",
                                  rt->transport().empty() ? "" : "; dumps stream through the " + rt->transport()),
                      ""});
  } catch (const DbsnapError& e) {
    checks.push_back({Check::Level::fail, "runtime", e.what(), "start the container / daemon, or fix dbsnap.toml"});
  }
  const bool runtime_ok = checks.back().level == Check::Level::ok;
  if (runtime_ok) {
    for (auto& check : engine.diagnose(target, work)) checks.push_back(std::move(check));
  }
  const bool reachable = runtime_ok && checks.back().level != Check::Level::fail;

  if (reachable) {
    try {
      auto revisions = engine.read_revisions(target, work);
      checks.push_back({revisions.empty() ? Check::Level::warn : Check::Level::ok, "revision",
                        util::revision_text(revisions),
                        revisions.empty() ? "the database is not versioned by Alembic (flask db stamp head?)" : ""});
    } catch (const DbsnapError& e) {
      checks.push_back({Check::Level::fail, "revision", e.what(), "check version_table in dbsnap.toml"});
    }
    auto free = util::free_space(context.store_path());
    std::optional<std::uint64_t> size;
    try {
      size = engine.size_bytes(target, work);
    } catch (const DbsnapError& e) {
      checks.push_back({Check::Level::warn, "size", fmt::format("cannot measure the database: {}", e.what()), ""});
    }
    if (free && size) {
      const bool enough = *free > *size;
      checks.push_back({enough ? Check::Level::ok : Check::Level::fail, "space",
                        fmt::format("{} free in {} for a database of {}", util::human_bytes(*free),
                                    context.store_path().string(), util::human_bytes(*size)),
                        enough ? "" : "free space or move the store (--store, DBSNAP_STORE)"});
    } else if (free) {
      checks.push_back({Check::Level::ok, "space", fmt::format("{} free in {}", util::human_bytes(*free),
                                                               context.store_path().string()), ""});
    }
    if (rt && !rt->container().empty()) {
      std::string data_dir;
      std::string unknown_why;
      try {
        data_dir = engine.data_directory(target, work);
      } catch (const DbsnapError& e) {
        unknown_why = e.what();
      }
      const auto mounts = rt->mounts();
      bool on_volume = false;
      for (const auto& m : mounts) on_volume = on_volume || (!data_dir.empty() && under(data_dir, m));
      if (data_dir.empty()) {
        checks.push_back({Check::Level::warn, "volume",
                          unknown_why.empty() ? "cannot tell where the server keeps its data"
                                              : "cannot tell where the server keeps its data: " + unknown_why,
                          ""});
      } else if (on_volume) {
        checks.push_back({Check::Level::ok, "volume", fmt::format("data directory {} is on a volume", data_dir), ""});
      } else {
        checks.push_back({Check::Level::warn, "volume",
                          fmt::format("DATA IS NOT ON A VOLUME: {} lives in {}'s own layer; `docker compose down` "
                                      "or a rebuild deletes the database",
                                      data_dir, rt->where()),
                          fmt::format("mount a named volume at {} (compose: volumes: - db_data:{})", data_dir,
                                      data_dir)});
      }
    }
  }

  int failures = 0;
  int warnings = 0;
  auto list = nlohmann::json::array();
  for (const auto& c : checks) {
    failures += c.level == Check::Level::fail;
    warnings += c.level == Check::Level::warn;
    if (context.globals.json) {
      const char* level = c.level == Check::Level::ok ? "ok" : c.level == Check::Level::warn ? "warn" : "fail";
      list.push_back({{"name", c.name}, {"level", level}, {"detail", c.detail}, {"fix", c.fix}});
      continue;
    }
    const char* tag = c.level == Check::Level::ok ? "ok  " : c.level == Check::Level::warn ? "WARN" : "FAIL";
    fmt::print("{}  {:<10} {}\n", tag, c.name, c.detail);
    if (!c.fix.empty()) fmt::print("      {:<10} fix: {}\n", "", c.fix);
  }
  if (context.globals.json) {
    print_json({{"target", target.name},
                {"engine", target.engine},
                {"ok", failures == 0},
                {"failures", failures},
                {"warnings", warnings},
                {"checks", list}});
  }
  if (failures > 0) fail(ErrorKind::failure, "doctor: {} check(s) failed for target '{}'", failures, target.name);
  return 0;
}

void add_doctor(CLI::App& app, Context& context) {
  auto options = std::make_shared<DoctorOptions>();
  auto* cmd = add_command(app, context, options, "doctor",
                          "Check that a target can be backed up and restored, with fixes", run_doctor);
  add_target_argument(*cmd, options->target);
}

}  // namespace dbsnap::cli
