#include <cstdlib>
#include <fstream>

#include "dbsnap/engine/per_target.hpp"
#include "dbsnap/engine/server.hpp"
#include "dbsnap/util/text.hpp"
#include "helpers.hpp"

using namespace dbsnap;

namespace {

const engine::ServerSpec spec{.password_variable = "DBSNAP_TEST_TOOL_PWD",
                              .default_user = "admin",
                              .database_help = "the database",
                              .port_help = "the port"};

// A target on this host (the local runtime): no container needed.
config::Target local_target(std::map<std::string, config::Value> values) {
  config::Target t;
  t.name = "db";
  t.engine = "mysql";
  t.values = std::move(values);
  return t;
}

ErrorKind kind_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const DbsnapError& e) {
    return e.kind();
  }
  FAIL("no error");
  return ErrorKind::failure;
}

}  // namespace

TEST_CASE("engine::Server reads the connection keys and refuses bad ones with a config error") {
  engine::Server server(local_target({{"database", std::string("app")}, {"host", std::string("db.local")},
                                      {"port", std::int64_t{3307}}}),
                        spec);
  CHECK(server.database() == "app");
  CHECK(server.user() == "admin");
  CHECK(server.host() == "db.local");
  CHECK(server.port() == 3307);
  CHECK(server.where() == "database 'app' in this host");

  engine::Server defaults(local_target({{"database", std::string("app")}, {"user", std::string("u")}}), spec);
  CHECK(defaults.user() == "u");
  CHECK(defaults.host().empty());
  CHECK_FALSE(defaults.port());

  CHECK(kind_of([] { engine::Server s(local_target({}), spec); }) == ErrorKind::config);
  CHECK(kind_of([] {
          engine::Server s(local_target({{"database", std::string("app")}, {"user", std::string("")}}), spec);
        }) == ErrorKind::config);
  for (std::int64_t port : {std::int64_t{0}, std::int64_t{-1}, std::int64_t{65536}}) {
    CHECK(kind_of([&] {
            engine::Server s(local_target({{"database", std::string("app")}, {"port", port}}), spec);
          }) == ErrorKind::config);
  }
  CHECK(kind_of([] {
          engine::Server s(local_target({{"database", std::string("app")},
                                         {"password_env", std::string("A")},
                                         {"password_from_container", std::string("B")}}),
                           spec);
        }) == ErrorKind::config);
}

TEST_CASE("engine::Server runs tools with the password in their environment only, and finds tools") {
  ::setenv("DBSNAP_TEST_SECRET", "s3cr3t pass", 1);
  engine::Server server(
      local_target({{"database", std::string("app")}, {"password_env", std::string("DBSNAP_TEST_SECRET")}}), spec);
  server.check();
  server.check();  // once is enough; the second returns at once
  auto r = server.run({"sh", "-c", "printf '%s|%s' \"$DBSNAP_TEST_TOOL_PWD\" \"$1\"", "sh", "arg"});
  CHECK(r.status.ok());
  CHECK(r.out == "s3cr3t pass|arg");

  // find_tool: the first of the names installed, with its --version line; nullopt for none.
  auto sh = server.find_tool({"dbsnap-no-such-tool", "sh"});
  REQUIRE(sh);
  CHECK(sh->path.ends_with("/sh"));
  CHECK_FALSE(server.find_tool({"dbsnap-no-such-tool"}));
  // The password never reaches the probe: a tool whose --version prints the variable says "unset".
  test::TempDir dir;
  const auto tool = dir.path / "dbsnap-test-tool";
  std::ofstream(tool) << "#!/bin/sh\necho \"version ${DBSNAP_TEST_TOOL_PWD-unset}\"\n";
  std::filesystem::permissions(tool, std::filesystem::perms::owner_all);
  const std::string path = std::getenv("PATH");
  ::setenv("PATH", (dir.path.string() + ":" + path).c_str(), 1);
  auto probed = server.find_tool({"dbsnap-test-tool"});
  ::setenv("PATH", path.c_str(), 1);
  ::unsetenv("DBSNAP_TEST_SECRET");
  REQUIRE(probed);
  CHECK(probed->version == "version unset");
}

TEST_CASE("engine::Server::keys are the connection and credential keys") {
  auto keys = engine::Server::keys(spec);
  std::vector<std::string> names;
  for (const auto& k : keys) names.push_back(k.name);
  CHECK(names == std::vector<std::string>{"database", "user", "host", "port", "password_env",
                                          "password_from_container"});
  CHECK(keys[0].required);
  CHECK(keys[1].help == "the database user (default admin)");
}

TEST_CASE("PerTarget makes one object per target, again when its keys change or its making threw") {
  int made = 0;
  bool fail_next = false;
  engine::PerTarget<int> cache([&](const config::Target&) {
    if (std::exchange(fail_next, false)) fail(ErrorKind::runtime, "cannot make it");
    return std::make_shared<int>(++made);
  });
  auto a = local_target({{"database", std::string("app")}});
  auto b = a;
  b.name = "other";
  CHECK(*cache.get(a) == 1);
  CHECK(*cache.get(a) == 1);
  CHECK(*cache.get(b) == 2);
  auto changed = a;
  changed.values["database"] = std::string("app2");
  CHECK(*cache.get(changed) == 3);
  CHECK(*cache.get(changed) == 3);
  auto third = a;
  third.name = "third";
  fail_next = true;
  CHECK_THROWS_AS(cache.get(third), DbsnapError);
  CHECK(*cache.get(third) == 4);
  CHECK(made == 4);
}
