#include "dbsnap/util/tls.hpp"

#include <arpa/inet.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include <boost/asio/error.hpp>
#include <fmt/format.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "dbsnap/util/interrupt.hpp"

namespace dbsnap::util {

namespace {

std::string openssl_errors() {
  std::string text;
  while (unsigned long code = ::ERR_get_error()) {
    char buffer[256];
    ::ERR_error_string_n(code, buffer, sizeof buffer);
    if (!text.empty()) text += "; ";
    text += buffer;
  }
  return text.empty() ? std::string("no reason given") : text;
}

bool is_ip_literal(const std::string& host) {
  unsigned char out[16];
  return ::inet_pton(AF_INET, host.c_str(), out) == 1 || ::inet_pton(AF_INET6, host.c_str(), out) == 1;
}

}  // namespace

Expected<std::shared_ptr<TlsContext>> TlsContext::client(const std::string& ca_file) {
  SSL_CTX* ctx = ::SSL_CTX_new(::TLS_client_method());
  if (ctx == nullptr) return make_error(ErrorKind::failure, "cannot set up TLS: {}", openssl_errors());
  std::shared_ptr<TlsContext> context(new TlsContext(ctx));
  ::SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  ::SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  const int loaded = ca_file.empty() ? ::SSL_CTX_set_default_verify_paths(ctx)
                                     : ::SSL_CTX_load_verify_locations(ctx, ca_file.c_str(), nullptr);
  if (loaded != 1) {
    return make_error(ErrorKind::config, "cannot load the CA certificates {}: {}",
                      ca_file.empty() ? std::string("of this system") : ca_file, openssl_errors());
  }
  return context;
}

TlsContext::~TlsContext() { ::SSL_CTX_free(ctx_); }

Expected<TlsStream> TlsStream::connect(int fd, std::shared_ptr<TlsContext> context, const std::string& host) {
  ::ERR_clear_error();
  SSL* ssl = ::SSL_new(context->get());
  if (ssl == nullptr) return make_error(ErrorKind::failure, "cannot set up TLS: {}", openssl_errors());
  TlsStream stream(std::move(context), ssl);
  if (is_ip_literal(host)) {
    ::X509_VERIFY_PARAM_set1_ip_asc(::SSL_get0_param(ssl), host.c_str());
  } else {
    ::SSL_set_tlsext_host_name(ssl, host.c_str());
    ::SSL_set1_host(ssl, host.c_str());
  }
  ::SSL_set_fd(ssl, fd);
  for (;;) {
    const int rc = ::SSL_connect(ssl);
    if (rc == 1) break;
    const int error = ::SSL_get_error(ssl, rc);
    if (error == SSL_ERROR_SYSCALL && errno == EINTR && interrupt_signal() == 0) continue;
    const long verified = ::SSL_get_verify_result(ssl);
    if (verified != X509_V_OK) {
      return make_error(ErrorKind::config, "TLS: the certificate of {} is not trusted: {} (AWS_CA_BUNDLE names a "
                        "CA file to trust)", host, ::X509_verify_cert_error_string(verified));
    }
    if (error == SSL_ERROR_SYSCALL) {
      return make_error(ErrorKind::failure, "TLS handshake with {}: {}", host,
                        errno != 0 ? std::strerror(errno) : "the connection was closed");
    }
    return make_error(ErrorKind::failure, "TLS handshake with {}: {}", host, openssl_errors());
  }
  return stream;
}

TlsStream::TlsStream(TlsStream&& other) noexcept
    : context_(std::move(other.context_)), ssl_(std::exchange(other.ssl_, nullptr)) {}

TlsStream& TlsStream::operator=(TlsStream&& other) noexcept {
  if (this != &other) {
    if (ssl_ != nullptr) ::SSL_free(ssl_);
    ssl_ = std::exchange(other.ssl_, nullptr);
    context_ = std::move(other.context_);
  }
  return *this;
}

TlsStream::~TlsStream() {
  if (ssl_ != nullptr) ::SSL_free(ssl_);  // no close_notify: every request has its own connection
}

namespace {

// The error_code of a failed SSL_read/SSL_write; eof for a peer that closed.
boost::system::error_code failed(SSL* ssl, int rc) {
  const int error = ::SSL_get_error(ssl, rc);
  if (error == SSL_ERROR_ZERO_RETURN) return boost::asio::error::eof;
  if (error == SSL_ERROR_SYSCALL) {
    if (errno != 0) return {errno, boost::system::system_category()};
    return boost::asio::error::eof;
  }
  if (error == SSL_ERROR_SSL && ERR_GET_REASON(::ERR_peek_last_error()) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
    ::ERR_clear_error();
    return boost::asio::error::eof;
  }
  ::ERR_clear_error();
  return boost::asio::error::connection_reset;
}

}  // namespace

std::size_t TlsStream::read(void* data, std::size_t size, boost::system::error_code& ec) {
  for (;;) {
    ec = {};
    errno = 0;
    std::size_t got = 0;
    const int rc = ::SSL_read_ex(ssl_, data, size, &got);
    if (rc == 1) return got;
    if (errno == EINTR && interrupt_signal() == 0) continue;
    ec = failed(ssl_, rc);
    return 0;
  }
}

std::size_t TlsStream::write(const void* data, std::size_t size, boost::system::error_code& ec) {
  for (;;) {
    ec = {};
    errno = 0;
    std::size_t put = 0;
    const int rc = ::SSL_write_ex(ssl_, data, size, &put);
    if (rc == 1) return put;
    if (errno == EINTR && interrupt_signal() == 0) continue;
    ec = failed(ssl_, rc);
    return 0;
  }
}

}  // namespace dbsnap::util
