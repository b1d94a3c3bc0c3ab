#include <fcntl.h>
#include <unistd.h>

#include "dbsnap/store/store.hpp"
#include "dbsnap/util/text.hpp"
#include "helpers.hpp"

using namespace dbsnap;

namespace {

store::Manifest publish(store::Store& s, const std::string& target, std::vector<std::string> revisions,
                        const std::string& body = "data") {
  auto pending = s.begin(target, "sql");
  REQUIRE(pending);
  REQUIRE(pending->blob->write(pipeline::Bytes(reinterpret_cast<const std::byte*>(body.data()), body.size())));
  store::Manifest m;
  m.engine = "sqlite";
  m.created_at = util::format_utc(util::now_ms());
  m.revisions = std::move(revisions);
  m.raw_bytes = m.stored_bytes = body.size();
  m.raw_sha256 = m.stored_sha256 = std::string(64, '0');
  REQUIRE(s.publish(*pending, m));
  std::string id = pending->id;
  auto found = s.resolve(id);
  REQUIRE(found);
  ::usleep(2000);  // distinct millisecond ids and creation times
  return *found;
}

}  // namespace

TEST_CASE("publish makes blob, manifest and catalog row; resolve finds them") {
  test::TempDir dir;
  auto s = store::Store::open(dir.path / "store");
  REQUIRE(s);
  auto a = publish(*s, "dev", {"rev1"});
  auto b = publish(*s, "dev", {"rev2"});
  auto c = publish(*s, "prod", {"rev2"});
  CHECK(std::filesystem::exists(s->blob_location(a)));
  CHECK(std::filesystem::exists(s->manifest_location(a)));
  CHECK(s->blob_location(a) == (dir.path / "store" / "dev" / a.blob_file).string());
  CHECK((std::filesystem::status(dir.path / "store").permissions() & std::filesystem::perms::all) ==
        std::filesystem::perms::owner_all);

  CHECK(s->resolve("latest", "dev")->id == b.id);
  auto ambiguous_latest = s->resolve("latest");
  REQUIRE_FALSE(ambiguous_latest);
  CHECK(ambiguous_latest.error().message.find("dev, prod") != std::string::npos);
  CHECK(s->resolve("@rev1")->id == a.id);
  CHECK(s->resolve("@rev2")->id == c.id);
  CHECK(s->resolve("@rev2", "dev")->id == b.id);
  CHECK_FALSE(s->resolve("@rev"));  // a prefix of both rev1 and rev2
  CHECK(s->resolve("@rev1", "prod").error().kind == ErrorKind::not_found);
}

TEST_CASE("ambiguous and unknown references list candidates") {
  test::TempDir dir;
  auto s = store::Store::open(dir.path / "store");
  REQUIRE(s);
  auto a = publish(*s, "dev", {"aaa1"});
  auto b = publish(*s, "dev", {"aaa2"});
  auto ambiguous = s->resolve(a.id.substr(0, 3));
  REQUIRE_FALSE(ambiguous);
  CHECK(ambiguous.error().kind == ErrorKind::not_found);
  CHECK(ambiguous.error().message.find(a.id) != std::string::npos);
  CHECK(ambiguous.error().message.find(b.id) != std::string::npos);
  auto unknown = s->resolve("zzzzz");
  REQUIRE_FALSE(unknown);
  CHECK(unknown.error().message.find(b.id) != std::string::npos);
  auto rev = s->resolve("@aaa");
  REQUIRE_FALSE(rev);
  CHECK(rev.error().message.find("aaa1, aaa2") != std::string::npos);
  CHECK(s->resolve(a.id)->id == a.id);
  CHECK(s->resolve(a.id.substr(0, 12) + a.id.back())->id == a.id);
}

TEST_CASE("an abandoned snapshot leaves nothing behind") {
  test::TempDir dir;
  auto s = store::Store::open(dir.path / "store");
  REQUIRE(s);
  {
    auto pending = s->begin("dev", "sql");
    REQUIRE(pending);
    REQUIRE(pending->blob->write(pipeline::Bytes(reinterpret_cast<const std::byte*>("partial"), 7)));
  }
  CHECK(std::filesystem::is_empty(dir.path / "store" / "dev"));
  CHECK(s->find({})->empty());
}

TEST_CASE("opening the store removes temp files of dead processes and keeps live ones") {
  test::TempDir dir;
  auto s = store::Store::open(dir.path / "store");
  REQUIRE(s);
  auto live = s->begin("dev", "sql");  // holds its lock
  REQUIRE(live);
  const auto dead = dir.path / "store" / "dev" / ".1m7z3mme60ymr.sql.zst.abc.dbsnap-tmp";
  { int fd = ::open(dead.c_str(), O_CREAT | O_WRONLY, 0600); REQUIRE(fd >= 0); ::close(fd); }
  const auto orphan = dir.path / "store" / "dev" / "1m7z3mme60ymr.sql.zst";  // blob without manifest
  { int fd = ::open(orphan.c_str(), O_CREAT | O_WRONLY, 0600); REQUIRE(fd >= 0); ::close(fd); }
  auto again = store::Store::open(dir.path / "store");
  REQUIRE(again);
  CHECK_FALSE(std::filesystem::exists(dead));
  CHECK_FALSE(std::filesystem::exists(orphan));
  std::size_t temps = 0;  // the live writer's temp file is still there
  for (const auto& e : std::filesystem::directory_iterator(dir.path / "store" / "dev")) {
    temps += e.path().filename().string().ends_with(util::temp_marker);
  }
  CHECK(temps == 1);
}

TEST_CASE("the catalog is rebuilt from manifests") {
  test::TempDir dir;
  auto s = store::Store::open(dir.path / "store");
  REQUIRE(s);
  auto a = publish(*s, "dev", {"r1"});
  auto b = publish(*s, "prod", {"r2", "r3"});
  std::filesystem::remove(dir.path / "store" / "catalog.db");
  std::vector<std::string> skipped;
  auto count = s->rebuild_catalog(skipped);
  REQUIRE(count);
  CHECK(*count == 2);
  CHECK(skipped.empty());
  auto all = s->find({});
  REQUIRE(all);
  REQUIRE(all->size() == 2);
  CHECK((*all)[0].id == b.id);
  CHECK((*all)[0].revisions == std::vector<std::string>{"r2", "r3"});
  CHECK((*all)[1].id == a.id);
}
