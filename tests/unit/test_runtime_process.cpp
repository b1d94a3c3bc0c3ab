#include <csignal>
#include <filesystem>
#include <fstream>
#include <unistd.h>

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

TEST_CASE("cwd: the child runs in that folder and finds a relative program there") {
  test::TempDir dir;
  std::filesystem::create_directory(dir.path / "bin");
  {
    std::ofstream script(dir.path / "bin" / "where");
    script << "#!/bin/sh\npwd\n";
  }
  std::filesystem::permissions(dir.path / "bin" / "where", std::filesystem::perms::owner_all);
  auto r = runtime::run({.argv = {"./bin/where"}, .cwd = dir.path});
  REQUIRE(r);
  CHECK(r->out == std::filesystem::canonical(dir.path).string() + "\n");
  auto missing = runtime::run({.argv = {"true"}, .cwd = dir.path / "gone"});
  REQUIRE_FALSE(missing);
  CHECK(missing.error().kind == ErrorKind::runtime);
  CHECK(missing.error().message.find("not a folder") != std::string::npos);
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

TEST_CASE("describe_command: plain argv as typed, environment values masked") {
  runtime::Command c{.argv = {"docker", "exec", "-i", "-e", "MYSQL_PWD", "db", "mysqldump", "--user=root", "shop"},
                     .env = {{"MYSQL_PWD", "hunter2-secret"}}};
  CHECK(runtime::describe_command(c) == "MYSQL_PWD=*** docker exec -i -e MYSQL_PWD db mysqldump --user=root shop");
}

TEST_CASE("describe_command: quoting keeps one argument one word and the log one line") {
  runtime::Command c{.argv = {"sh", "-c", "echo 'a b'\nexit 1", "dbsnap", "", "it's"}};
  CHECK(runtime::describe_command(c) == "sh -c $'echo \\'a b\\'\\nexit 1' dbsnap '' 'it'\\''s'");
}

TEST_CASE("describe_command: whatever could be a secret is masked") {
  auto d = [](std::vector<std::string> argv, std::vector<std::pair<std::string, std::string>> env = {}) {
    return runtime::describe_command({.argv = std::move(argv), .env = std::move(env)});
  };
  SUBCASE("an environment value wherever it appears in argv") {
    auto line = d({"sh", "-c", "echo pa55word-x | tool"}, {{"PGPASSWORD", "pa55word-x"}});
    CHECK(line.find("pa55word-x") == std::string::npos);
    CHECK(line == "PGPASSWORD=*** sh -c 'echo *** | tool'");
  }
  SUBCASE("NAME=value and --name=value for password-like names") {
    CHECK(d({"docker", "exec", "-e", "MYSQL_PWD=abc", "db"}) == "docker exec -e MYSQL_PWD=*** db");
    CHECK(d({"mysql", "--password=abc", "app"}) == "mysql --password=*** app");
    CHECK(d({"env", "PGPASSWORD='a b' x"}) == "env 'PGPASSWORD=*** x'");
    CHECK(d({"psql", "host=db password=abc dbname=app"}) == "psql 'host=db password=*** dbname=app'");
    CHECK(d({"tool", "--api-token=t0k", "--client_secret=s"}) == "tool --api-token=*** --client_secret=***");
  }
  SUBCASE("the argument after --password, and a MySQL client's -pVALUE") {
    CHECK(d({"mysql", "--password", "abc", "app"}) == "mysql --password *** app");
    CHECK(d({"docker", "exec", "db", "mariadb-dump", "-pabc", "app"}) == "docker exec db mariadb-dump -p*** app");
    CHECK(d({"psql", "-p5432"}) == "psql -p5432");  // a port, not a password
  }
  SUBCASE("a URL's password") {
    CHECK(d({"psql", "postgresql://app:s3cret@db:5432/app"}) == "psql postgresql://app:***@db:5432/app");
    CHECK(d({"psql", "postgresql://app@db/app"}) == "psql postgresql://app@db/app");
  }
  SUBCASE("dbsnap's own DBSNAP_PASSWORD_FROM/_TO name variables, not values, and stay readable") {
    CHECK(d({"docker", "exec", "-e", "DBSNAP_PASSWORD_FROM=MYSQL_ROOT_PASSWORD", "-e", "DBSNAP_PASSWORD_TO=MYSQL_PWD",
             "db"}) == "docker exec -e DBSNAP_PASSWORD_FROM=MYSQL_ROOT_PASSWORD -e DBSNAP_PASSWORD_TO=MYSQL_PWD db");
  }
}

TEST_CASE("the command observer sees every command before it starts, even one that cannot start") {
  std::vector<std::string> seen;
  runtime::set_command_observer([&seen](const runtime::Command& c) { seen.push_back(runtime::describe_command(c)); });
  auto ok = runtime::run({.argv = {"true"}});
  auto missing = runtime::run({.argv = {"dbsnap-no-such-tool", "x"}});
  runtime::set_command_observer(nullptr);
  auto after = runtime::run({.argv = {"true"}});
  REQUIRE(ok);
  CHECK_FALSE(missing);
  CHECK(seen == std::vector<std::string>{"true", "dbsnap-no-such-tool x"});
}

TEST_CASE("StdoutMode::to_stderr sends the child's stdout to our stderr") {
  // Our stderr is redirected into a pipe for the duration of the child.
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  const int saved = ::dup(STDERR_FILENO);
  ::dup2(fds[1], STDERR_FILENO);
  auto p = runtime::Process::start({.argv = {"sh", "-c", "echo to-stdout"},
                                    .stdout_mode = runtime::StdoutMode::to_stderr,
                                    .stderr_mode = runtime::StderrMode::inherit});
  auto status = p ? p->wait() : runtime::ExitStatus{};
  ::dup2(saved, STDERR_FILENO);
  ::close(saved);
  ::close(fds[1]);
  char buffer[64] = {};
  const auto n = ::read(fds[0], buffer, sizeof buffer - 1);
  ::close(fds[0]);
  REQUIRE(p);
  CHECK(status.ok());
  CHECK(std::string(buffer, n > 0 ? static_cast<std::size_t>(n) : 0) == "to-stdout\n");
}
