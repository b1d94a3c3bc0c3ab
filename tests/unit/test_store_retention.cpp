#include "dbsnap/store/retention.hpp"
#include "helpers.hpp"

using namespace dbsnap;

namespace {

store::Manifest snap(const std::string& id, const std::string& created_at, const std::string& revision = "r1",
                     bool pinned = false) {
  store::Manifest m;
  m.id = id;
  m.target = "dev";
  m.created_at = created_at;
  m.revisions = {revision};
  m.pinned = pinned;
  return m;
}

std::vector<std::string> kept(const std::vector<store::Manifest>& snapshots, const store::RetentionPolicy& policy,
                              store::LastOfRevision last = store::LastOfRevision::drop) {
  util::TimePoint now;
  REQUIRE(util::parse_utc("2026-12-06T12:00:00.000Z", now));
  auto reasons = store::retained(snapshots, policy, now, last);
  REQUIRE(reasons.has_value());
  std::vector<std::string> out;
  for (const auto& m : snapshots) {
    if (reasons->contains(m.id)) out.push_back(m.id);
  }
  return out;
}

// Newest first, as the catalog gives them: two a day on Sat 6, Fri 5 and Thu 4 December,
// one on Mon 30 November, one on 2 November, one on 15 October.
const std::vector<store::Manifest> history = {
    snap("a", "2026-12-06T10:00:00.000Z"), snap("b", "2026-12-06T08:00:00.000Z"),
    snap("c", "2026-12-05T20:00:00.000Z"), snap("d", "2026-12-05T07:00:00.000Z"),
    snap("e", "2026-12-04T09:00:00.000Z"), snap("f", "2026-12-04T01:00:00.000Z"),
    snap("g", "2026-11-30T12:00:00.000Z"), snap("h", "2026-11-02T12:00:00.000Z"),
    snap("i", "2026-10-15T12:00:00.000Z")};

}  // namespace

TEST_CASE("retention: the newest of each of the last N days, weeks and months that have snapshots") {
  CHECK(kept(history, {.keep_daily = 2}) == std::vector<std::string>{"a", "c"});
  CHECK(kept(history, {.keep_daily = 10}) == std::vector<std::string>{"a", "c", "e", "g", "h", "i"});
  // Weeks start on Monday: 30 Nov - 6 Dec is one week; 2 Nov and 15 Oct are two more.
  CHECK(kept(history, {.keep_weekly = 2}) == std::vector<std::string>{"a", "h"});
  CHECK(kept(history, {.keep_monthly = 2}) == std::vector<std::string>{"a", "g"});
  CHECK(kept(history, {.keep_monthly = 3}) == std::vector<std::string>{"a", "g", "i"});
  CHECK(kept(history, {.keep_daily = 0}).empty());
}

TEST_CASE("retention: keep_last, keep_within, per revision, pinned, and the last of a revision") {
  CHECK(kept(history, {.keep_last = 3}) == std::vector<std::string>{"a", "b", "c"});
  CHECK(kept(history, {.keep_within = "1d"}) == std::vector<std::string>{"a", "b", "c"});
  auto mixed = history;
  mixed[8].revisions = {"r0"};  // the oldest is the only one at r0
  mixed[5].pinned = true;
  CHECK(kept(mixed, {.keep_last = 1}) == std::vector<std::string>{"a", "f"});
  CHECK(kept(mixed, {.keep_last = 1}, store::LastOfRevision::keep) == std::vector<std::string>{"a", "f", "i"});
  CHECK(kept(mixed, {.keep_per_revision = 1}) == std::vector<std::string>{"a", "f", "i"});
  auto bad = store::retained(history, {.keep_within = "soon"}, util::now_ms(), store::LastOfRevision::keep);
  REQUIRE_FALSE(bad.has_value());
  CHECK(bad.error().kind == ErrorKind::usage);
  CHECK(store::parse_age("2w").value() == std::chrono::milliseconds(14LL * 86400 * 1000));
  CHECK_FALSE(store::parse_age("-1d").has_value());
  CHECK_FALSE(store::parse_age("7").has_value());
}
