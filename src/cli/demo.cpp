#include <CLI/CLI.hpp>
#include <SQLiteCpp/SQLiteCpp.h>

#include "dbsnap/cli/command.hpp"
#include "dbsnap/cli/commands.hpp"
#include "dbsnap/cli/context.hpp"
#include "dbsnap/cli/demo_project.hpp"
#include "dbsnap/util/fs.hpp"

namespace dbsnap::cli {

namespace fs = std::filesystem;

namespace {

int count_rows(const fs::path& db_file, const char* table) {
  SQLite::Database db(db_file.string(), SQLite::OPEN_READWRITE);
  return db.execAndGet(fmt::format("SELECT count(*) FROM {}", table)).getInt();
}

void step(const std::string& command) { fmt::print("\n$ {}\n", command); }

void create_project(const fs::path& dir) {
  for (const auto& file : demo_files()) {
    const fs::path path = dir / file.path;
    value_or_throw(util::ensure_private_dir(path.parent_path()));
    value_or_throw(util::write_file_atomic(path, file.content));
  }
  value_or_throw(util::ensure_private_dir(dir / "instance"));
  SQLite::Database db((dir / "instance/app.db").string(), SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
  db.exec(std::string(demo_schema_sql()));
}

}  // namespace

int run_demo(Context& context, const DemoOptions& options) {
  const fs::path dir = fs::absolute(options.directory).lexically_normal();
  const fs::path db_file = dir / "instance/app.db";
  std::error_code ec;
  if (fs::exists(dir / "dbsnap.toml", ec) && fs::exists(db_file, ec)) {
    fmt::print("dbsnap demo: reusing the demo project in {}\n", dir.string());
  } else if (fs::exists(dir, ec) && !fs::is_empty(dir, ec)) {
    fail(ErrorKind::usage, "{} exists and is not a dbsnap demo project; pick another folder", dir.string());
  } else {
    create_project(dir);
    fmt::print("dbsnap demo: created {}\n", dir.string());
    fmt::print("  a Flask-style app database (instance/app.db, SQLite) at Alembic revision {},\n", demo_head_revision);
    fmt::print("  its migration history (alembic.ini, migrations/versions: 3 revisions) and dbsnap.toml (target 'dev')\n");
  }
  context.globals.config_file = (dir / "dbsnap.toml").string();

  step("dbsnap backup dev --label before-experiment");
  run_backup(context, {.target = "dev", .label = "before-experiment"});

  step("dbsnap list dev");
  run_list(context, {.target = "dev"});

  const int before = count_rows(db_file, "estimate");
  fmt::print("\nA failed experiment: delete every estimate and drop the 'user' table...\n");
  {
    SQLite::Database db(db_file.string(), SQLite::OPEN_READWRITE);
    db.exec("PRAGMA foreign_keys=OFF; DELETE FROM estimate; DROP TABLE \"user\"; UPDATE alembic_version SET version_num = 'experiment'");
  }
  fmt::print("  estimates: {} -> {}\n", before, count_rows(db_file, "estimate"));

  step("dbsnap restore @" + std::string(demo_head_revision) + " --target dev --yes");
  run_restore(context, {.snapshot = "@" + std::string(demo_head_revision),
                        .target = "dev",
                        .confirmation = Confirmation::assume_yes});

  const int after = count_rows(db_file, "estimate");
  const int users = count_rows(db_file, "\"user\"");
  if (after != before || users == 0) {
    fail(ErrorKind::failure, "demo: the restore did not bring the data back ({} of {} estimates)", after, before);
  }
  fmt::print("\nThe data is back: {} estimates, {} users, revision {}.\n", after, users, demo_head_revision);
  fmt::print("Next: cd {} && dbsnap list && dbsnap show latest && dbsnap verify --all\n", dir.string());
  return 0;
}

void add_demo(CLI::App& app, Context& context) {
  auto options = std::make_shared<DemoOptions>();
  auto* cmd = add_command(app, context, options, 
      "demo", "Create a SQLite app database with a real Alembic history, then back it up, break it and restore it", run_demo);
  cmd->add_option("directory", options->directory, "Folder for the demo project (default ./dbsnap-demo)");
}

}  // namespace dbsnap::cli
