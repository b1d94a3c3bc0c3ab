#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "dbsnap/pipeline/progress.hpp"
#include "helpers.hpp"

using namespace dbsnap;
using namespace std::chrono_literals;

namespace {

// A pipe standing in for the terminal: what a Progress drew, read back.
struct Pipe {
  int fds[2] = {-1, -1};
  Pipe() { REQUIRE(::pipe2(fds, O_NONBLOCK) == 0); }
  ~Pipe() {
    ::close(fds[0]);
    ::close(fds[1]);
  }
  std::string drain() {
    std::string text;
    char buffer[4096];
    for (;;) {
      ssize_t n = ::read(fds[0], buffer, sizeof buffer);
      if (n <= 0) break;
      text.append(buffer, static_cast<std::size_t>(n));
    }
    return text;
  }
};

std::size_t count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

}  // namespace

TEST_CASE("progress_text: a known total shows percent, both sizes, rate, elapsed and ETA") {
  const std::uint64_t mib = 1024 * 1024;
  auto text = pipeline::progress_text({"restore 1m7z3m", 45 * mib, 100 * mib, 3000ms});
  CHECK(text == "restore 1m7z3m   45%  45.0 MiB of 100.0 MiB  15.0 MiB/s  0:03  ETA 0:04");
}

TEST_CASE("progress_text: an unknown total (a backup) shows bytes, rate and elapsed only") {
  auto text = pipeline::progress_text({"backup 'dev'", 3 * 1024 * 1024, 0, 61500ms});
  CHECK(text == "backup 'dev'  3.0 MiB  50.0 KiB/s  1:01");
  CHECK(text.find('%') == std::string::npos);
  CHECK(text.find("ETA") == std::string::npos);
}

TEST_CASE("progress_text: edge cases") {
  SUBCASE("nothing elapsed yet: no rate, no ETA") {
    CHECK(pipeline::progress_text({"verify x", 0, 1000, 0ms}) == "verify x    0%  0 B of 1000 B  - B/s  0:00  ETA -:--");
  }
  SUBCASE("done: 100% and ETA 0:00, never above 100%") {
    CHECK(pipeline::progress_text({"verify x", 1000, 1000, 10ms}).find(" 100%  ") != std::string::npos);
    CHECK(pipeline::progress_text({"verify x", 5000, 1000, 10ms}).find(" 100%  ") != std::string::npos);
    CHECK(pipeline::progress_text({"verify x", 1000, 1000, 10ms}).ends_with("ETA 0:00"));
  }
  SUBCASE("hours") {
    CHECK(pipeline::progress_text({"backup 'a'", 1, 0, std::chrono::milliseconds(3723000)}).ends_with("1:02:03"));
  }
  SUBCASE("cut to the terminal's width so that it never wraps") {
    auto text = pipeline::progress_text({"restore 1m7z3m", 45, 100, 3000ms}, 20);
    CHECK(text.size() == 19);
    CHECK(text == pipeline::progress_text({"restore 1m7z3m", 45, 100, 3000ms}).substr(0, 19));
  }
}

TEST_CASE("Progress draws when created, then at most once per interval, and erases its line at the end") {
  Pipe tty;
  {
    pipeline::Progress progress(tty.fds[1], "verify abc", 1000, 200ms);
    CHECK(progress.draws() == 1);
    CHECK(tty.drain() == "\rverify abc    0%  0 B of 1000 B  - B/s  0:00  ETA -:--\x1b[K");
    progress.advance(10);
    for (int i = 0; i < 1000; ++i) progress.advance(0);  // a burst within the interval draws nothing
    CHECK(progress.draws() == 1);
    CHECK(tty.drain().empty());
    std::this_thread::sleep_for(250ms);
    progress.advance(490);
    CHECK(progress.draws() == 2);
    CHECK(progress.done() == 500);
    auto drawn = tty.drain();
    CHECK(drawn.starts_with("\rverify abc   50%  500 B of 1000 B  "));
    CHECK(drawn.ends_with("\x1b[K"));
    CHECK(drawn.find('\n') == std::string::npos);  // redrawn in place, never a new line
    progress.advance(500);  // within the interval: not drawn...
    CHECK(progress.draws() == 2);
    progress.complete();  // ...but completion is, at once
    CHECK(progress.draws() == 3);
    drawn = tty.drain();
    CHECK(drawn.find("verify abc  100%  1000 B of 1000 B") != std::string::npos);
    CHECK(drawn.find("finishing") != std::string::npos);
    progress.finish();
    CHECK(tty.drain() == "\r\x1b[K");
    progress.advance(500);  // after finish: nothing more
    progress.complete();
    CHECK(tty.drain().empty());
  }
  CHECK(tty.drain().empty());  // finish was already called: the destructor writes nothing
}

TEST_CASE("Progress erases its line when dropped without finish (an error is printed next)") {
  Pipe tty;
  {
    pipeline::Progress progress(tty.fds[1], "backup 'dev'", 0);
    progress.advance(100);
    CHECK(tty.drain().starts_with("\rbackup 'dev'  0 B  - B/s  0:00"));
  }
  CHECK(tty.drain() == "\r\x1b[K");
}

TEST_CASE("clear_active_line erases the line being shown, which comes back at the next update") {
  Pipe tty;
  pipeline::Progress progress(tty.fds[1], "restore abc", 100, 10s);
  progress.advance(1);
  tty.drain();
  pipeline::Progress::clear_active_line();
  CHECK(tty.drain() == "\r\x1b[K");
  progress.advance(1);  // long before the 10 s interval: redrawn because it was cleared
  CHECK(tty.drain().find("restore abc    2%") != std::string::npos);
  CHECK(progress.draws() == 2);
}

TEST_CASE("a new Progress takes over the line from one still shown") {
  Pipe tty;
  pipeline::Progress first(tty.fds[1], "check abc", 100);
  tty.drain();
  pipeline::Progress second(tty.fds[1], "restore abc", 100);
  CHECK(tty.drain().starts_with("\r\x1b[K\rrestore abc"));
  first.finish();  // no longer shown: nothing to erase
  CHECK(tty.drain().empty());
}

TEST_CASE("ProgressSink forwards every byte unchanged and counts them") {
  Pipe tty;
  test::StringSink out;
  pipeline::Progress progress(tty.fds[1], "backup 'dev'", 0);
  pipeline::ProgressSink sink(out, progress);
  const std::string a = "hello ", b = "world";
  REQUIRE(sink.write(pipeline::Bytes(reinterpret_cast<const std::byte*>(a.data()), a.size())));
  REQUIRE(sink.write(pipeline::Bytes(reinterpret_cast<const std::byte*>(b.data()), b.size())));
  REQUIRE(sink.finish());
  CHECK(out.text == "hello world");
  CHECK(out.finished == 1);
  CHECK(progress.done() == 11);
  CHECK(tty.drain().find("backup 'dev'  11 B  ") != std::string::npos);  // finish() drew the final count
}

TEST_CASE("progress_text: finishing replaces the ETA") {
  CHECK(pipeline::progress_text({"restore x", 1000, 1000, 2000ms, true}) ==
        "restore x  100%  1000 B of 1000 B  500 B/s  0:02  finishing");
  CHECK(pipeline::progress_text({"backup 'a'", 1000, 0, 2000ms, true}) == "backup 'a'  1000 B  500 B/s  0:02  finishing");
}
