#include <filesystem>
#include <fstream>

#include "dbsnap/store/move_record.hpp"
#include "helpers.hpp"

using namespace dbsnap;

TEST_CASE("move record: written, read back, replaced, cleared") {
  test::TempDir dir;
  CHECK_FALSE(store::read_move_record(dir.path, "dev"));
  CHECK(store::clear_move_record(dir.path, "dev"));  // none: nothing to do

  store::MoveRecord first{.pid = 4242, .what = "downgrade", .to = "1a1a", .safety_snapshot = "1m9aaa",
                          .since = "2026-12-06T10:00:00.000Z"};
  REQUIRE(store::write_move_record(dir.path, "dev", first));
  auto read = store::read_move_record(dir.path, "dev");
  REQUIRE(read);
  CHECK(read->pid == 4242);
  CHECK(read->what == "downgrade");
  CHECK(read->to == "1a1a");
  CHECK(read->safety_snapshot == "1m9aaa");
  CHECK(read->since == "2026-12-06T10:00:00.000Z");
  CHECK_FALSE(store::read_move_record(dir.path, "other"));

  // A newer move replaces it; a value never spills onto a line of its own.
  REQUIRE(store::write_move_record(dir.path, "dev", {.pid = 7, .what = "upgrade\nsafety_snapshot=forged",
                                                     .safety_snapshot = "1m9bbb"}));
  read = store::read_move_record(dir.path, "dev");
  REQUIRE(read);
  CHECK(read->safety_snapshot == "1m9bbb");
  CHECK(read->what == "upgrade safety_snapshot=forged");
  CHECK(read->to.empty());

  // Only the record was written: no temp file is left beside it.
  std::size_t files = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir.path / ".locks" / "dev")) files += e.exists();
  CHECK(files == 1);

  REQUIRE(store::clear_move_record(dir.path, "dev"));
  CHECK_FALSE(store::read_move_record(dir.path, "dev"));
  CHECK_FALSE(std::filesystem::exists(dir.path / ".locks" / "dev" / "move"));
}

TEST_CASE("move record: a record without a snapshot is none, a bad target name is refused") {
  test::TempDir dir;
  std::filesystem::create_directories(dir.path / ".locks" / "dev");
  std::ofstream(dir.path / ".locks" / "dev" / "move") << "pid=12\nwhat=upgrade\n";
  CHECK_FALSE(store::read_move_record(dir.path, "dev"));  // nothing to name: nothing to say

  auto bad = store::write_move_record(dir.path, "../escape", {.safety_snapshot = "x"});
  REQUIRE_FALSE(bad);
  CHECK(bad.error().kind == ErrorKind::config);
  CHECK_FALSE(store::read_move_record(dir.path, "../escape"));
}

TEST_CASE("move record: the warning names the move and the snapshot that undoes it") {
  const auto text = store::describe_unfinished_move(
      "prod", {.pid = 99, .what = "downgrade", .to = "4f2a", .safety_snapshot = "1m9ccc", .since = ""});
  CHECK(text.find("downgrade of 'prod' to 4f2a (pid 99) did not finish") != std::string::npos);
  CHECK(text.find("dbsnap restore 1m9ccc --yes") != std::string::npos);
}
