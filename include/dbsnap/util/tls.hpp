#pragma once

// TLS for dbsnap's own HTTP clients (the S3 backend): OpenSSL 3 on a socket
// that is already connected, as a Beast SyncReadStream/SyncWriteStream like
// util::FdStream. Peers are always verified: the certificate chain against
// the CA bundle (a file the user names, else OpenSSL's default paths, which
// honour SSL_CERT_FILE and SSL_CERT_DIR) and the certificate's name against
// the host connected to (a DNS name, or an IP address literal). TLS 1.2 at
// least. The socket's SO_RCVTIMEO/SO_SNDTIMEO bound every read and write, as
// for plain sockets.

#include <cstddef>
#include <memory>
#include <string>

#include <boost/asio/buffer.hpp>
#include <boost/system/system_error.hpp>

#include "dbsnap/util/error.hpp"
#include "dbsnap/util/sync_stream.hpp"

struct ssl_ctx_st;
struct ssl_st;

namespace dbsnap::util {

class TlsContext {
 public:
  // A client context trusting `ca_file` (PEM; empty: the system's CAs).
  // Errors: `config` naming a CA file that does not load.
  static Expected<std::shared_ptr<TlsContext>> client(const std::string& ca_file);
  ~TlsContext();
  ssl_ctx_st* get() const { return ctx_; }

 private:
  explicit TlsContext(ssl_ctx_st* ctx) : ctx_(ctx) {}
  ssl_ctx_st* ctx_;
};

class TlsStream : public SyncStream<TlsStream> {
 public:
  using SyncStream::read_some;
  using SyncStream::write_some;
  // Runs the handshake on connected socket `fd` (which the caller keeps
  // owning) and verifies the peer for `host`. Errors: `config` when the
  // peer's certificate is not trusted (the verification's own reason; trying
  // again would not help), `failure` for anything else.
  static Expected<TlsStream> connect(int fd, std::shared_ptr<TlsContext> context, const std::string& host);

  TlsStream(TlsStream&&) noexcept;
  TlsStream& operator=(TlsStream&&) noexcept;
  ~TlsStream();

  template <class MutableBufferSequence>
  std::size_t read_some(const MutableBufferSequence& buffers, boost::system::error_code& ec) {
    for (auto it = boost::asio::buffer_sequence_begin(buffers); it != boost::asio::buffer_sequence_end(buffers); ++it) {
      boost::asio::mutable_buffer b = *it;
      if (b.size() > 0) return read(b.data(), b.size(), ec);
    }
    ec = {};
    return 0;
  }
  template <class ConstBufferSequence>
  std::size_t write_some(const ConstBufferSequence& buffers, boost::system::error_code& ec) {
    for (auto it = boost::asio::buffer_sequence_begin(buffers); it != boost::asio::buffer_sequence_end(buffers); ++it) {
      boost::asio::const_buffer b = *it;
      if (b.size() > 0) return write(b.data(), b.size(), ec);
    }
    ec = {};
    return 0;
  }

 private:
  TlsStream(std::shared_ptr<TlsContext> context, ssl_st* ssl) : context_(std::move(context)), ssl_(ssl) {}
  std::size_t read(void* data, std::size_t size, boost::system::error_code& ec);
  std::size_t write(const void* data, std::size_t size, boost::system::error_code& ec);
  std::shared_ptr<TlsContext> context_;
  ssl_st* ssl_ = nullptr;
};

}  // namespace dbsnap::util
