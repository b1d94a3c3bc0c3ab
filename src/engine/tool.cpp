#include "dbsnap/engine/tool.hpp"

#include <csignal>
#include <cstring>

#include "dbsnap/util/text.hpp"

namespace dbsnap::engine {

namespace {

constexpr std::size_t keep = 4096;

}  // namespace

DumpTap::DumpTap(pipeline::Sink& next, LineHandler on_line, ByteHandler on_bytes)
    : next_(next), on_line_(std::move(on_line)), on_bytes_(std::move(on_bytes)) {
  tail_ring_.reserve(keep);
}

void DumpTap::observe(std::string_view data) {
  if (head_.size() < keep) head_.append(data.substr(0, keep - head_.size()));
  // Tail: a ring of the last `keep` bytes.
  for (std::string_view rest = data.size() > keep ? data.substr(data.size() - keep) : data; !rest.empty();) {
    if (tail_ring_.size() < keep) {
      auto n = std::min(rest.size(), keep - tail_ring_.size());
      tail_ring_.append(rest.substr(0, n));
      rest.remove_prefix(n);
      continue;
    }
    auto n = std::min(rest.size(), keep - tail_pos_);
    tail_ring_.replace(tail_pos_, n, rest.substr(0, n));
    tail_pos_ = (tail_pos_ + n) % keep;
    rest.remove_prefix(n);
  }
  // Lines.
  while (!data.empty()) {
    const char* newline = static_cast<const char*>(std::memchr(data.data(), '\n', data.size()));
    std::size_t n = newline ? static_cast<std::size_t>(newline - data.data()) : data.size();
    if (!line_overflow_) {
      auto room = keep - line_.size();
      line_.append(data.substr(0, std::min(n, room)));
      if (n > room) line_overflow_ = true;
    }
    if (!newline) break;
    on_line_(line_);
    line_.clear();
    line_overflow_ = false;
    data.remove_prefix(n + 1);
  }
}

Expected<void> DumpTap::write(pipeline::Bytes data) {
  const std::string_view text(reinterpret_cast<const char*>(data.data()), data.size());
  observe(text);
  if (on_bytes_) on_bytes_(text);
  bytes_ += data.size();
  return next_.write(data);
}

Expected<void> DumpTap::finish() {
  if (!line_.empty()) on_line_(line_);
  line_.clear();
  return next_.finish();
}

std::string DumpTap::tail() const {
  if (tail_ring_.size() < keep) return tail_ring_;
  return tail_ring_.substr(tail_pos_) + tail_ring_.substr(0, tail_pos_);
}

Expected<void> ToolFeed::write(pipeline::Bytes data) {
  auto r = write_(data);
  if (!r && r.error().kind != ErrorKind::interrupted) return make_error(ErrorKind::engine, "{}", why_());
  return r;
}

ToolRun stream_from(runtime::Runtime& runtime, const std::vector<std::string>& argv, const runtime::Secret& secret,
                    pipeline::Sink& out) {
  auto output = runtime.start_output(argv, secret);
  auto moved = pipeline::pump(*output, out);
  if (!moved) {
    output->abort();
    throw DbsnapError(moved.error());
  }
  ToolRun run{output->wait(), output->stderr_text()};
  if (auto why = runtime.exec_failure(run.status, argv.front(), run.stderr_text)) fail(ErrorKind::runtime, "{}", *why);
  return run;
}

std::unique_ptr<ToolInput> ToolInput::start(runtime::Runtime& runtime, const std::vector<std::string>& argv,
                                            const runtime::Secret& secret) {
  auto session = runtime.start_input(argv, secret);
  return std::unique_ptr<ToolInput>(new ToolInput(runtime, std::move(session), argv.front()));
}

ToolInput::ToolInput(runtime::Runtime& runtime, std::unique_ptr<runtime::InputSession> session, std::string tool)
    : runtime_(runtime), session_(std::move(session)), tool_(std::move(tool)) {
  reader_ = std::thread([this] { read_stdout(); });
}

ToolInput::~ToolInput() {
  if (!waited_) {
    session_->close_stdin();
    session_->abort();
  }
  if (reader_.joinable()) reader_.join();
}

void ToolInput::read_stdout() {
  constexpr std::size_t keep_stdout = 64 * 1024;
  std::byte buffer[16384];
  for (;;) {
    auto n = session_->read_stdout(buffer);
    std::lock_guard lock(stdout_mutex_);
    if (!n || *n == 0) {
      stdout_ended_ = true;
      stdout_changed_.notify_all();
      return;
    }
    stdout_.append(reinterpret_cast<const char*>(buffer), *n);
    if (stdout_.size() > 2 * keep_stdout) stdout_.erase(0, stdout_.size() - keep_stdout);
    stdout_changed_.notify_all();
  }
}

bool ToolInput::wait_for_stdout(std::string_view marker) {
  std::unique_lock lock(stdout_mutex_);
  stdout_changed_.wait(lock, [&] { return stdout_ended_ || stdout_.find(marker) != std::string::npos; });
  return stdout_.find(marker) != std::string::npos;
}

Expected<void> ToolInput::write(pipeline::Bytes data) {
  auto r = session_->write(data);
  if (!r && r.error().kind != ErrorKind::interrupted) {
    return make_error(ErrorKind::engine, "'{}' stopped reading its input: {}", tool_, r.error().message);
  }
  return r;
}

Expected<void> ToolInput::send(std::string_view text) {
  return write(pipeline::Bytes(reinterpret_cast<const std::byte*>(text.data()), text.size()));
}

runtime::ExitStatus ToolInput::close_and_wait() {
  session_->close_stdin();
  if (reader_.joinable()) reader_.join();
  auto status = session_->wait();
  waited_ = true;
  if (auto why = runtime_.exec_failure(status, tool_, session_->stderr_text() + stdout_)) {
    fail(ErrorKind::runtime, "{}", *why);
  }
  return status;
}

const std::string& ToolInput::stdout_text() const { return stdout_; }
const std::string& ToolInput::stderr_text() const { return session_->stderr_text(); }

}  // namespace dbsnap::engine
