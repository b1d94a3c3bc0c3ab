#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "dbsnap/pipeline/stream.hpp"

namespace dbsnap::pipeline {

// What a progress line shows: how far an operation is, as of `elapsed`.
struct ProgressState {
  std::string label;             // "backup 'dev'", "restore 1m7z3mme60ymr"
  std::uint64_t done = 0;        // bytes so far
  std::uint64_t total = 0;       // bytes expected; 0 when unknown (a backup)
  std::chrono::milliseconds elapsed{0};
  bool finishing = false;        // every byte went through; the operation is finishing (commit, publish)
};

// The text of a progress line, without the carriage return: the label, the
// bytes, the rate and the elapsed time, and with a known total the percent
// and the estimated time left, e.g.
//   "restore 1m7z3m   45%  123.4 MiB of 270.0 MiB  61.7 MiB/s  0:02  ETA 0:03";
// once every byte went through, "finishing" instead of the ETA.
// Cut to `width` columns when width > 0 (a wrapped line cannot be redrawn).
std::string progress_text(const ProgressState& state, std::size_t width = 0);

// A live progress line on a terminal: drawn when it is created, redrawn in
// place with a carriage return at most every `interval` (4 times a second
// by default) and erased by finish() or the destructor, so that whatever is
// printed next (the result, an error) starts on a clean line. advance() is
// meant for the hot path: one clock read per call, and a draw only when the
// interval has passed. The caller decides whether to show one at all (a
// terminal, no --quiet, no --json); it draws on `fd` unconditionally.
class Progress {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr std::chrono::milliseconds default_interval{250};

  Progress(int fd, std::string label, std::uint64_t total,
           std::chrono::milliseconds interval = default_interval);
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  // Counts `bytes` more; draws the line when it is due.
  void advance(std::uint64_t bytes) {
    done_ += bytes;
    const auto now = Clock::now();
    if (now >= next_draw_) draw(now);
  }
  // Every byte went through: draws the final count at once, marked
  // "finishing" while the operation completes (a restore's commit).
  void complete();
  // Erases the line. Idempotent.
  void finish();

  std::uint64_t done() const noexcept { return done_; }
  // How many times the line was drawn (for tests of the rate limit).
  std::uint64_t draws() const noexcept { return draws_; }

  // Erases the line of the progress being shown, if any, so that a log
  // line can be printed; it is drawn again at its next update.
  static void clear_active_line();

 private:
  void draw(Clock::time_point now);
  void erase();

  int fd_;
  std::string label_;
  std::uint64_t total_;
  std::chrono::milliseconds interval_;
  std::size_t width_ = 0;  // terminal columns, 0 when unknown
  Clock::time_point started_;
  Clock::time_point next_draw_;
  std::uint64_t done_ = 0;
  std::uint64_t draws_ = 0;
  bool shown_ = false;  // a line is on the terminal
  bool completed_ = false;
  bool finished_ = false;
};

// Forwards every byte to `next` and counts it on a Progress: the stage that
// makes a pipeline report how far it is. finish() marks the Progress complete.
class ProgressSink final : public Sink {
 public:
  ProgressSink(Sink& next, Progress& progress) : next_(next), progress_(progress) {}
  Expected<void> write(Bytes data) override {
    progress_.advance(data.size());
    return next_.write(data);
  }
  Expected<void> finish() override {
    progress_.complete();
    return next_.finish();
  }

 private:
  Sink& next_;
  Progress& progress_;
};

}  // namespace dbsnap::pipeline
