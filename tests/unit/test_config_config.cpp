#include <fstream>

#include "dbsnap/config/config.hpp"
#include "dbsnap/engine/engine.hpp"
#include "helpers.hpp"

using namespace dbsnap;

namespace {

Expected<config::Config> parse(const std::string& text) {
  return config::parse_config(text, "/proj/dbsnap.toml", engine::key_schema());
}

}  // namespace

TEST_CASE("a valid config resolves relative paths against its folder") {
  auto cfg = parse(R"(
store = "backups"
[targets.dev]
engine = "sqlite"
file = "instance/app.db"
version_table = "alembic_version"
)");
  REQUIRE(cfg);
  CHECK(cfg->store == "/proj/backups");
  const auto& dev = cfg->target("dev");
  CHECK(dev.engine == "sqlite");
  CHECK(dev.path("file") == "/proj/instance/app.db");
  CHECK(dev.string("version_table") == "alembic_version");
}

TEST_CASE("config errors name the file, the line and the key") {
  auto unknown_key = parse("[targets.dev]\nengine = \"sqlite\"\nfile = \"a.db\"\nfiel = \"b.db\"\n");
  REQUIRE_FALSE(unknown_key);
  CHECK(unknown_key.error().kind == ErrorKind::config);
  CHECK(unknown_key.error().message.find("/proj/dbsnap.toml:4") != std::string::npos);
  CHECK(unknown_key.error().message.find("targets.dev.fiel") != std::string::npos);

  auto wrong_type = parse("[targets.dev]\nengine = \"sqlite\"\nfile = 42\n");
  REQUIRE_FALSE(wrong_type);
  CHECK(wrong_type.error().message.find(":3") != std::string::npos);
  CHECK(wrong_type.error().message.find("targets.dev.file: must be a path string") != std::string::npos);

  auto bad_engine = parse("[targets.dev]\nengine = \"oracle\"\n");
  REQUIRE_FALSE(bad_engine);
  CHECK(bad_engine.error().message.find("unknown engine 'oracle'") != std::string::npos);

  auto missing = parse("[targets.dev]\nengine = \"sqlite\"\n");
  REQUIRE_FALSE(missing);
  CHECK(missing.error().message.find("'file' is required") != std::string::npos);

  auto syntax = parse("[targets.dev\nengine = \"sqlite\"\n");
  REQUIRE_FALSE(syntax);
  CHECK(syntax.error().message.find("/proj/dbsnap.toml:1") != std::string::npos);

  auto top = parse("stroe = \"x\"\n");
  REQUIRE_FALSE(top);
  CHECK(top.error().message.find("stroe") != std::string::npos);

  auto bad_name = parse("[targets.\"a/b\"]\nengine = \"sqlite\"\nfile = \"x\"\n");
  CHECK_FALSE(bad_name);
}

TEST_CASE("unknown targets list the known ones") {
  auto cfg = parse("[targets.dev]\nengine = \"sqlite\"\nfile = \"a.db\"\n");
  REQUIRE(cfg);
  try {
    cfg->target("prod");
    FAIL("no error");
  } catch (const DbsnapError& e) {
    CHECK(e.kind() == ErrorKind::config);
    CHECK(std::string(e.what()).find("known: dev") != std::string::npos);
  }
}

TEST_CASE("the config file is found upward from the current folder") {
  test::TempDir dir;
  std::filesystem::create_directories(dir.path / "a/b/c");
  std::ofstream(dir.path / "a/dbsnap.toml") << "";
  auto found = config::find_config(dir.path / "a/b/c");
  REQUIRE(found);
  CHECK(*found == dir.path / "a/dbsnap.toml");
}

TEST_CASE("copy_to: top-level and per target, folders resolved, bucket locations kept") {
  auto cfg = parse(R"(
copy_to = "../offsite"
copy_key_file = "keys/offsite.key"
[targets.dev]
engine = "sqlite"
file = "a.db"
[targets.prod]
engine = "sqlite"
file = "b.db"
copy_to = "s3://bucket/prod"
)");
  REQUIRE(cfg);
  CHECK(cfg->copy_to == "/offsite");
  CHECK(cfg->copy_key_file == "/proj/keys/offsite.key");
  CHECK(config::copy_destination(*cfg, cfg->target("dev")) == "/offsite");
  CHECK(config::copy_destination(*cfg, cfg->target("prod")) == "s3://bucket/prod");
  auto bad = parse("copy_to = 3\n");
  REQUIRE_FALSE(bad);
  CHECK(bad.error().message.find("copy_to") != std::string::npos);
  auto none = parse("[targets.dev]\nengine = \"sqlite\"\nfile = \"a.db\"\n");
  REQUIRE(none);
  CHECK(config::copy_destination(*none, none->target("dev")).empty());
}

TEST_CASE("encryption, copy_encryption and [s3]: values read, bad ones named") {
  auto cfg = parse("encryption = \"none\"\ncopy_encryption = \"age\"\n[s3]\nendpoint = \"http://127.0.0.1:7480\"\n"
                   "region = \"eu-west-1\"\naddressing = \"virtual\"\n");
  REQUIRE(cfg);
  CHECK(cfg->encryption == config::NewStoreEncryption::none);
  CHECK(cfg->copy_encryption == config::NewStoreEncryption::age);
  CHECK(cfg->s3 == std::map<std::string, std::string>{
                       {"endpoint", "http://127.0.0.1:7480"}, {"region", "eu-west-1"}, {"addressing", "virtual"}});
  auto defaults = parse("");
  REQUIRE(defaults);
  CHECK(defaults->encryption == config::NewStoreEncryption::age);
  CHECK(defaults->s3.empty());
  for (const auto& [text, needle] : std::vector<std::pair<std::string, std::string>>{
           {"encryption = \"aes\"\n", "'encryption' must be \"age\""},
           {"copy_encryption = 1\n", "'copy_encryption' must be \"age\""},
           {"[s3]\nendpoint = \"\"\n", "'s3.endpoint' must be a non-empty string"},
           {"[s3]\naccess_key_id = \"x\"\n", "unknown key 's3.access_key_id'"}}) {
    auto bad = parse(text);
    REQUIRE_FALSE(bad);
    CHECK(bad.error().kind == ErrorKind::config);
    CHECK_MESSAGE(bad.error().message.find(needle) != std::string::npos, bad.error().message);
  }
}
