#include <set>

#include "dbsnap/store/ids.hpp"
#include "helpers.hpp"

using namespace dbsnap;

TEST_CASE("snapshot ids are valid, unique and sort by time") {
  std::set<std::string> seen;
  std::string previous;
  auto t = util::now_ms();
  for (int i = 0; i < 2000; ++i) {
    std::string id = store::new_snapshot_id(t + std::chrono::milliseconds(i));
    CHECK(store::is_valid_snapshot_id(id));
    CHECK(id.size() == 13);
    CHECK(id > previous);
    previous = id;
    seen.insert(id);
  }
  CHECK(seen.size() == 2000);
}

TEST_CASE("snapshot id validation rejects unsafe names") {
  CHECK_FALSE(store::is_valid_snapshot_id(""));
  CHECK_FALSE(store::is_valid_snapshot_id("../../etc/pas"));
  CHECK_FALSE(store::is_valid_snapshot_id("ABCDEFGHJKMNP"));  // upper case
  CHECK_FALSE(store::is_valid_snapshot_id("0123456789abcd"));  // 14 characters
}

TEST_CASE("target names are file-name safe") {
  CHECK(store::is_valid_target_name("dev"));
  CHECK(store::is_valid_target_name("prod-db_2.eu"));
  CHECK_FALSE(store::is_valid_target_name(""));
  CHECK_FALSE(store::is_valid_target_name(".hidden"));
  CHECK_FALSE(store::is_valid_target_name("a/b"));
  CHECK_FALSE(store::is_valid_target_name("two words"));
  CHECK_FALSE(store::is_valid_target_name(std::string(65, 'a')));
}

TEST_CASE("blob file names must be <id>.<kind>.zst of their own id") {
  const std::string id = "1m7z3mme60ymr";
  CHECK(store::is_valid_blob_file_name("1m7z3mme60ymr.sqlite.zst", id));
  CHECK(store::is_valid_blob_file_name("1m7z3mme60ymr.sql.zst", id));
  CHECK_FALSE(store::is_valid_blob_file_name("1m7z3mme60yms.sql.zst", id));  // another snapshot's blob
  CHECK_FALSE(store::is_valid_blob_file_name("../../etc/passwd", id));
  CHECK_FALSE(store::is_valid_blob_file_name("/etc/passwd", id));
  CHECK_FALSE(store::is_valid_blob_file_name("1m7z3mme60ymr./../x.zst", id));
  CHECK_FALSE(store::is_valid_blob_file_name("1m7z3mme60ymr..zst", id));
  CHECK_FALSE(store::is_valid_blob_file_name("1m7z3mme60ymr.zst", id));
  CHECK_FALSE(store::is_valid_blob_file_name("1m7z3mme60ymr.sql.zst", "../1m7z3mme60y"));
}

TEST_CASE("snapshot references: latest, @REV taken literally, id prefixes; anything else is a usage error") {
  using Kind = store::SnapshotReference::Kind;
  auto latest = store::parse_snapshot_reference("  latest ");
  REQUIRE(latest);
  CHECK(latest->kind == Kind::latest);
  auto rev = store::parse_snapshot_reference("@rev;rm -rf $(x) `y` '\"");
  REQUIRE(rev);
  CHECK(rev->kind == Kind::revision);
  CHECK(rev->value == "rev;rm -rf $(x) `y` '\"");
  auto prefix = store::parse_snapshot_reference("1M7Z");
  REQUIRE(prefix);
  CHECK(prefix->kind == Kind::id_prefix);
  CHECK(prefix->value == "1m7z");
  CHECK(store::parse_snapshot_reference("1m7z3mme60ymr")->value == "1m7z3mme60ymr");
  for (const char* bad : {"", "  ", "@", "../x", "..", "a/b", "/etc/passwd", "1m7z 3m", "1m7z3mme60ymrx", "ümlaut",
                          "1m7z;rm", "%", "_", "1m7z\n"}) {
    auto r = store::parse_snapshot_reference(bad);
    if (std::string_view(bad) == "1m7z\n") {  // surrounding blanks are ignored
      CHECK(r);
      continue;
    }
    CHECK_FALSE(r);
    if (!r) CHECK(r.error().kind == ErrorKind::usage);
  }
}
