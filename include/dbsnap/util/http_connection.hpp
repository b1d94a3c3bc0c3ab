#pragma once

// One TCP connection for dbsnap's HTTP clients (the S3 backend, the hooks'
// pings): TLS on top for https (util/tls.hpp: the peer always verified),
// closed when dropped, and the Beast SyncReadStream/SyncWriteStream on it.
// SO_RCVTIMEO/SO_SNDTIMEO bound connect(2) and every read and write.

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include <unistd.h>

#include "dbsnap/util/error.hpp"
#include "dbsnap/util/fd_stream.hpp"
#include "dbsnap/util/sync_stream.hpp"
#include "dbsnap/util/tls.hpp"

namespace dbsnap::util {

class HttpConnection : public SyncStream<HttpConnection> {
 public:
  using SyncStream::read_some;
  using SyncStream::write_some;
  HttpConnection() = default;
  HttpConnection(const HttpConnection&) = delete;
  HttpConnection& operator=(const HttpConnection&) = delete;
  HttpConnection(HttpConnection&& other) noexcept : fd_(std::exchange(other.fd_, -1)), tls_(std::move(other.tls_)) {}
  HttpConnection& operator=(HttpConnection&& other) noexcept {
    if (this != &other) {
      tls_.reset();
      if (fd_ >= 0) ::close(fd_);
      fd_ = std::exchange(other.fd_, -1);
      tls_ = std::move(other.tls_);
    }
    return *this;
  }
  ~HttpConnection() {
    tls_.reset();
    if (fd_ >= 0) ::close(fd_);
  }

  // Connects to host:port (every address it resolves to, in turn), then
  // runs TLS with `tls` when it is set. `what` names the peer in messages
  // ("S3 endpoint"). Errors: `failure` (resolve, connect, handshake),
  // `config` for a certificate that is not trusted (TlsStream::connect).
  static Expected<HttpConnection> open(const std::string& host, int port, const std::shared_ptr<TlsContext>& tls,
                                       std::chrono::milliseconds timeout, std::string_view what);

  template <class MutableBufferSequence>
  std::size_t read_some(const MutableBufferSequence& buffers, boost::system::error_code& ec) {
    if (tls_) return tls_->read_some(buffers, ec);
    return FdStream(fd_).read_some(buffers, ec);
  }
  template <class ConstBufferSequence>
  std::size_t write_some(const ConstBufferSequence& buffers, boost::system::error_code& ec) {
    if (tls_) return tls_->write_some(buffers, ec);
    return FdStream(fd_).write_some(buffers, ec);
  }

 private:
  int fd_ = -1;
  std::optional<TlsStream> tls_;
};

}  // namespace dbsnap::util
