#include "dbsnap/engine/postgres/psql_session.hpp"

#include <chrono>

#include "dbsnap/engine/postgres/text.hpp"
#include "dbsnap/util/interrupt.hpp"

namespace dbsnap::engine::postgres {

PsqlSession::PsqlSession(Server& server, const std::vector<std::string>& argv)
    : runtime_(server.runtime()), session_(server.start_session(argv)) {
  reader_ = std::thread([this] { read_stdout(); });
}

PsqlSession::~PsqlSession() {
  session_->close_stdin();
  if (reader_.joinable()) reader_.join();
  if (!waited_) session_->wait();
}

Expected<void> PsqlSession::write(pipeline::Bytes data) {
  auto r = session_->write(data);
  if (!r && r.error().kind != ErrorKind::interrupted) {
    return make_error(ErrorKind::engine, "psql stopped reading its input: {}", r.error().message);
  }
  return r;
}

Expected<void> PsqlSession::send(std::string_view text) {
  return write(pipeline::Bytes(reinterpret_cast<const std::byte*>(text.data()), text.size()));
}

std::optional<std::string> PsqlSession::wait_for_line(std::string_view marker) {
  std::unique_lock lock(mutex_);
  for (;;) {
    if (auto value = find_marker(stdout_, marker)) return value;
    if (eof_) return std::nullopt;
    lock.unlock();
    util::check_interrupted();
    lock.lock();
    changed_.wait_for(lock, std::chrono::milliseconds(100));
  }
}

runtime::ExitStatus PsqlSession::close_and_wait() {
  session_->close_stdin();
  if (reader_.joinable()) reader_.join();
  status_ = session_->wait();
  waited_ = true;
  const std::string said = session_->stderr_text() + output();
  if (auto why = runtime_.exec_failure(status_, "psql", said)) {
    // docker exec prints "executable file not found" on stdout.
    if (said.find("executable file not found") != std::string::npos) {
      fail(ErrorKind::runtime, "'psql' is not installed in {}; install the PostgreSQL client there or point the "
           "target at the database's own container", runtime_.where());
    }
    fail(ErrorKind::runtime, "{}", *why);
  }
  return status_;
}

std::string PsqlSession::output() const {
  std::lock_guard lock(mutex_);
  return stdout_;
}

std::string PsqlSession::failure_text(const runtime::ExitStatus& status) const {
  std::string text = describe_failure(stderr_text());
  return text.empty() ? fmt::format("psql ended with {} and no message", status.describe()) : text;
}

std::string PsqlSession::stopped(std::string_view what) {
  runtime::ExitStatus status = status_;
  if (!waited_) {
    try {
      status = close_and_wait();
    } catch (const DbsnapError& e) {
      return fmt::format("{}: {}", what, e.what());
    }
  }
  return fmt::format("{}: {}", what, failure_text(status));
}

void PsqlSession::read_stdout() {
  std::byte buffer[8192];
  for (;;) {
    auto n = session_->read_stdout(buffer);
    std::lock_guard lock(mutex_);
    if (!n || *n == 0) {
      eof_ = true;
      changed_.notify_all();
      return;
    }
    stdout_.append(reinterpret_cast<const char*>(buffer), *n);
    if (stdout_.size() > 128 * 1024) stdout_.erase(0, stdout_.size() - 64 * 1024);
    changed_.notify_all();
  }
}

}  // namespace dbsnap::engine::postgres
