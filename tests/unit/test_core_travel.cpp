#include "dbsnap/core/travel.hpp"
#include "helpers.hpp"

using namespace dbsnap;

TEST_CASE("row differences between the live database and a snapshot: by table, both sides' missing ones too") {
  const store::TableRows now{{"a_new", 4}, {"items", 3120}, {"same", 7}, {"users", 50}};
  const store::TableRows then{{"dropped", 9}, {"items", 3000}, {"same", 7}, {"users", 52}};
  const auto d = core::row_differences(now, then);
  CHECK(d.unchanged == 1);
  REQUIRE(d.tables.size() == 4);
  CHECK(d.tables[0].table == "a_new");
  CHECK(d.tables[0].now == 4u);
  CHECK_FALSE(d.tables[0].snapshot.has_value());
  CHECK(d.tables[1].table == "dropped");
  CHECK_FALSE(d.tables[1].now.has_value());
  CHECK(d.tables[1].snapshot == 9u);
  CHECK((d.tables[2].table == "items" && d.tables[2].now == 3120u && d.tables[2].snapshot == 3000u));
  CHECK((d.tables[3].table == "users" && d.tables[3].now == 50u && d.tables[3].snapshot == 52u));

  const auto none = core::row_differences(then, then);
  CHECK(none.tables.empty());
  CHECK(none.unchanged == then.size());
  CHECK(core::row_differences({}, {}).tables.empty());
}
