#include "dbsnap/alembic/commands.hpp"
#include "dbsnap/engine/engine.hpp"
#include "helpers.hpp"

using namespace dbsnap;

namespace {

config::Config parse(const std::string& keys) {
  auto cfg = config::parse_config("[targets.dev]\nengine = \"sqlite\"\nfile = \"app.db\"\n" + keys,
                                  "/proj/dbsnap.toml", engine::key_schema());
  REQUIRE(cfg);
  return *cfg;
}

ErrorKind error_of(const config::Target& target, alembic::Migration direction, const std::string& revision) {
  try {
    (void)alembic::migration_command(target, direction, revision);
  } catch (const DbsnapError& e) {
    return e.kind();
  }
  FAIL("no error for revision '" << revision << "'");
  return ErrorKind::failure;
}

}  // namespace

TEST_CASE("migration commands: the revision replaces every placeholder, inside one argv element each") {
  const auto cfg = parse(
      "upgrade_command = [\"flask\", \"db\", \"upgrade\", \"{revision}\"]\n"
      "downgrade_command = [\"alembic\", \"-x\", \"to={revision}\", \"downgrade\", \"{revision}\"]\n");
  const auto& dev = cfg.target("dev");
  CHECK(alembic::has_migration_command(dev, alembic::Migration::upgrade));
  CHECK(alembic::migration_command_takes_revision(dev, alembic::Migration::downgrade));
  CHECK(*alembic::migration_command(dev, alembic::Migration::upgrade, "heads") ==
        std::vector<std::string>{"flask", "db", "upgrade", "heads"});
  CHECK(*alembic::migration_command(dev, alembic::Migration::downgrade, "a b; rm -rf /") ==
        std::vector<std::string>{"alembic", "-x", "to=a b; rm -rf /", "downgrade", "a b; rm -rf /"});
  // A revision that itself holds the placeholder text is not expanded again.
  CHECK(*alembic::migration_command(dev, alembic::Migration::upgrade, "{revision}x") ==
        std::vector<std::string>{"flask", "db", "upgrade", "{revision}x"});
}

TEST_CASE("migration commands: none configured, or configured wrongly") {
  const auto none = parse("");
  CHECK_FALSE(alembic::has_migration_command(none.target("dev"), alembic::Migration::upgrade));
  CHECK_FALSE(alembic::migration_command(none.target("dev"), alembic::Migration::downgrade, "abc"));

  const auto empty = parse("upgrade_command = []\n");
  CHECK(error_of(empty.target("dev"), alembic::Migration::upgrade, "heads") == ErrorKind::config);

  // An upgrade may go to the heads without being told; a downgrade must be told where to stop.
  const auto fixed = parse("upgrade_command = [\"flask\", \"db\", \"upgrade\"]\n"
                           "downgrade_command = [\"flask\", \"db\", \"downgrade\"]\n");
  CHECK_FALSE(alembic::migration_command_takes_revision(fixed.target("dev"), alembic::Migration::upgrade));
  CHECK(*alembic::migration_command(fixed.target("dev"), alembic::Migration::upgrade, "heads") ==
        std::vector<std::string>{"flask", "db", "upgrade"});
  CHECK(error_of(fixed.target("dev"), alembic::Migration::downgrade, "abc") == ErrorKind::config);

  auto wrong_type = config::parse_config(
      "[targets.dev]\nengine = \"sqlite\"\nfile = \"app.db\"\ndowngrade_command = \"flask db downgrade\"\n",
      "/proj/dbsnap.toml", engine::key_schema());
  REQUIRE_FALSE(wrong_type);
  CHECK(wrong_type.error().message.find("downgrade_command: must be an array of strings") != std::string::npos);
}

TEST_CASE("migration commands: revisions that would read as options or break a line are refused") {
  const auto cfg = parse("downgrade_command = [\"flask\", \"db\", \"downgrade\", \"{revision}\"]\n");
  const auto& dev = cfg.target("dev");
  CHECK(error_of(dev, alembic::Migration::downgrade, "") == ErrorKind::usage);
  CHECK(error_of(dev, alembic::Migration::downgrade, "--sql") == ErrorKind::usage);
  CHECK(error_of(dev, alembic::Migration::downgrade, "abc\ndef") == ErrorKind::usage);
}
