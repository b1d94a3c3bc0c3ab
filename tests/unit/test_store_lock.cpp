#include <sys/file.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <fstream>

#include "dbsnap/store/lock.hpp"
#include "dbsnap/util/interrupt.hpp"
#include "helpers.hpp"

using namespace dbsnap;
using namespace std::chrono_literals;

namespace {

store::LockRequest request(const std::filesystem::path& root, store::LockMode mode, std::string command,
                           std::chrono::milliseconds timeout = 0ms) {
  return {.store_root = root, .target = "dev", .mode = mode, .timeout = timeout, .command = std::move(command)};
}

std::vector<std::string> notes(const std::filesystem::path& root) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(root / ".locks" / "dev", ec)) {
    const auto name = e.path().filename().string();
    if (name.starts_with("holder.")) out.push_back(name);
  }
  return out;
}

}  // namespace

// flock locks of two descriptors conflict even inside one process, so one
// test process can play both the holder and the waiter.
TEST_CASE("an exclusive holder makes others fail with busy, naming its pid and command") {
  test::TempDir dir;
  auto held = store::TargetLock::acquire(request(dir.path, store::LockMode::exclusive, "dbsnap restore latest --yes"));
  REQUIRE(held);
  auto holders = store::TargetLock::holders(dir.path, "dev");
  REQUIRE(holders.size() == 1);
  CHECK(holders[0].pid == ::getpid());
  CHECK(holders[0].mode == store::LockMode::exclusive);
  CHECK(holders[0].command == "dbsnap restore latest --yes");

  for (auto mode : {store::LockMode::shared, store::LockMode::exclusive}) {
    auto second = store::TargetLock::acquire(request(dir.path, mode, "dbsnap backup dev"));
    REQUIRE_FALSE(second);
    CHECK(second.error().kind == ErrorKind::busy);
    CHECK(second.error().message ==
          fmt::format("target 'dev' is locked by pid {} (dbsnap restore latest --yes); waited 0 s (see --lock-timeout)",
                      ::getpid()));
  }
}

TEST_CASE("backups share a target; a restore waits for all of them") {
  test::TempDir dir;
  auto a = store::TargetLock::acquire(request(dir.path, store::LockMode::shared, "dbsnap backup dev"));
  auto b = store::TargetLock::acquire(request(dir.path, store::LockMode::shared, "dbsnap backup dev --label x"));
  REQUIRE(a);
  REQUIRE(b);
  CHECK(store::TargetLock::holders(dir.path, "dev").size() == 2);

  auto req = request(dir.path, store::LockMode::exclusive, "dbsnap restore x", 300ms);
  std::vector<std::string> announced;
  req.on_wait = [&](const std::string& message) { announced.push_back(message); };
  const auto started = std::chrono::steady_clock::now();
  auto restore = store::TargetLock::acquire(req);
  const auto waited = std::chrono::steady_clock::now() - started;
  REQUIRE_FALSE(restore);
  CHECK(restore.error().kind == ErrorKind::busy);
  CHECK(waited >= 300ms);
  CHECK(waited < 2s);
  CHECK(restore.error().message.find("(dbsnap backup dev) and pid") != std::string::npos);
  CHECK(restore.error().message.ends_with("waited 0.3 s (see --lock-timeout)"));
  REQUIRE(announced.size() == 1);
  CHECK(announced[0].find("waiting up to 0.3 s (--lock-timeout)") != std::string::npos);
}

