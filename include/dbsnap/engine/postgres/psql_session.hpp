#pragma once

// psql reading a script on stdin, in a session dbsnap drives statement by
// statement: its stdout is read by a thread of our own as it comes, so the
// restore can wait for a marker line (the transaction id) before it sends
// COMMIT. Unlike ToolInput, closing it without COMMIT waits for psql to
// roll back, so the database is as it was when dbsnap exits.

#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "dbsnap/engine/server.hpp"

namespace dbsnap::engine::postgres {

class PsqlSession {
 public:
  // Starts psql (`argv`) where the server's database is, with the password.
  PsqlSession(Server& server, const std::vector<std::string>& argv);
  // Closes stdin (psql rolls back what it did not commit) and waits for it.
  ~PsqlSession();

  Expected<void> write(pipeline::Bytes data);
  Expected<void> send(std::string_view text);
  // Waits until psql printed a line "<marker><value>" (returns value) or its
  // output ended (std::nullopt). A SIGINT/SIGTERM meanwhile throws `interrupted`.
  std::optional<std::string> wait_for_line(std::string_view marker);
  // Closes stdin and waits for psql to end; throws a `runtime` error when
  // the exec itself failed.
  runtime::ExitStatus close_and_wait();
  // What psql printed on stdout so far (the last 64-128 KiB).
  std::string output() const;
  const std::string& stderr_text() const { return session_->stderr_text(); }
  // Whether close_and_wait() ran.
  bool closed() const { return waited_; }
  // psql's own message (the error that stopped it) or, without one, how it ended.
  std::string failure_text(const runtime::ExitStatus& status) const;
  // "<what>: <psql's message>", closing psql first when it still runs (it
  // then rolls back what it did not commit).
  std::string stopped(std::string_view what);

 private:
  void read_stdout();
  runtime::Runtime& runtime_;
  std::unique_ptr<runtime::InputSession> session_;
  std::thread reader_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::string stdout_;
  bool eof_ = false;
  bool waited_ = false;
  runtime::ExitStatus status_;
};

}  // namespace dbsnap::engine::postgres
