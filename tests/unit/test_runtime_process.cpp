#include <csignal>

#include "dbsnap/runtime/process.hpp"
#include "helpers.hpp"

using namespace dbsnap;

TEST_CASE("run captures stdout, stderr and the exit code") {
  auto r = runtime::run({.argv = {"sh", "-c", "echo out; echo err >&2; exit 3"}});
  REQUIRE(r);
  CHECK(r->out == "out\n");
  CHECK(r->err == "err\n");
  CHECK(r->status.code == 3);
  CHECK_FALSE(r->status.ok());
}

TEST_CASE("arguments are passed verbatim, never through a shell") {
  auto r = runtime::run({.argv = {"printf", "%s|", "a b", "$(rm -rf /)", "'\""}});
  REQUIRE(r);
  CHECK(r->out == "a b|$(rm -rf /)|'\"|");
}

TEST_CASE("environment entries reach the child without touching argv") {
  auto r = runtime::run({.argv = {"sh", "-c", "printf %s \"$DBSNAP_TEST_SECRET\""},
                         .env = {{"DBSNAP_TEST_SECRET", "s3cr3t"}}});
  REQUIRE(r);
  CHECK(r->out == "s3cr3t");
}

TEST_CASE("large input and output at once do not deadlock") {
  std::string input(8 << 20, 'x');
  auto r = runtime::run({.argv = {"cat"}}, input);
  REQUIRE(r);
  CHECK(r->status.ok());
  CHECK(r->out.size() == input.size());
}

TEST_CASE("a chatty stderr does not block a child writing stdout") {
  auto r = runtime::run({.argv = {"sh", "-c", "head -c 3000000 /dev/zero >&2; echo done"}});
  REQUIRE(r);
  CHECK(r->out == "done\n");
  CHECK(r->status.ok());
}

TEST_CASE("a missing executable is a runtime error") {
  auto r = runtime::run({.argv = {"dbsnap-no-such-tool-xyz"}});
  REQUIRE_FALSE(r);
  CHECK(r.error().kind == ErrorKind::runtime);
}

TEST_CASE("a killed child reports its signal") {
  auto p = runtime::Process::start({.argv = {"sleep", "30"}});
  REQUIRE(p);
  p->kill(SIGKILL);
  auto status = p->wait();
  CHECK(status.signal == SIGKILL);
  CHECK(status.describe().find("signal 9") != std::string::npos);
}