TEST_CASE("releasing removes the note; a note whose holder died is removed by whoever finds it") {
  test::TempDir dir;
  {
    auto held = store::TargetLock::acquire(request(dir.path, store::LockMode::exclusive, "dbsnap upgrade dev"));
    REQUIRE(held);
    CHECK(notes(dir.path).size() == 1);
  }
  CHECK(notes(dir.path).empty());
  auto again = store::TargetLock::acquire(request(dir.path, store::LockMode::exclusive, "dbsnap restore y"));
  REQUIRE(again);

  // What a SIGKILLed holder leaves: a note nobody holds a flock on.
  const auto stale = dir.path / ".locks" / "dev" / "holder.stale1";
  std::ofstream(stale) << store::format_holder_note({.pid = 999999, .command = "dbsnap backup dev"});
  auto holders = store::TargetLock::holders(dir.path, "dev");
  REQUIRE(holders.size() == 1);
  CHECK(holders[0].pid == ::getpid());
  CHECK_FALSE(std::filesystem::exists(stale));
}

TEST_CASE("the lock is a plain flock: it goes with its descriptor, and is never inherited by children") {
  test::TempDir dir;
  {
    auto held = store::TargetLock::acquire(request(dir.path, store::LockMode::exclusive, "dbsnap restore z"));
    REQUIRE(held);
    // Close-on-exec: a command dbsnap starts (an upgrade's migration) must not keep the lock alive.
    std::vector<int> fds;
    for (const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) {
      std::error_code ec;
      if (std::filesystem::read_symlink(e.path(), ec) == dir.path / ".locks" / "dev" / "lock") {
        fds.push_back(std::stoi(e.path().filename().string()));
      }
    }
    REQUIRE(fds.size() == 1);
    CHECK((::fcntl(fds[0], F_GETFD) & FD_CLOEXEC) != 0);
    util::UniqueFd probe(::open((dir.path / ".locks" / "dev" / "lock").c_str(), O_RDONLY));
    REQUIRE(probe.valid());
    CHECK(::flock(probe.get(), LOCK_SH | LOCK_NB) != 0);
  }
  util::UniqueFd probe(::open((dir.path / ".locks" / "dev" / "lock").c_str(), O_RDONLY));
  CHECK(::flock(probe.get(), LOCK_EX | LOCK_NB) == 0);
}

TEST_CASE("a signal while waiting ends the wait with interrupted") {
  test::TempDir dir;
  auto held = store::TargetLock::acquire(request(dir.path, store::LockMode::exclusive, "dbsnap restore z"));
  REQUIRE(held);
  util::install_interrupt_handlers();
  std::raise(SIGTERM);
  const auto started = std::chrono::steady_clock::now();
  auto waiting = store::TargetLock::acquire(request(dir.path, store::LockMode::shared, "dbsnap backup dev", 30s));
  const auto waited = std::chrono::steady_clock::now() - started;
  CHECK(util::interrupted_exit_code() == 143);
  util::clear_interrupt();
  CHECK(util::interrupted_exit_code() == 130);
  REQUIRE_FALSE(waiting);
  CHECK(waiting.error().kind == ErrorKind::interrupted);
  CHECK(waiting.error().message.find("SIGTERM") != std::string::npos);
  CHECK(waited < 5s);
}

TEST_CASE("holder notes: format and parse") {
  store::LockHolder h{.pid = 4321, .mode = store::LockMode::exclusive, .command = "dbsnap restore\nx", .since = "t"};
  store::LockHolder back;
  REQUIRE(store::parse_holder_note(store::format_holder_note(h), back));
  CHECK(back.pid == 4321);
  CHECK(back.mode == store::LockMode::exclusive);
  CHECK(back.command == "dbsnap restore x");  // one line
  CHECK_FALSE(store::parse_holder_note("garbage", back));
  CHECK_FALSE(store::parse_holder_note("pid=12x\n", back));
  CHECK(store::describe_holders({}) == "another process");
  CHECK(store::describe_holders({{.pid = 1, .command = "a"}, {.pid = 2}}) == "pid 1 (a) and pid 2");
}

TEST_CASE("a target name that is not a folder name is refused") {
  test::TempDir dir;
  auto bad = store::TargetLock::acquire({.store_root = dir.path, .target = "../x", .mode = store::LockMode::shared});
  REQUIRE_FALSE(bad);
  CHECK(bad.error().kind == ErrorKind::config);
}
