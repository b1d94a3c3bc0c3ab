#include "dbsnap/engine/postgres/script_gate.hpp"

#include "dbsnap/util/error.hpp"
#include "dbsnap/util/text.hpp"

namespace dbsnap::engine::postgres {

Expected<void> ScriptGate::refused() const {
  if (!meta_refusal_.empty()) return make_error(ErrorKind::engine, "{}", meta_refusal_);
  return make_error(ErrorKind::engine, "{}", scanner_.refusal());
}

Expected<void> ScriptGate::forward(std::string_view data) {
  if (data.empty()) return {};
  return next_.write(pipeline::Bytes(reinterpret_cast<const std::byte*>(data.data()), data.size()));
}

Expected<void> ScriptGate::write(pipeline::Bytes bytes) {
  if (!scanner_.refusal().empty() || !meta_refusal_.empty()) return refused();
  const std::string_view data(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  // 1. Every complete line of the chunk goes past the scanner first, and every
  // byte outside COPY data past the meta-command scanner (partial lines too).
  std::size_t last_newline = std::string_view::npos;
  for (std::size_t pos = 0; pos < data.size();) {
    const char* newline = static_cast<const char*>(std::memchr(data.data() + pos, '\n', data.size() - pos));
    const std::size_t n = newline ? static_cast<std::size_t>(newline - (data.data() + pos)) : data.size() - pos;
    const bool line_start = line_length_ == 0;
    if (line_start) line_checked_ = !scanner_.in_copy();
    if (line_checked_ && !meta_.feed(data.substr(pos, n), line_start)) {
      meta_refusal_ = fmt::format(
          "line {} of the dump holds the psql command '{}', which psql would run (a shell command, a file "
          "read or written); refused, nothing was restored; load it by hand after reading it (dbsnap cat)",
          scanner_.lines() + 1, util::printable(meta_.found()));
      return refused();
    }
    if (line_.size() < keep) line_.append(data.substr(pos, std::min(n, keep - line_.size())));
    line_length_ += n;
    if (!newline) break;
    if (line_checked_) meta_.end_line();
    scanner_.line(line_, line_length_ > line_.size());
    line_.clear();
    line_length_ = 0;
    last_newline = pos + n;
    pos += n + 1;
  }
  if (!scanner_.refusal().empty()) return refused();

  // 2. Forward all of it but the start of a short top-level line.
  if (last_newline == std::string_view::npos) {
    if (!holding_) return forward(data);
    pending_.append(data);
    if (line_length_ < hold_limit) return {};
    holding_ = false;
    auto r = forward(pending_);
    pending_.clear();
    return r;
  }
  if (auto r = forward(pending_); !r) return r;
  pending_.clear();
  if (auto r = forward(data.substr(0, last_newline + 1)); !r) return r;
  const std::string_view tail = data.substr(last_newline + 1);
  holding_ = scanner_.at_top_level();
  if (holding_ && tail.size() < hold_limit) {
    pending_.assign(tail);
    return {};
  }
  holding_ = false;
  return forward(tail);
}

Expected<void> ScriptGate::finish() {
  if (!meta_refusal_.empty()) return refused();
  if (line_length_ > 0) {
    scanner_.line(line_, line_length_ > line_.size());
    line_.clear();
    line_length_ = 0;
  }
  if (!scanner_.refusal().empty()) return refused();
  if (auto r = forward(pending_); !r) return r;
  pending_.clear();
  return next_.finish();
}

}  // namespace dbsnap::engine::postgres
