#include <fcntl.h>
#include <unistd.h>

#include "dbsnap/pipeline/sha256.hpp"
#include "dbsnap/pipeline/zstd.hpp"
#include "dbsnap/store/store.hpp"
#include "dbsnap/util/text.hpp"
#include "helpers.hpp"

using namespace dbsnap;

namespace {

// A store whose new snapshots are blobs (the layout before repository v2;
// chunks are the default): the tests of blob publishing and cleanup.
Expected<store::Store> open_blob_store(const std::filesystem::path& root) {
  auto s = store::Store::open(root);
  if (s) s->set_snapshot_layout(store::DataLayout::blob);
  return s;
}

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
  auto s = open_blob_store(dir.path / "store");
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
  auto s = open_blob_store(dir.path / "store");
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
  auto s = open_blob_store(dir.path / "store");
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
  auto s = open_blob_store(dir.path / "store");
  REQUIRE(s);
  auto live = s->begin("dev", "sql");  // holds its lock
  REQUIRE(live);
  const auto dead = dir.path / "store" / "dev" / ".1m7z3mme60ymr.sql.zst.abc.dbsnap-tmp";
  { int fd = ::open(dead.c_str(), O_CREAT | O_WRONLY, 0600); REQUIRE(fd >= 0); ::close(fd); }
  const auto orphan = dir.path / "store" / "dev" / "1m7z3mme60ymr.sql.zst";  // blob without manifest
  { int fd = ::open(orphan.c_str(), O_CREAT | O_WRONLY, 0600); REQUIRE(fd >= 0); ::close(fd); }
  auto again = open_blob_store(dir.path / "store");
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
  auto s = open_blob_store(dir.path / "store");
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

namespace {

store::Manifest publish_chunked(store::Store& s, const std::string& target, const std::string& body) {
  s.set_snapshot_layout(store::DataLayout::chunks);
  auto pending = s.begin(target, "sql");
  REQUIRE(pending);
  REQUIRE(pending->layout == store::DataLayout::chunks);
  REQUIRE(pending->chunks_in->write(test::as_bytes(body)));
  REQUIRE(pending->chunks_in->finish());
  store::Manifest m;
  m.engine = "sqlite";
  m.created_at = util::format_utc(util::now_ms());
  REQUIRE(s.publish(*pending, m));
  auto found = s.resolve(pending->id);
  REQUIRE(found);
  ::usleep(2000);
  return *found;
}

std::string read_all(pipeline::Source& source) {
  std::string out;
  std::vector<std::byte> buffer(1 << 16);
  for (;;) {
    auto n = source.read(buffer);
    REQUIRE(n);
    if (*n == 0) return out;
    out.append(reinterpret_cast<const char*>(buffer.data()), *n);
  }
}

std::size_t pack_count(const std::filesystem::path& root) {
  std::size_t n = 0;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(root / "data", ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); ++it) {
    n += it->is_regular_file() ? 1 : 0;
  }
  return n;
}

}  // namespace

TEST_CASE("chunked snapshots: published after their packs, read back checked, deduplicated across snapshots") {
  test::TempDir dir;
  const auto root = dir.path / "store";
  const std::string body = test::make_data(3 << 20, 7);
  std::string first_id;
  {
    auto s = store::Store::open(root);
    REQUIRE(s);
    auto a = publish_chunked(*s, "dev", body);
    first_id = a.id;
    CHECK(a.layout == store::DataLayout::chunks);
    CHECK(a.chunk_list == a.id + ".chunks");
    CHECK(a.raw_bytes == body.size());
    CHECK(a.raw_sha256 == pipeline::sha256_hex(test::as_bytes(body)).value());
    CHECK(a.chunks > 10);
    CHECK(a.stored_bytes > 0);
    CHECK(std::filesystem::exists(s->blob_location(a)));
    CHECK(util::read_small_file(s->manifest_location(a)).value().find("\"format_version\": 2") != std::string::npos);
    // The same dump again, in another target: nothing new is stored.
    auto b = publish_chunked(*s, "prod", body);
    CHECK(b.stored_bytes == 0);
    CHECK(b.chunks == a.chunks);
    auto source = s->open_chunks(b);
    REQUIRE(source);
    CHECK(read_all(**source) == body);
    CHECK_FALSE(s->open_blob(a).has_value());
  }
  // Reopened, and with index.db lost: the packs say where each chunk is.
  std::filesystem::remove(root / "index.db");
  auto s = store::Store::open(root);
  REQUIRE(s);
  auto a = s->resolve(first_id);
  REQUIRE(a);
  auto source = s->open_chunks(*a);
  REQUIRE(source);
  CHECK(read_all(**source) == body);
  // A store opened for reading indexes the packs in memory.
  auto reader = store::Store::open(root, store::CatalogRecovery::fail, store::StoreAccess::read);
  REQUIRE(reader);
  auto again = reader->open_chunks(*a);
  REQUIRE(again);
  CHECK(read_all(**again) == body);
}

