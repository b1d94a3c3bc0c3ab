#include "dbsnap/core/trial.hpp"
#include "helpers.hpp"

using namespace dbsnap;

TEST_CASE("a test restore matches when the revision and every counted table's rows are the backup's") {
  store::Manifest m;
  m.revisions = {"b2", "a1"};
  // A snapshot taken before rows were counted: the revision alone decides.
  CHECK(core::trial_difference(m, {"a1", "b2"}, {{"t", 5}}).empty());
  CHECK(core::trial_difference(m, {"a1"}, {}).find("holds revision a1, the snapshot recorded a1,b2") !=
        std::string::npos);

  m.tables = store::TableRows{{"users", 3}, {"empty", 0}};
  CHECK(core::trial_difference(m, {"a1", "b2"}, {{"users", 3}, {"empty", 0}}).empty());
  // Tables beyond the manifest's (a MariaDB sequence, say) are not compared.
  CHECK(core::trial_difference(m, {"a1", "b2"}, {{"users", 3}, {"empty", 0}, {"seq", 1}}).empty());
  CHECK(core::trial_difference(m, {"a1", "b2"}, {{"users", 2}, {"empty", 0}}) ==
        "table 'users' holds 2 rows in the restored copy, the backup counted 3");
  CHECK(core::trial_difference(m, {"a1", "b2"}, {{"users", 3}}) ==
        "the restored copy lacks table empty (counted at backup time)");
  CHECK(core::trial_difference(m, {"a1", "b2"}, {}) ==
        "the restored copy lacks tables empty, users (counted at backup time)");
  // The revision is compared first.
  CHECK(core::trial_difference(m, {}, {}).find("holds revision") != std::string::npos);
}
