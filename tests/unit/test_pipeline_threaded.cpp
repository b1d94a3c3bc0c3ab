#include <algorithm>
#include <atomic>
#include <chrono>
#include <string>
#include <thread>

#include "dbsnap/pipeline/threaded.hpp"
#include "helpers.hpp"

using namespace dbsnap;

namespace {

// Fails its n-th write; counts what it saw, on the worker thread.
class FailingSink final : public pipeline::Sink {
 public:
  explicit FailingSink(int fail_at) : fail_at_(fail_at) {}
  Expected<void> write(pipeline::Bytes) override {
    if (++writes == fail_at_) return make_error(ErrorKind::failure, "disk on fire");
    return {};
  }
  Expected<void> finish() override {
    ++finished;
    return {};
  }
  std::atomic<int> writes{0};
  std::atomic<int> finished{0};

 private:
  int fail_at_;
};

// Slow to write: the queue fills up behind it.
class SlowSink final : public pipeline::Sink {
 public:
  Expected<void> write(pipeline::Bytes data) override {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    bytes += data.size();
    return {};
  }
  Expected<void> finish() override {
    ++finished;
    return {};
  }
  std::atomic<std::size_t> bytes{0};
  std::atomic<int> finished{0};
};

}  // namespace

TEST_CASE("a threaded sink hands every byte on in order, then finishes the next stage once") {
  const std::string data = test::make_data(3 * pipeline::chunk_size + 12345, 7);
  test::StringSink out;
  auto sink = pipeline::ThreadedSink::create(out, 2);
  REQUIRE(sink);
  // Writes of every size, some bigger than a queue buffer (split), some of one byte.
  std::size_t at = 0;
  for (std::size_t step : {1ul, 1000ul, pipeline::chunk_size * 2 + 3, 7ul, pipeline::chunk_size}) {
    const std::size_t n = std::min(step, data.size() - at);
    REQUIRE((*sink)->write(test::as_bytes(data).subspan(at, n)));
    at += n;
  }
  REQUIRE((*sink)->write(test::as_bytes(data).subspan(at)));
  REQUIRE((*sink)->finish());
  CHECK(out.text == data);
  CHECK(out.finished == 1);
  CHECK((*sink)->finish());  // again: nothing more happens
  CHECK(out.finished == 1);
}

TEST_CASE("an error of the next stage comes back from a later write or from finish, and stops the worker") {
  FailingSink failing(3);
  auto sink = pipeline::ThreadedSink::create(failing, 1);
  REQUIRE(sink);
  const std::string piece(pipeline::chunk_size / 4, 'x');
  Expected<void> result;
  for (int i = 0; i < 50 && result; ++i) result = (*sink)->write(test::as_bytes(piece));
  if (result) result = (*sink)->finish();
  REQUIRE_FALSE(result);
  CHECK(result.error().message == "disk on fire");
  CHECK(failing.writes == 3);  // nothing after the failing write
  CHECK(failing.finished == 0);
  CHECK_FALSE((*sink)->finish());
}

TEST_CASE("small writes are gathered into buffers of chunk_size before they are handed over") {
  // Counts the writes it sees and their sizes, on the worker thread.
  class CountingSink final : public pipeline::Sink {
   public:
    Expected<void> write(pipeline::Bytes data) override {
      ++writes;
      largest = std::max(largest.load(), data.size());
      text.append(reinterpret_cast<const char*>(data.data()), data.size());
      return {};
    }
    Expected<void> finish() override { return {}; }
    std::atomic<int> writes{0};
    std::atomic<std::size_t> largest{0};
    std::string text;
  } counting;
  auto sink = pipeline::ThreadedSink::create(counting, 2);
  REQUIRE(sink);
  // What the docker daemon's stream gives a read: frames of about 32 KiB.
  const std::string data = test::make_data(32 * 1024 * 40 + 99, 3);
  for (std::size_t at = 0; at < data.size(); at += 32 * 1024) {
    REQUIRE((*sink)->write(test::as_bytes(data).subspan(at, std::min<std::size_t>(32 * 1024, data.size() - at))));
  }
  REQUIRE((*sink)->finish());
  CHECK(counting.text == data);
  CHECK(counting.writes == static_cast<int>((data.size() + pipeline::chunk_size - 1) / pipeline::chunk_size));
  CHECK(counting.largest == pipeline::chunk_size);
}

TEST_CASE("a threaded sink dropped without finish joins its worker and never finishes the next stage") {
  SlowSink slow;
  {
    auto sink = pipeline::ThreadedSink::create(slow, 4);
    REQUIRE(sink);
    const std::string piece(pipeline::chunk_size, 'y');
    for (int i = 0; i < 8; ++i) REQUIRE((*sink)->write(test::as_bytes(piece)));
  }
  CHECK(slow.finished == 0);
  CHECK(slow.bytes < 8 * pipeline::chunk_size);  // it stopped at the next buffer, not after all of them
  CHECK(slow.bytes % pipeline::chunk_size == 0);
}
