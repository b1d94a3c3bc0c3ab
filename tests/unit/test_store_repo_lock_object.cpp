// Lock objects (store/repo/lock_object.hpp) on a local backend: the
// protocol is the same on every backend (the S3 store's scenario runs it
// against the real server).

#include <sys/wait.h>
#include <unistd.h>

#include <thread>

#include "dbsnap/store/local/local_backend.hpp"
#include "dbsnap/store/repo/lock_object.hpp"
#include "dbsnap/util/text.hpp"
#include "helpers.hpp"

namespace dbsnap::store::repo {

namespace {

struct Folder {
  test::TempDir dir;
  local::LocalBackend backend{dir.path, BackendAccess::write};
  std::unique_ptr<Backend> fresh() const { return std::make_unique<local::LocalBackend>(dir.path, BackendAccess::write); }
  std::size_t locks() const { return backend.list("locks/").value().size(); }
  // Another host's lock object, refreshed `age_ms` ago.
  void other_host(LockObjectMode mode, std::int64_t age_ms, const std::string& name = "locks/0123456789abcdef0123456789abcdef") {
    const auto now = util::now_ms().time_since_epoch().count();
    LockObjectInfo info{.host = "elsewhere.example", .pid = 4242, .mode = mode, .command = "dbsnap prune",
                        .created_ms = now - age_ms, .refreshed_ms = now - age_ms};
    REQUIRE(write_object(backend, name, format_lock_object(info)).has_value());
  }
};

LockObjectOptions options() { return {.command = "dbsnap test"}; }

std::optional<LockObject> take(const Folder& f, LockObjectMode mode, std::vector<LockObjectInfo>* holders = nullptr) {
  auto r = LockObject::try_acquire(f.fresh(), mode, options(), holders);
  REQUIRE(r.has_value());
  return std::move(*r);
}

}  // namespace

TEST_CASE("lock objects: a text that reads back, and nothing else parses") {
  LockObjectInfo info{.host = "h", .pid = 7, .mode = LockObjectMode::exclusive, .command = "dbsnap prune",
                      .created_ms = 1, .refreshed_ms = 2};
  LockObjectInfo back;
  REQUIRE(parse_lock_object(format_lock_object(info), back));
  CHECK(back.host == "h");
  CHECK(back.pid == 7);
  CHECK(back.mode == LockObjectMode::exclusive);
  CHECK(back.refreshed_ms == 2);
  for (const char* bad : {"", "{}", "[1]", "{\"format\": 2}", "not json",
                          R"({"format":1,"host":"h","pid":1,"mode":"both","created_ms":1,"refreshed_ms":1})"}) {
    CHECK_FALSE(parse_lock_object(bad, back));
  }
}

TEST_CASE("lock objects: shared holders coexist, exclusive excludes, release removes") {
  Folder f;
  auto a = take(f, LockObjectMode::shared);
  auto b = take(f, LockObjectMode::shared);
  REQUIRE(a);
  REQUIRE(b);
  CHECK(f.locks() == 2);
  std::vector<LockObjectInfo> holders;
  CHECK_FALSE(take(f, LockObjectMode::exclusive, &holders));
  CHECK(holders.size() == 2);
  CHECK(f.locks() == 2);  // the refused taker removed its own object
  a.reset();
  b.reset();
  CHECK(f.locks() == 0);
  auto x = take(f, LockObjectMode::exclusive);
  REQUIRE(x);
  CHECK_FALSE(take(f, LockObjectMode::shared, &holders));
  CHECK_FALSE(take(f, LockObjectMode::exclusive));
  REQUIRE(holders.size() == 1);
  CHECK(holders[0].pid == ::getpid());
  CHECK(describe_lock_objects(holders).find("exclusive") != std::string::npos);
}

TEST_CASE("lock objects: another host's live lock counts, its stale one does not and goes") {
  Folder f;
  SUBCASE("live exclusive: nobody goes on") {
    f.other_host(LockObjectMode::exclusive, 1000);
    std::vector<LockObjectInfo> holders;
    CHECK_FALSE(take(f, LockObjectMode::shared, &holders));
    REQUIRE(holders.size() == 1);
    CHECK(holders[0].host == "elsewhere.example");
    CHECK(describe_lock_objects(holders).find("host elsewhere.example pid 4242 (dbsnap prune") != std::string::npos);
  }
  SUBCASE("live shared: shared goes on, exclusive does not") {
    f.other_host(LockObjectMode::shared, 1000);
    CHECK(take(f, LockObjectMode::shared));
    CHECK_FALSE(take(f, LockObjectMode::exclusive));
  }
  SUBCASE("stale (not refreshed for longer than stale_after): ignored, removed by an exclusive taker") {
    f.other_host(LockObjectMode::exclusive, 31 * 60 * 1000);
    CHECK(take(f, LockObjectMode::shared));
    CHECK(f.locks() == 1);  // a shared taker leaves it
    auto x = take(f, LockObjectMode::exclusive);
    CHECK(x);
    CHECK(f.locks() == 1);  // only x's own
  }
  SUBCASE("an object that does not parse counts as a live exclusive holder") {
    REQUIRE(write_object(f.backend, "locks/ffffffffffffffffffffffffffffffff", "garbage").has_value());
    CHECK_FALSE(take(f, LockObjectMode::shared));
  }
}

TEST_CASE("lock objects: on this host a dead holder's object is stale at once") {
  Folder f;
  const auto now = util::now_ms().time_since_epoch().count();
  char host[256] = {};
  REQUIRE(::gethostname(host, sizeof host - 1) == 0);
  pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  REQUIRE(child > 0);
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  LockObjectInfo dead{.host = host, .pid = child, .mode = LockObjectMode::exclusive, .created_ms = now,
                      .refreshed_ms = now};
  REQUIRE(write_object(f.backend, "locks/00000000000000000000000000000001", format_lock_object(dead)).has_value());
  CHECK(is_stale(dead, now, std::chrono::minutes(30)));
  CHECK(take(f, LockObjectMode::shared));
  LockObjectInfo alive = dead;
  alive.pid = ::getpid();
  CHECK_FALSE(is_stale(alive, now, std::chrono::minutes(30)));
}

TEST_CASE("lock objects: the holder refreshes its object; acquire waits for a conflicting holder") {
  Folder f;
  LockObjectOptions quick{.refresh = std::chrono::milliseconds(50), .command = "dbsnap test"};
  auto r = LockObject::try_acquire(f.fresh(), LockObjectMode::exclusive, quick);
  REQUIRE(r.has_value());
  REQUIRE(*r);
  auto first = read_object(f.backend, (*r)->name()).value();
  LockObjectInfo before;
  REQUIRE(parse_lock_object(first, before));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  LockObjectInfo after;
  REQUIRE(parse_lock_object(read_object(f.backend, (*r)->name()).value(), after));
  CHECK(after.refreshed_ms > before.refreshed_ms);
  CHECK(after.created_ms == before.created_ms);

  std::string told;
  std::thread release([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    r->reset();
  });
  auto waited = LockObject::acquire([&] { return Expected<std::unique_ptr<Backend>>(f.fresh()); },
                                    LockObjectMode::shared, options(), [&](const std::string& m) { told = m; });
  release.join();
  REQUIRE(waited.has_value());
  CHECK(told.find("waiting for the repository") != std::string::npos);
  CHECK(f.locks() == 1);
}

}  // namespace dbsnap::store::repo
