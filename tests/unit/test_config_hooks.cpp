#include "dbsnap/config/hooks.hpp"
#include "dbsnap/engine/engine.hpp"
#include "helpers.hpp"

using namespace dbsnap;

namespace {

Expected<config::Hooks> hooks(const std::string& keys) {
  auto cfg = config::parse_config("[targets.dev]\nengine = \"sqlite\"\nfile = \"a.db\"\n" + keys, "/p/dbsnap.toml",
                                  engine::key_schema());
  REQUIRE(cfg);
  return config::hooks_of(cfg->target("dev"));
}

}  // namespace

TEST_CASE("hooks: ping_url gives healthchecks' /start and /fail, explicit URLs win") {
  auto none = hooks("");
  REQUIRE(none);
  CHECK(none->empty());
  auto hc = hooks("ping_url = \"https://hc.example/ping/uuid/\"\n");
  REQUIRE(hc);
  CHECK(hc->start_url->target == "/ping/uuid/start");
  CHECK(hc->success_url->target == "/ping/uuid");
  CHECK(hc->failure_url->target == "/ping/uuid/fail");
  CHECK(hc->method == "GET");
  auto mixed = hooks("ping_url = \"http://h/c?k=v\"\nping_failure_url = \"http://h/down?status=down\"\n"
                     "ping_method = \"POST\"\non_failure_command = [\"alert\", \"x\"]\n");
  REQUIRE(mixed);
  CHECK(mixed->start_url->target == "/c/start?k=v");
  CHECK(mixed->failure_url->target == "/down?status=down");
  CHECK(mixed->method == "POST");
  CHECK(mixed->on_failure_command == std::vector<std::string>{"alert", "x"});
  auto kuma = hooks("ping_success_url = \"http://kuma:3001/api/push/t?status=up\"\n");
  REQUIRE(kuma);
  CHECK_FALSE(kuma->start_url);
  CHECK_FALSE(kuma->failure_url);
  for (const char* bad : {"ping_url = \"ftp://x\"\n", "ping_method = \"PUT\"\n", "on_failure_command = []\n",
                          "ping_start_url = \"http://h:0/\"\n"}) {
    CAPTURE(bad);
    auto r = hooks(bad);
    REQUIRE_FALSE(r);
    CHECK(r.error().kind == ErrorKind::config);
  }
}
