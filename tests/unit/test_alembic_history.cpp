#include "dbsnap/alembic/history.hpp"
#include "helpers.hpp"

using namespace dbsnap;
using alembic::History;
using alembic::Revision;
using Ids = std::vector<std::string>;

namespace {

Revision rev(std::string id, Ids down = {}) {
  Revision r;
  r.file = id + "_x.py";
  r.id = std::move(id);
  r.down_revisions = std::move(down);
  return r;
}

History build_ok(std::vector<Revision> revisions) {
  auto history = History::build(std::move(revisions));
  REQUIRE_MESSAGE(history, (history ? std::string() : history.error().message));
  return std::move(*history);
}

Ids walk_ids(const History& history) {
  Ids out;
  for (const Revision* r : history.walk_from_heads()) out.push_back(r->id);
  return out;
}

// Checks that every revision in the walk comes before each of its down_revisions.
void check_topological(const History& history) {
  Ids order = walk_ids(history);
  CHECK(order.size() == history.revisions().size());
  for (const Revision& r : history.revisions()) {
    auto at = std::ranges::find(order, r.id);
    for (const auto& down : r.down_revisions) {
      auto down_at = std::ranges::find(order, down);
      if (down_at != order.end()) CHECK(at < down_at);
    }
  }
}

bool contains(const std::string& text, std::string_view part) { return text.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("alembic history: a linear chain walks exactly head to base") {
  // Out of order, ids not sorted along the chain.
  auto history = build_ok({rev("c3", {"zz1"}), rev("zz1", {"a2"}), rev("a2", {"m0"}), rev("m0")});
  CHECK(history.heads() == Ids{"c3"});
  CHECK(history.bases() == Ids{"m0"});
  CHECK(walk_ids(history) == Ids{"c3", "zz1", "a2", "m0"});
  CHECK(history.dangling().empty());
  REQUIRE(history.find("a2") != nullptr);
  CHECK(history.find("a2")->down_revisions == Ids{"m0"});
  CHECK(history.find("a") == nullptr);
  CHECK(history.is_ancestor("m0", "c3"));
  CHECK(history.is_ancestor("a2", "zz1"));
  CHECK_FALSE(history.is_ancestor("c3", "m0"));
  CHECK_FALSE(history.is_ancestor("a2", "a2"));
  CHECK_FALSE(history.is_ancestor("nope", "c3"));
}

TEST_CASE("alembic history: branches, a merge and two heads") {
  //   base -> b1 -> merge -> top          (head)
  //       \-> c1 -/    \
  //                     (b1 ->) side      (head)
  auto history = build_ok({rev("base"), rev("b1", {"base"}), rev("c1", {"base"}), rev("merge", {"b1", "c1"}),
                           rev("top", {"merge"}), rev("side", {"b1"})});
  CHECK(history.heads() == Ids{"side", "top"});
  CHECK(history.bases() == Ids{"base"});
  CHECK(walk_ids(history) == Ids{"side", "top", "merge", "b1", "c1", "base"});
  check_topological(history);
  CHECK(history.is_ancestor("c1", "top"));
  CHECK(history.is_ancestor("base", "side"));
  CHECK_FALSE(history.is_ancestor("c1", "side"));
  CHECK_FALSE(history.is_ancestor("side", "top"));
}

TEST_CASE("alembic history: two roots merged into one head") {
  auto history = build_ok({rev("app1"), rev("app2", {"app1"}), rev("lib1"), rev("joined", {"app2", "lib1"})});
  CHECK(history.heads() == Ids{"joined"});
  CHECK(history.bases() == Ids{"app1", "lib1"});
  CHECK(walk_ids(history) == Ids{"joined", "app2", "app1", "lib1"});
  CHECK(history.is_ancestor("lib1", "joined"));
  CHECK_FALSE(history.is_ancestor("lib1", "app2"));
}

TEST_CASE("alembic history: the fixture folder") {
  auto dir = std::filesystem::path(__FILE__).parent_path().parent_path() / "fixtures/alembic/branched/versions";
  auto loaded = alembic::load_revisions(dir);
  REQUIRE_MESSAGE(loaded, (loaded ? std::string() : loaded.error().message));
  auto history = build_ok(std::move(*loaded));
  // What `alembic heads` / `alembic history` report for the same folder.
  CHECK(history.heads() == Ids{"9f86d8a3fd8b", "exp_flags"});
  CHECK(history.bases() == Ids{"3a1cdf84b039"});
  CHECK(walk_ids(history) ==
        Ids{"9f86d8a3fd8b", "f806d6b6acde", "c0ffee_users", "exp_flags", "46d4ef4f4264", "3a1cdf84b039"});
  check_topological(history);
  CHECK(history.is_ancestor("c0ffee_users", "9f86d8a3fd8b"));
  CHECK_FALSE(history.is_ancestor("c0ffee_users", "exp_flags"));
  CHECK(history.dangling().empty());
  CHECK(history.resolve("f8") == "f806d6b6acde");
  CHECK(history.resolve("c0ffee") == "c0ffee_users");
}

TEST_CASE("alembic history: resolve takes an exact id or a unique prefix") {
  auto history = build_ok({rev("ab"), rev("abc1", {"ab"}), rev("abd2", {"abc1"}), rev("e9", {"abd2"})});
  CHECK(history.resolve("ab") == "ab");  // exact beats being a prefix of others
  CHECK(history.resolve("abc") == "abc1");
  CHECK(history.resolve("e") == "e9");

  auto ambiguous = history.resolve("a");
  REQUIRE_FALSE(ambiguous);
  CHECK(ambiguous.error().kind == ErrorKind::not_found);
  CHECK(contains(ambiguous.error().message, "ambiguous: ab, abc1, abd2"));

  auto unknown = history.resolve("f0");
  REQUIRE_FALSE(unknown);
  CHECK(unknown.error().kind == ErrorKind::not_found);
  CHECK(contains(unknown.error().message, "'f0'"));
  CHECK(contains(unknown.error().message, "heads: e9"));

  CHECK_FALSE(history.resolve(""));
}

TEST_CASE("alembic history: dangling down_revisions are reported, not fatal") {
  auto history = build_ok({rev("b2", {"gone1"}), rev("c3", {"b2", "gone2"})});
  CHECK(history.heads() == Ids{"c3"});
  CHECK(history.bases().empty());
  CHECK(walk_ids(history) == Ids{"c3", "b2"});
  auto dangling = history.dangling();
  REQUIRE(dangling.size() == 2);
  CHECK(dangling[0].revision == "c3");
  CHECK(dangling[0].missing == "gone2");
  CHECK(dangling[1].revision == "b2");
  CHECK(dangling[1].missing == "gone1");
}

TEST_CASE("alembic history: duplicate ids and cycles are rejected") {
  auto duplicate = History::build({rev("a1"), rev("a1", {"x"})});
  REQUIRE_FALSE(duplicate);
  CHECK(duplicate.error().kind == ErrorKind::config);
  CHECK(contains(duplicate.error().message, "'a1' is declared twice"));
  CHECK(contains(duplicate.error().message, "a1_x.py"));

  auto cycle = History::build({rev("head", {"c"}), rev("a", {"b"}), rev("b", {"c"}), rev("c", {"a"}), rev("root")});
  REQUIRE_FALSE(cycle);
  CHECK(cycle.error().kind == ErrorKind::config);
  CHECK(contains(cycle.error().message, "a -> b -> c -> a"));

  auto self = History::build({rev("s", {"s"})});
  REQUIRE_FALSE(self);
  CHECK(contains(self.error().message, "s -> s"));

  auto empty = History::build({});
  REQUIRE(empty);
  CHECK(empty->heads().empty());
  CHECK(empty->walk_from_heads().empty());
}

TEST_CASE("alembic history: downgrade and upgrade steps, across merges where Alembic lands on one revision") {
  // a <- b <- c <- d, and a branch b <- x; m merges c and x; h <- m.
  const History h = build_ok({rev("a"), rev("b", {"a"}), rev("c", {"b"}), rev("d", {"c"}), rev("x", {"b"}),
                              rev("m", {"c", "x"}), rev("h", {"m"})});
  CHECK(h.downgrade_steps("d", "a").value() == Ids{"d", "c", "b"});
  CHECK(h.downgrade_steps("c", "b").value() == Ids{"c"});
  CHECK(h.downgrade_steps("b", "b").value().empty());
  CHECK(h.upgrade_steps("a", "d").value() == Ids{"b", "c", "d"});
  CHECK(h.upgrade_steps("b", "b").value().empty());
  // Not below: unrelated, reversed, or unknown.
  CHECK(h.downgrade_steps("a", "d").error().kind == ErrorKind::not_found);
  CHECK(h.downgrade_steps("d", "x").error().kind == ErrorKind::not_found);
  CHECK(h.downgrade_steps("zz", "a").error().kind == ErrorKind::not_found);
  CHECK(h.upgrade_steps("d", "h").error().kind == ErrorKind::not_found);  // would leave d and h applied
  CHECK(h.upgrade_steps("a", "zz").error().kind == ErrorKind::not_found);
  // Down through the merge to below the branch point: both branches are undone, each step before its parents.
  CHECK(h.downgrade_steps("h", "b").value() == Ids{"h", "m", "c", "x"});
  CHECK(h.downgrade_steps("h", "m").value() == Ids{"h"});
  // Down through the merge to one of its branches: the other branch would stay applied. Refused, naming both.
  auto stranded = h.downgrade_steps("h", "c");
  REQUIRE_FALSE(stranded);
  CHECK(stranded.error().kind == ErrorKind::usage);
  CHECK(contains(stranded.error().message, "merge revision m"));
  CHECK(contains(stranded.error().message, "leaves x applied"));
  // Up through the merge: the other branch first, then the merge, as `alembic upgrade h` does.
  CHECK(h.upgrade_steps("c", "h").value() == Ids{"x", "m", "h"});
  CHECK(h.upgrade_steps("x", "h").value() == Ids{"c", "m", "h"});
  CHECK(h.upgrade_steps("a", "m").value() == Ids{"b", "x", "c", "m"});
}
