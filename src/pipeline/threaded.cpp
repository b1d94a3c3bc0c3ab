#include "dbsnap/pipeline/threaded.hpp"

#include <pthread.h>

#include <algorithm>
#include <csignal>
#include <system_error>

namespace dbsnap::pipeline {

Expected<std::unique_ptr<ThreadedSink>> ThreadedSink::create(Sink& next, std::size_t depth) {
  std::unique_ptr<ThreadedSink> sink(new ThreadedSink(next, std::max<std::size_t>(depth, 1)));
  try {
    sink->worker_ = std::thread(&ThreadedSink::run, sink.get());
  } catch (const std::system_error& e) {
    return make_error(ErrorKind::failure, "cannot start a worker thread: {}", e.what());
  }
  return sink;
}

ThreadedSink::~ThreadedSink() {
  {
    std::lock_guard lock(mutex_);
    abandoned_ = true;
  }
  changed_.notify_all();
  if (worker_.joinable()) worker_.join();
}

Expected<void> ThreadedSink::write(Bytes data) {
  while (!data.empty()) {
    const std::size_t n = std::min(data.size(), chunk_size - filling_.size());
    filling_.insert(filling_.end(), data.begin(), data.begin() + static_cast<std::ptrdiff_t>(n));
    data = data.subspan(n);
    if (filling_.size() == chunk_size) {
      if (auto r = hand_over(); !r) return r;
    }
  }
  if (failed_.load(std::memory_order_acquire)) {
    std::lock_guard lock(mutex_);
    return std::unexpected(*error_);
  }
  return {};
}

Expected<void> ThreadedSink::hand_over() {
  std::unique_lock lock(mutex_);
  changed_.wait(lock, [&] { return queue_.size() < depth_ || error_ || stopped_; });
  if (error_) return std::unexpected(*error_);
  if (stopped_ || closing_) return make_error(ErrorKind::failure, "internal: write after finish");
  queue_.push_back(std::move(filling_));
  filling_ = std::vector<std::byte>();
  if (!spare_.empty()) {
    filling_ = std::move(spare_.back());
    spare_.pop_back();
  }
  lock.unlock();
  changed_.notify_all();
  filling_.clear();
  filling_.reserve(chunk_size);
  return {};
}

Expected<void> ThreadedSink::finish() {
  if (!filling_.empty()) {
    if (auto r = hand_over(); !r) return r;
  }
  std::unique_lock lock(mutex_);
  closing_ = true;
  changed_.notify_all();
  changed_.wait(lock, [&] { return stopped_; });
  lock.unlock();
  if (worker_.joinable()) worker_.join();
  if (error_) return std::unexpected(*error_);
  return {};
}

void ThreadedSink::run() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  std::unique_lock lock(mutex_);
  for (;;) {
    changed_.wait(lock, [&] { return !queue_.empty() || closing_ || abandoned_; });
    if (abandoned_) break;
    if (queue_.empty()) {  // closing, and everything written
      lock.unlock();
      auto finished = next_.finish();
      lock.lock();
      if (!finished) {
        error_ = finished.error();
        failed_.store(true, std::memory_order_release);
      }
      break;
    }
    std::vector<std::byte> buffer = std::move(queue_.front());
    queue_.pop_front();
    lock.unlock();
    changed_.notify_all();  // room in the queue
    auto written = next_.write(buffer);
    lock.lock();
    spare_.push_back(std::move(buffer));
    if (!written) {
      error_ = written.error();
      failed_.store(true, std::memory_order_release);
      break;
    }
  }
  stopped_ = true;
  lock.unlock();
  changed_.notify_all();
}

}  // namespace dbsnap::pipeline
