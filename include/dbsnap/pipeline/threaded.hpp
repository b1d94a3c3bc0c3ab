#pragma once
// A pipeline stage that runs the rest of the pipeline on its own thread.
//
// Why: a chunked backup does two kinds of work per byte, reading the dump
// (and hashing the whole stream) and cutting, hashing, compressing and
// packing chunks. On one thread they add up; with ThreadedSink between them
// they overlap, and the backup takes about as long as the slower of the two.
//
// write() copies the bytes into a buffer of chunk_size (256 KiB), handed to
// a bounded queue when it is full (at most `depth` buffers: `depth` x 256
// KiB of memory, plus the one filling) and returns; the worker feeds them to
// `next` in order. Small writes are gathered, not handed over one by one:
// the docker daemon's stream comes in frames of about 32 KiB, and handing
// each over cost two thread wake-ups per frame. An error of `next` is
// returned by the first write() or finish() after it happened, and the
// worker stops there. finish() waits until the worker has written everything and
// finished `next`. A ThreadedSink dropped without finish() stops its worker
// at the next buffer and joins it; `next` is then never finished (its own
// destructor decides what an unfinished write leaves: nothing, for the
// store's objects). The worker blocks SIGINT and SIGTERM, so that they reach
// the thread that reads the dump (whose blocking reads they must interrupt).
#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "dbsnap/pipeline/stream.hpp"

namespace dbsnap::pipeline {

class ThreadedSink final : public Sink {
 public:
  // Starts the worker. Errors: `failure` when no thread can be started.
  static Expected<std::unique_ptr<ThreadedSink>> create(Sink& next, std::size_t depth = 8);
  ~ThreadedSink() override;
  ThreadedSink(const ThreadedSink&) = delete;
  ThreadedSink& operator=(const ThreadedSink&) = delete;

  Expected<void> write(Bytes data) override;
  Expected<void> finish() override;

 private:
  ThreadedSink(Sink& next, std::size_t depth) : next_(next), depth_(depth) {}
  void run();
  // Puts the full (or, from finish, last) buffer in the queue, waiting for room.
  Expected<void> hand_over();

  Sink& next_;
  const std::size_t depth_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<std::vector<std::byte>> queue_;
  std::vector<std::vector<std::byte>> spare_;  // emptied buffers, reused
  bool closing_ = false;                       // finish(): drain, then finish `next`
  bool abandoned_ = false;                     // destructor: stop now
  bool stopped_ = false;                       // the worker is done (finished, failed or abandoned)
  std::optional<Error> error_;
  std::atomic<bool> failed_ = false;  // error_ is set: checked by write() without the lock
  std::vector<std::byte> filling_;    // the writer's buffer, not yet handed over
  std::thread worker_;
};

}  // namespace dbsnap::pipeline
