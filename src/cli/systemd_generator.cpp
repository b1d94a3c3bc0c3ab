// dbsnap __systemd-generator DIR: what packaging/systemd/dbsnap-schedule-generator
// (a systemd.generator(7), run at boot and at every `systemctl daemon-reload`)
// runs. For each target of the config with a `schedule` key it writes
//   DIR/dbsnap-backup@TARGET.timer.d/schedule.conf   [Timer] OnCalendar=<schedule>
//   DIR/timers.target.wants/dbsnap-backup@TARGET.timer -> the packaged template
// so the timer runs on that schedule, enabled, with nothing else to do than
// editing dbsnap.toml and reloading. A target with a bad schedule is said on
// stderr (the journal) and skipped; the others are still written.

#include <filesystem>

#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include "dbsnap/cli/commands.hpp"
#include "dbsnap/cli/context.hpp"
#include "dbsnap/config/schedule.hpp"
#include "dbsnap/util/fs.hpp"

namespace dbsnap::cli {

namespace fs = std::filesystem;

namespace {

// Where the Debian package installs the timer template (CMakeLists.txt: lib/systemd/system under /usr).
constexpr const char* timer_template = "/usr/lib/systemd/system/dbsnap-backup@.timer";

}  // namespace

int run_systemd_generator(Context& context, const std::string& dir) {
  if (dir.empty() || !fs::is_directory(dir)) fail(ErrorKind::usage, "'{}' is not a folder", dir);
  bool skipped = false;
  for (const auto& [name, target] : context.config().targets) {
    auto schedule = config::schedule_of(target);
    if (!schedule) {
      fmt::print(stderr, "dbsnap: {}; its timer was left as it is\n", schedule.error().message);
      skipped = true;
      continue;
    }
    if (!*schedule) continue;
    const std::string unit = fmt::format("dbsnap-backup@{}.timer", name);
    const fs::path drop_in = fs::path(dir) / (unit + ".d");
    std::error_code ec;
    fs::create_directories(drop_in, ec);
    if (ec) fail(ErrorKind::failure, "cannot create {}: {}", drop_in.string(), ec.message());
    value_or_throw(util::write_file_atomic(
        drop_in / "schedule.conf",
        fmt::format("# Written by dbsnap's systemd generator from the schedule of target '{}' in {}\n"
                    "[Timer]\nOnCalendar=\nOnCalendar={}\n",
                    name, context.config().file.string(), **schedule)));
    const fs::path wants = fs::path(dir) / "timers.target.wants";
    fs::create_directories(wants, ec);
    if (ec) fail(ErrorKind::failure, "cannot create {}: {}", wants.string(), ec.message());
    fs::remove(wants / unit, ec);
    fs::create_symlink(timer_template, wants / unit, ec);
    if (ec) fail(ErrorKind::failure, "cannot link {}: {}", (wants / unit).string(), ec.message());
  }
  return skipped ? static_cast<int>(ErrorKind::config) : 0;
}

void add_systemd_generator(CLI::App& app, Context& context) {
  auto dir = std::make_shared<std::string>();
  // An empty group hides the command from --help.
  auto* cmd = app.add_subcommand("__systemd-generator", "Write the timers of targets with a schedule")->group("");
  cmd->add_option("dir", *dir, "The generator's output folder")->required();
  cmd->callback([&context, dir] { context.exit_code = run_systemd_generator(context, *dir); });
}

}  // namespace dbsnap::cli