TEST_CASE("a chunk list that does not match its manifest is corrupt before a byte flows") {
  test::TempDir dir;
  auto s = store::Store::open(dir.path / "store");
  REQUIRE(s);
  auto a = publish_chunked(*s, "dev", test::make_data(300000, 1));
  auto b = publish_chunked(*s, "dev", test::make_data(300000, 2));
  // a's list replaced by b's (a valid list of another dump).
  std::filesystem::copy_file(s->blob_location(b), s->blob_location(a), std::filesystem::copy_options::overwrite_existing);
  auto source = s->open_chunks(a);
  REQUIRE_FALSE(source);
  CHECK(source.error().kind == ErrorKind::corrupt);
  CHECK(source.error().message.find(a.id + ".chunks") != std::string::npos);
  std::filesystem::remove(s->blob_location(a));
  auto missing = s->open_chunks(a);
  REQUIRE_FALSE(missing);
  CHECK(missing.error().message.find("is missing") != std::string::npos);
}

TEST_CASE("garbage collection frees what no snapshot lists, and waits for nobody") {
  test::TempDir dir;
  const auto root = dir.path / "store";
  auto s = store::Store::open(root);
  REQUIRE(s);
  const std::string kept_body = test::make_data(1 << 20, 3);
  auto kept = publish_chunked(*s, "dev", kept_body);
  auto gone = publish_chunked(*s, "dev", test::make_data(1 << 20, 4));
  CHECK(pack_count(root) == 2);
  REQUIRE(s->remove(gone));
  CHECK_FALSE(std::filesystem::exists(s->blob_location(gone)));
  {
    // A backup or restore holds the repository lock shared: collection does not wait, and removes nothing.
    auto busy = util::FileLock::acquire(root / ".repository-lock", util::LockMode::shared);
    REQUIRE(busy);
    auto skipped = s->collect_garbage();
    REQUIRE(skipped);
    CHECK_FALSE(skipped->report.has_value());
    CHECK(pack_count(root) == 2);
  }
  auto collected = s->collect_garbage();
  REQUIRE(collected);
  REQUIRE(collected->report.has_value());
  CHECK(collected->report->packs_deleted == 1);
  CHECK(pack_count(root) == 1);
  auto source = s->open_chunks(kept);
  REQUIRE(source);
  CHECK(read_all(**source) == kept_body);
}

TEST_CASE("a chunk list published without its manifest (a killed publish) is removed by the next open") {
  test::TempDir dir;
  const auto root = dir.path / "store";
  std::string orphan;
  {
    auto s = store::Store::open(root);
    REQUIRE(s);
    auto a = publish_chunked(*s, "dev", test::make_data(100000, 5));
    orphan = s->blob_location(a);
    REQUIRE(std::filesystem::remove(s->manifest_location(a)));
  }
  auto s = store::Store::open(root);
  REQUIRE(s);
  CHECK_FALSE(std::filesystem::exists(orphan));
  CHECK(s->find({})->empty());
}

TEST_CASE("a shared lock admits shared holders and keeps an exclusive one out") {
  test::TempDir dir;
  const auto path = dir.path / "lock";
  auto one = util::FileLock::try_acquire(path, util::LockMode::shared);
  auto two = util::FileLock::try_acquire(path, util::LockMode::shared);
  REQUIRE(one);
  REQUIRE(two);
  CHECK(one->has_value());
  CHECK(two->has_value());
  auto excl = util::FileLock::try_acquire(path, util::LockMode::exclusive);
  REQUIRE(excl);
  CHECK_FALSE(excl->has_value());
  one->reset();
  two->reset();
  auto now = util::FileLock::try_acquire(path, util::LockMode::exclusive);
  REQUIRE(now);
  CHECK(now->has_value());
}

TEST_CASE("convert_to_chunks: same id and dump, blob deleted only after the chunks read back") {
  test::TempDir dir;
  auto s = store::Store::open(dir.path / "store");
  REQUIRE(s);
  const std::string body = test::make_data(700000, 9);
  s->set_snapshot_layout(store::DataLayout::blob);
  auto pending = s->begin("dev", "sql");
  REQUIRE(pending);
  auto stored = pipeline::HashingSink::create(*pending->blob);
  REQUIRE(stored);
  auto compress = pipeline::CompressingSink::create(*stored, pipeline::ZstdOptions{.level = 3});
  REQUIRE(compress);
  auto raw = pipeline::HashingSink::create(**compress);
  REQUIRE(raw);
  REQUIRE(raw->write(test::as_bytes(body)));
  REQUIRE(raw->finish());
  store::Manifest m;
  m.engine = "sqlite";
  m.created_at = util::format_utc(util::now_ms());
  m.label = "keep me";
  m.raw_bytes = raw->count();
  m.raw_sha256 = raw->digest();
  m.stored_bytes = stored->count();
  m.stored_sha256 = stored->digest();
  REQUIRE(s->publish(*pending, m));
  auto blob = s->resolve(pending->id);
  REQUIRE(blob);
  const std::string blob_path = s->blob_location(*blob);

  auto converted = s->convert_to_chunks(*blob);
  REQUIRE(converted);
  CHECK(converted->id == blob->id);
  CHECK(converted->layout == store::DataLayout::chunks);
  CHECK(converted->label == "keep me");
  CHECK(converted->raw_sha256 == blob->raw_sha256);
  CHECK_FALSE(std::filesystem::exists(blob_path));
  CHECK(s->resolve(blob->id)->layout == store::DataLayout::chunks);
  auto source = s->open_chunks(*converted);
  REQUIRE(source);
  CHECK(read_all(**source) == body);
  // Done already: a second call changes nothing.
  auto again = s->convert_to_chunks(*blob);
  REQUIRE(again);
  CHECK(again->stored_sha256 == converted->stored_sha256);
}
