#include "dbsnap/pipeline/stream.hpp"

#include <array>

#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <memory>

#include "dbsnap/util/fs.hpp"
#include "dbsnap/util/interrupt.hpp"

namespace dbsnap::pipeline {

namespace {

Error interrupted_error() {
  return Error{ErrorKind::interrupted, fmt::format("interrupted by {}; nothing was published or changed",
                                                  util::interrupt_signal() == SIGTERM ? "SIGTERM" : "SIGINT")};
}

}  // namespace

Expected<std::size_t> FdSource::read(MutableBytes buffer) {
  for (;;) {
    ssize_t n = ::read(fd_, buffer.data(), buffer.size());
    if (n >= 0) return static_cast<std::size_t>(n);
    if (errno != EINTR) return make_error(ErrorKind::failure, "read failed: {}", std::strerror(errno));
    if (util::interrupt_signal() != 0) return std::unexpected(interrupted_error());
  }
}

Expected<void> FdSink::write(Bytes data) {
  const auto* p = reinterpret_cast<const char*>(data.data());
  std::size_t size = data.size();
  while (size > 0) {
    ssize_t n = ::write(fd_, p, size);
    if (n < 0) {
      if (errno == EINTR) {
        if (util::interrupt_signal() != 0) return std::unexpected(interrupted_error());
        continue;
      }
      const int error = errno;
      const std::string what = name_.empty() ? std::string("write failed") : "cannot write " + name_;
      if (error == ENOSPC) return make_error(ErrorKind::failure, "{}: no space left on device", what);
      return make_error(ErrorKind::failure, "{}: {}", what, std::strerror(error));
    }
    p += n;
    size -= static_cast<std::size_t>(n);
  }
  return {};
}

Expected<std::string> read_all(Source& source, std::uint64_t limit) {
  std::string text;
  std::array<std::byte, 64 * 1024> buffer;
  for (;;) {
    auto n = source.read(buffer);
    if (!n) return std::unexpected(n.error());
    if (*n == 0) return text;
    text.append(reinterpret_cast<const char*>(buffer.data()), *n);
    if (text.size() > limit) return make_error(ErrorKind::corrupt, "more than the {} bytes expected at most", limit);
  }
}

Expected<std::uint64_t> pump(Source& source, Sink& sink) {
  auto buffer = std::make_unique<std::byte[]>(chunk_size);
  std::uint64_t total = 0;
  for (;;) {
    if (util::interrupt_signal() != 0) return std::unexpected(interrupted_error());
    auto n = source.read(MutableBytes(buffer.get(), chunk_size));
    if (!n) return std::unexpected(n.error());
    if (*n == 0) break;
    if (auto r = sink.write(Bytes(buffer.get(), *n)); !r) return std::unexpected(r.error());
    total += *n;
  }
  if (auto r = sink.finish(); !r) return std::unexpected(r.error());
  return total;
}

}  // namespace dbsnap::pipeline
