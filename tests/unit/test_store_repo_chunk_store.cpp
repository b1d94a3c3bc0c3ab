#include <atomic>
#include <filesystem>

#include "backend_conformance.hpp"
#include "dbsnap/pipeline/chunker.hpp"
#include "dbsnap/store/local/local_backend.hpp"
#include "dbsnap/store/repo/chunk_store.hpp"

namespace dbsnap::store::repo {

namespace {

// Cuts `data` with the default chunker and puts every chunk; returns the ids in order.
std::vector<ChunkId> put_stream(ChunkStore& store, const std::string& data) {
  std::vector<ChunkId> ids;
  pipeline::ChunkingSink chunker(pipeline::ChunkerParams{}, [&](pipeline::Bytes chunk) -> Expected<void> {
    auto id = store.put(chunk);
    if (!id) return std::unexpected(id.error());
    ids.push_back(*id);
    return {};
  });
  for (std::size_t i = 0; i < data.size(); i += 100'000) {
    REQUIRE(chunker.write(test::as_bytes(data.substr(i, 100'000))));
  }
  REQUIRE(chunker.finish());
  REQUIRE(store.flush());
  return ids;
}

std::string read_stream(const Backend& backend, const ChunkIndex& index, std::vector<ChunkId> ids) {
  ChunkReader reader(backend, index, std::move(ids));
  std::string out;
  std::vector<std::byte> buffer(7'777);  // reads that straddle chunk boundaries
  for (;;) {
    auto n = reader.read(buffer);
    REQUIRE(n.has_value());
    if (*n == 0) return out;
    out.append(reinterpret_cast<const char*>(buffer.data()), *n);
  }
}

}  // namespace

TEST_CASE("a stream put twice is stored once, and reads back byte for byte") {
  test::TempDir dir;
  local::LocalBackend backend(dir.path, BackendAccess::write);
  auto index = ChunkIndex::in_memory();
  REQUIRE(index.has_value());
  const std::string data = test::make_data(3'000'000, 7);

  auto first = ChunkStore::create(backend, *index, {.pack_size = 1 << 20});
  REQUIRE(first.has_value());
  auto ids = put_stream(*first, data);
  CHECK(ids.size() > 10);
  CHECK(first->stats().new_chunks <= ids.size());
  CHECK(first->stats().raw_bytes == data.size());
  CHECK(first->stats().packs >= 2);  // 1 MiB packs
  CHECK(test::names(backend, "data/").size() == first->stats().packs);
  CHECK(read_stream(backend, *index, ids) == data);

  // The same data with an insert in the middle: only the chunks around the insert are new.
  std::string changed = data;
  changed.insert(1'500'000, "INSERT INTO t VALUES (43, 'a new row');\n");
  auto second = ChunkStore::create(backend, *index, {.pack_size = 1 << 20});
  REQUIRE(second.has_value());
  auto ids2 = put_stream(*second, changed);
  CHECK(second->stats().new_chunks >= 1);
  CHECK(second->stats().new_chunks <= 3);
  CHECK(second->stats().new_raw_bytes < 600'000);
  CHECK(read_stream(backend, *index, ids2) == changed);

  // Again, unchanged: nothing new at all, no pack written.
  auto third = ChunkStore::create(backend, *index);
  REQUIRE(third.has_value());
  CHECK(put_stream(*third, data) == ids);
  CHECK(third->stats().new_chunks == 0);
  CHECK(third->stats().packs == 0);
}

TEST_CASE("chunks repeated inside one stream are stored once") {
  test::TempDir dir;
  local::LocalBackend backend(dir.path, BackendAccess::write);
  auto index = ChunkIndex::in_memory();
  auto store = ChunkStore::create(backend, *index);
  REQUIRE(store.has_value());
  const std::string block = test::make_data(1'000'000, 9);
  auto ids = put_stream(*store, block + block + block);
  CHECK(store->stats().new_raw_bytes < block.size() + 600'000);
  CHECK(read_stream(backend, *index, ids) == block + block + block);
}

TEST_CASE("chunks put without flush are nowhere: no pack, no index entry") {
  test::TempDir dir;
  local::LocalBackend backend(dir.path, BackendAccess::write);
  auto index = ChunkIndex::in_memory();
  {
    auto store = ChunkStore::create(backend, *index);
    REQUIRE(store.has_value());
    REQUIRE(store->put(test::as_bytes(test::make_data(100'000, 11))));
  }
  CHECK(test::names(backend).empty());
  CHECK(index->packs().value().empty());
}

namespace {

// A local backend whose object commits fail while `fail_commits` is set, and
// which counts the commits that ran.
class CommitFailingBackend final : public Backend {
 public:
  explicit CommitFailingBackend(const std::filesystem::path& root) : inner_(root, BackendAccess::write) {}
  std::atomic<bool> fail_commits = false;
  std::atomic<int> commits = 0;

  std::string_view scheme() const override { return inner_.scheme(); }
  std::string locate(std::string_view name) const override { return inner_.locate(name); }
  Expected<std::unique_ptr<ObjectWriter>> create(std::string_view name, IfExists if_exists) override {
    auto writer = inner_.create(name, if_exists);
    if (!writer) return std::unexpected(writer.error());
    return std::unique_ptr<ObjectWriter>(new Writer(*this, std::move(*writer)));
  }
  Expected<std::unique_ptr<pipeline::Source>> open(std::string_view name, std::uint64_t offset,
                                                   std::optional<std::uint64_t> length) const override {
    return inner_.open(name, offset, length);
  }
  Expected<ObjectInfo> stat(std::string_view name) const override { return inner_.stat(name); }
  Expected<std::vector<ObjectInfo>> list(std::string_view prefix) const override { return inner_.list(prefix); }
  Expected<void> remove(std::string_view name) override { return inner_.remove(name); }

 private:
  class Writer final : public ObjectWriter {
   public:
    Writer(CommitFailingBackend& backend, std::unique_ptr<ObjectWriter> inner)
        : backend_(backend), inner_(std::move(inner)) {}
    Expected<void> write(pipeline::Bytes data) override { return inner_->write(data); }
    Expected<void> finish() override { return inner_->finish(); }
    Expected<void> commit() override {
      if (backend_.fail_commits) return make_error(ErrorKind::failure, "the test's commit failure");
      ++backend_.commits;
      return inner_->commit();
    }

   private:
    CommitFailingBackend& backend_;
    std::unique_ptr<ObjectWriter> inner_;
  };
  local::LocalBackend inner_;
};

}  // namespace

TEST_CASE("a full pack commits in the background: its chunks count as held, settle() indexes it, and a failed "
          "commit is the next call's error") {
  test::TempDir dir;
  CommitFailingBackend backend(dir.path);
  auto index = ChunkIndex::in_memory();
  REQUIRE(index.has_value());
  auto store = ChunkStore::create(backend, *index, {.pack_size = 64 << 10});
  REQUIRE(store.has_value());
  // Chunks of 300 KB, half of them random: each one fills a 64 KiB pack and starts its commit.
  const std::string first = test::make_data(300'000, 21);
  auto id = store->put(test::as_bytes(first));
  REQUIRE(id.has_value());
  CHECK(store->holds(*id).value());  // committing (or committed, not yet indexed): held
  auto again = store->put(test::as_bytes(first));
  REQUIRE(again.has_value());
  CHECK(store->stats().new_chunks == 1);  // not stored a second time
  REQUIRE(store->settle());
  CHECK(store->stats().packs == 1);
  CHECK(backend.commits == 1);
  CHECK(index->find(*id).value().has_value());
  CHECK(test::names(backend, "data/").size() == 1);

  // A commit that fails in the background: the next put says so, and the pack is not there.
  backend.fail_commits = true;
  REQUIRE(store->put(test::as_bytes(test::make_data(300'000, 22))));
  auto next = store->put(test::as_bytes(test::make_data(300'000, 23)));
  REQUIRE_FALSE(next.has_value());
  CHECK(next.error().message.find("the test's commit failure") != std::string::npos);
  CHECK(test::names(backend, "data/").size() == 1);
  CHECK(store->stats().packs == 1);
}

TEST_CASE("a chunk the repository does not hold, or holds damaged, stops the stream with an error naming it") {
  test::TempDir dir;
  local::LocalBackend backend(dir.path, BackendAccess::write);
  auto index = ChunkIndex::in_memory();
  auto store = ChunkStore::create(backend, *index);
  REQUIRE(store.has_value());
  auto ids = put_stream(*store, test::make_data(500'000, 13));
  auto missing = ChunkId::of(test::as_bytes("never stored"));
  ids.insert(ids.begin() + 1, *missing);
  ChunkReader reader(backend, *index, ids);
  std::vector<std::byte> buffer(1 << 20);
  Expected<std::size_t> n = std::size_t{1};
  while (n && *n > 0) n = reader.read(buffer);
  REQUIRE_FALSE(n.has_value());
  CHECK(n.error().kind == ErrorKind::corrupt);
  CHECK(n.error().message.find(missing->hex().substr(0, 16)) != std::string::npos);
}

}  // namespace dbsnap::store::repo

namespace dbsnap::store::repo {

TEST_CASE("reconcile indexes packs a killed run committed but never indexed, and forgets vanished ones") {
  test::TempDir dir;
  local::LocalBackend backend(dir.path, BackendAccess::write);
  auto written = ChunkIndex::in_memory();
  auto store = ChunkStore::create(backend, *written, {.pack_size = 256 << 10});
  REQUIRE(store.has_value());
  const std::string data = test::make_data(2'000'000, 17);
  auto ids = put_stream(*store, data);
  const auto packs = written->packs().value();
  REQUIRE(packs.size() >= 3);

  // The index of a run killed between committing its packs and indexing them: empty.
  auto index = ChunkIndex::in_memory();
  REQUIRE(index.has_value());
  auto report = reconcile(backend, *index);
  REQUIRE(report.has_value());
  CHECK(report->indexed == packs);
  CHECK(report->forgotten.empty());
  CHECK(read_stream(backend, *index, ids) == data);
  CHECK(index->totals().value() == written->totals().value());

  // Nothing to do the second time.
  report = reconcile(backend, *index);
  REQUIRE(report.has_value());
  CHECK(report->indexed.empty());
  CHECK(report->forgotten.empty());

  // A pack removed behind the index's back, a pack-named object that is no
  // pack, and a snapshot of a target named "data" (never taken for a pack).
  REQUIRE(backend.remove(packs[1]));
  const std::string fake = "data/ab/ab" + std::string(30, '0');
  REQUIRE(write_object(backend, fake, "hello"));
  REQUIRE(write_object(backend, "data/1m94agga7b5mb.json", "{}"));
  report = reconcile(backend, *index);
  REQUIRE(report.has_value());
  CHECK(report->forgotten == std::vector<std::string>{packs[1]});
  CHECK(report->unreadable == std::vector<std::string>{fake});
  CHECK(report->indexed.empty());
  CHECK(index->packs().value().size() == packs.size() - 1);
}

}  // namespace dbsnap::store::repo

namespace dbsnap::store::repo {

TEST_CASE("a backend that cannot be written makes put() fail with its error, and nothing is indexed") {
  test::TempDir dir;
  local::LocalBackend backend(dir.path, BackendAccess::read);
  auto index = ChunkIndex::in_memory();
  auto store = ChunkStore::create(backend, *index);
  REQUIRE(store.has_value());
  auto r = store->put(test::as_bytes(test::make_data(100'000, 71)));
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().kind == ErrorKind::failure);
  CHECK_FALSE(r.error().message.empty());
  CHECK(store->flush().has_value());  // nothing was left open
  CHECK(index->packs().value().empty());
}

}  // namespace dbsnap::store::repo
