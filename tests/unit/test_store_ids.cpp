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
