#include "dbsnap/pipeline/progress.hpp"

#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>

#include <fmt/core.h>

#include "dbsnap/util/text.hpp"

namespace dbsnap::pipeline {

namespace {

// The progress currently on the terminal (dbsnap shows one at a time).
Progress* active = nullptr;

// "0:07", "12:34", "1:02:03".
std::string clock_text(std::chrono::seconds duration) {
  const auto s = duration.count() < 0 ? 0 : duration.count();
  if (s >= 3600) return fmt::format("{}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60);
  return fmt::format("{}:{:02}", s / 60, s % 60);
}

void write_all(int fd, const std::string& text) {
  const char* p = text.data();
  std::size_t left = text.size();
  while (left > 0) {
    ssize_t n = ::write(fd, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // a terminal that went away: progress is best effort
    p += n;
    left -= static_cast<std::size_t>(n);
  }
}

std::size_t terminal_width(int fd) {
  struct winsize size {};
  if (::ioctl(fd, TIOCGWINSZ, &size) == 0 && size.ws_col > 0) return size.ws_col;
  return 0;
}

}  // namespace

std::string progress_text(const ProgressState& state, std::size_t width) {
  const double seconds = static_cast<double>(state.elapsed.count()) / 1000.0;
  const double rate = seconds > 0 ? static_cast<double>(state.done) / seconds : 0.0;
  const std::string rate_text = rate > 0 ? util::human_bytes(static_cast<std::uint64_t>(rate)) + "/s" : "- B/s";
  const std::string elapsed = clock_text(std::chrono::duration_cast<std::chrono::seconds>(state.elapsed));
  std::string text;
  if (state.total > 0) {
    const std::uint64_t done = std::min(state.done, state.total);
    const auto percent = static_cast<unsigned>(static_cast<double>(done) * 100.0 / static_cast<double>(state.total));
    std::string eta = "ETA -:--";
    if (state.finishing) {
      eta = "finishing";
    } else if (done == state.total) {
      eta = "ETA 0:00";
    } else if (rate > 0) {
      eta = "ETA " + clock_text(std::chrono::seconds(
                         static_cast<long long>(static_cast<double>(state.total - done) / rate + 0.5)));
    }
    text = fmt::format("{}  {:>3}%  {} of {}  {}  {}  {}", state.label, percent, util::human_bytes(state.done),
                       util::human_bytes(state.total), rate_text, elapsed, eta);
  } else {
    text = fmt::format("{}  {}  {}  {}{}", state.label, util::human_bytes(state.done), rate_text, elapsed,
                       state.finishing ? "  finishing" : "");
  }
  if (width > 1 && text.size() >= width) text.resize(width - 1);
  return text;
}

Progress::Progress(int fd, std::string label, std::uint64_t total, std::chrono::milliseconds interval)
    : fd_(fd),
      label_(std::move(label)),
      total_(total),
      interval_(interval),
      width_(terminal_width(fd)),
      started_(Clock::now()),
      next_draw_(started_) {
  draw(started_);
}

Progress::~Progress() { finish(); }

void Progress::draw(Clock::time_point now) {
  if (finished_) return;
  next_draw_ = now + interval_;
  ++draws_;
  if (active != nullptr && active != this) active->erase();
  active = this;
  const ProgressState state{label_, done_, total_,
                            std::chrono::duration_cast<std::chrono::milliseconds>(now - started_), completed_};
  // Carriage return, the line, then "erase to the end of the line" for a shorter redraw.
  write_all(fd_, "\r" + progress_text(state, width_) + "\x1b[K");
  shown_ = true;
}

void Progress::erase() {
  if (!shown_) return;
  write_all(fd_, "\r\x1b[K");
  shown_ = false;
}

void Progress::complete() {
  if (completed_) return;
  completed_ = true;
  draw(Clock::now());
}

void Progress::finish() {
  if (finished_) return;
  erase();
  finished_ = true;
  if (active == this) active = nullptr;
}

void Progress::clear_active_line() {
  if (active == nullptr) return;
  active->erase();
  active->next_draw_ = Clock::time_point{};  // draw it again at the next update
}

}  // namespace dbsnap::pipeline
