#include <fcntl.h>
#include <unistd.h>

#include "dbsnap/pipeline/sha256.hpp"
#include "dbsnap/pipeline/zstd.hpp"
#include "helpers.hpp"

using namespace dbsnap;

namespace {

// Serves `good` bytes, then fails like a broken pipe or a dying process would.
class FailingSource final : public pipeline::Source {
 public:
  explicit FailingSource(std::size_t good) : good_(good) {}
  Expected<std::size_t> read(pipeline::MutableBytes buffer) override {
    if (served_ >= good_) return make_error(ErrorKind::engine, "source died mid-stream");
    std::size_t n = std::min(buffer.size(), good_ - served_);
    std::memset(buffer.data(), 'x', n);
    served_ += n;
    return n;
  }

 private:
  std::size_t good_;
  std::size_t served_ = 0;
};

// Accepts `capacity` bytes, then refuses like a full disk.
class RefusingSink final : public pipeline::Sink {
 public:
  explicit RefusingSink(std::size_t capacity) : capacity_(capacity) {}
  Expected<void> write(pipeline::Bytes data) override {
    if (taken_ + data.size() > capacity_) return make_error(ErrorKind::failure, "no space left on device");
    taken_ += data.size();
    return {};
  }
  Expected<void> finish() override {
    ++finished;
    return {};
  }
  int finished = 0;

 private:
  std::size_t capacity_;
  std::size_t taken_ = 0;
};

}  // namespace

TEST_CASE("a source that fails mid-stream fails the pump and never finishes the sink") {
  test::StringSink out;
  FailingSource source(3 * pipeline::chunk_size + 17);
  auto moved = pipeline::pump(source, out);
  REQUIRE_FALSE(moved);
  CHECK(moved.error().kind == ErrorKind::engine);
  CHECK(out.finished == 0);
  CHECK(out.text.size() == 3 * pipeline::chunk_size + 17);
}

TEST_CASE("a sink that refuses writes stops the whole chain") {
  RefusingSink disk(100'000);
  auto stored = pipeline::HashingSink::create(disk);
  REQUIRE(stored);
  auto zstd = pipeline::CompressingSink::create(*stored, {.level = 1});
  REQUIRE(zstd);
  test::StringSource source(test::make_data(4 << 20));
  auto moved = pipeline::pump(source, **zstd);
  REQUIRE_FALSE(moved);
  CHECK(moved.error().message.find("no space") != std::string::npos);
  CHECK(disk.finished == 0);
}

TEST_CASE("FdSink reports a full device") {
  int fd = ::open("/dev/full", O_WRONLY | O_CLOEXEC);
  REQUIRE(fd >= 0);
  pipeline::FdSink sink(fd);
  std::string data(4096, 'x');
  auto result = sink.write(test::as_bytes(data));
  ::close(fd);
  REQUIRE_FALSE(result);
  CHECK(result.error().message.find("no space") != std::string::npos);
}

TEST_CASE("FdSink names the file it writes when it fails (the blob, not its temp file)") {
  int fd = ::open("/dev/full", O_WRONLY | O_CLOEXEC);
  REQUIRE(fd >= 0);
  pipeline::FdSink sink(fd, "/store/dev/1m7z3mme60ymr.sqlite.zst");
  std::string data(4096, 'x');
  auto result = sink.write(test::as_bytes(data));
  ::close(fd);
  REQUIRE_FALSE(result);
  CHECK(result.error().message == "cannot write /store/dev/1m7z3mme60ymr.sqlite.zst: no space left on device");
}

TEST_CASE("FdSource reads a pipe to EOF") {
  int p[2];
  REQUIRE(::pipe(p) == 0);
  REQUIRE(::write(p[1], "hello", 5) == 5);
  ::close(p[1]);
  pipeline::FdSource source(p[0]);
  test::StringSink out;
  auto moved = pipeline::pump(source, out);
  ::close(p[0]);
  REQUIRE(moved);
  CHECK(*moved == 5);
  CHECK(out.text == "hello");
  CHECK(out.finished == 1);
}
