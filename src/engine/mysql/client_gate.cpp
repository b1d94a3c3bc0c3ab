#include "dbsnap/engine/mysql/client_gate.hpp"

#include <algorithm>
#include <cctype>

#include "dbsnap/util/text.hpp"

namespace dbsnap::engine::mysql {

Expected<void> ClientCommandGate::judge() const {
  std::string_view head = head_;
  while (!head.empty() && (head.front() == ' ' || head.front() == '\t')) head.remove_prefix(1);
  std::string word;
  for (char c : head.substr(0, 7)) word.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  // The first word, lower-case, and whether it stands alone (a blank, ';' or the line's end after it).
  auto is_word = [&](std::string_view name) {
    if (!word.starts_with(name)) return false;
    return head.size() == name.size() ||
           (head.size() > name.size() && (head[name.size()] == ' ' || head[name.size()] == '\t' ||
                                          head[name.size()] == ';' || head[name.size()] == '`'));
  };
  const std::string_view shown = head.substr(0, std::min<std::size_t>(head.size(), 24));
  if (head.starts_with("\\!") || is_word("system")) {
    return make_error(ErrorKind::engine, "line {} of the dump is a client shell command ('{}'), which would run a "
                      "command where the client runs; refused, nothing was loaded", line_, util::printable(shown));
  }
  // A restore loads into its own schema: a dump that switches to another (or reconnects) would write
  // outside it, where nothing is all-or-nothing. mysqldump of one database never writes these.
  if (head.starts_with("\\u") || head.starts_with("\\r") || is_word("use") || is_word("connect")) {
    return make_error(ErrorKind::engine, "line {} of the dump switches database ('{}'), which would load it outside "
                      "the restore's own schema; refused, nothing was loaded", line_, util::printable(shown));
  }
  return {};
}

Expected<void> ClientCommandGate::forward(std::string_view bytes) {
  if (bytes.empty()) return {};
  return next_.write(pipeline::Bytes(reinterpret_cast<const std::byte*>(bytes.data()), bytes.size()));
}

Expected<void> ClientCommandGate::write(pipeline::Bytes data) {
  // Judged bytes go on in one piece per chunk; only a line start cut by the chunk's end waits in held_.
  const std::string_view in(reinterpret_cast<const char*>(data.data()), data.size());
  std::size_t pos = 0;
  while (pos < in.size()) {
    if (at_line_start_) {
      const std::size_t begin = pos;  // 0 when the line began in an earlier chunk (its start is in held_)
      // Up to 32 bytes (leading blanks and a word) or the whole line, whichever ends first.
      while (pos < in.size() && head_.size() < 32 && in[pos] != '\n') head_.push_back(in[pos++]);
      if (pos == in.size() && head_.size() < 32) {
        auto r = forward(in.substr(0, begin));
        held_.append(in.substr(begin));
        return r;
      }
      if (auto r = judge(); !r) return r;
      head_.clear();
      at_line_start_ = false;
      if (!held_.empty()) {  // begin == 0: nothing of this chunk went on yet
        if (auto r = forward(held_); !r) return r;
        held_.clear();
      }
      continue;
    }
    const auto nl = in.find('\n', pos);
    if (nl == std::string_view::npos) break;
    pos = nl + 1;
    at_line_start_ = true;
    ++line_;
  }
  return forward(in);
}

Expected<void> ClientCommandGate::finish() {
  if (!head_.empty()) {
    if (auto r = judge(); !r) return r;
    head_.clear();
    if (auto r = forward(held_); !r) return r;
    held_.clear();
  }
  return next_.finish();
}

bool is_sandbox_line(std::string_view line) {
  return line.starts_with("/*M!999999\\-") || line.starts_with("/*!999999\\-");
}

Expected<void> SandboxFilter::decide() {
  deciding_ = false;
  std::string_view first = first_;
  if (auto newline = first.find('\n'); newline != std::string_view::npos && is_sandbox_line(first)) {
    dropped_ = true;
    first.remove_prefix(newline + 1);
  }
  Expected<void> r;
  if (!first.empty()) r = next_.write(pipeline::Bytes(reinterpret_cast<const std::byte*>(first.data()), first.size()));
  first_.clear();
  first_.shrink_to_fit();
  return r;
}

Expected<void> SandboxFilter::write(pipeline::Bytes data) {
  if (!deciding_) return next_.write(data);
  // Hold back the start of the stream until its first line is complete (the
  // sandbox line is short: give up looking after 256 bytes).
  const std::size_t take = std::min<std::size_t>(data.size(), 256 - std::min<std::size_t>(first_.size(), 256));
  first_.append(reinterpret_cast<const char*>(data.data()), take);
  data = data.subspan(take);
  if (first_.find('\n') == std::string::npos && first_.size() < 256 && data.empty()) return {};
  if (auto r = decide(); !r) return r;
  return data.empty() ? Expected<void>{} : next_.write(data);
}

Expected<void> SandboxFilter::finish() {
  if (deciding_) {
    if (auto r = decide(); !r) return r;
  }
  return next_.finish();
}

}  // namespace dbsnap::engine::mysql
