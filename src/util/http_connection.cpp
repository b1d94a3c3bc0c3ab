#include "dbsnap/util/http_connection.hpp"

#include <netdb.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <cerrno>
#include <cstring>

#include <fmt/core.h>

namespace dbsnap::util {

Expected<HttpConnection> HttpConnection::open(const std::string& host, int port,
                                              const std::shared_ptr<TlsContext>& tls,
                                              std::chrono::milliseconds timeout, std::string_view what) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  const std::string service = std::to_string(port);
  if (int rc = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &found); rc != 0) {
    return make_error(ErrorKind::failure, "cannot resolve {} {}: {}", what, host, ::gai_strerror(rc));
  }
  std::string why = "no address";
  HttpConnection c;
  for (addrinfo* a = found; a != nullptr; a = a->ai_next) {
    int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    timeval tv{.tv_sec = static_cast<time_t>(timeout.count() / 1000),
               .tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000)};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);  // bounds connect(2) too, on Linux
    if (::connect(fd, a->ai_addr, a->ai_addrlen) == 0) {
      c.fd_ = fd;
      break;
    }
    why = std::strerror(errno);
    ::close(fd);
  }
  ::freeaddrinfo(found);
  if (c.fd_ < 0) return make_error(ErrorKind::failure, "cannot connect to {} {}:{}: {}", what, host, port, why);
  if (tls) {
    auto stream = TlsStream::connect(c.fd_, tls, host);
    if (!stream) return std::unexpected(stream.error());
    c.tls_.emplace(std::move(*stream));
  }
  return c;
}

}  // namespace dbsnap::util
