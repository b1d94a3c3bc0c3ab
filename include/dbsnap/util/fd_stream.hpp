#pragma once

// A connected socket as Beast's SyncReadStream/SyncWriteStream: plain
// blocking read(2)/send(2) on a descriptor the caller owns, retried on EINTR
// unless dbsnap was told to stop. Used for the docker socket (runtime/) and
// for S3 endpoints (store/s3/); a socket given SO_RCVTIMEO/SO_SNDTIMEO turns
// a silent peer into an error (EAGAIN) instead of a hang.

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <boost/system/system_error.hpp>

#include "dbsnap/util/interrupt.hpp"

namespace dbsnap::util {

class FdStream {
 public:
  explicit FdStream(int fd) : fd_(fd) {}

  template <class MutableBufferSequence>
  std::size_t read_some(const MutableBufferSequence& buffers, boost::system::error_code& ec) {
    ec = {};
    for (auto it = boost::asio::buffer_sequence_begin(buffers); it != boost::asio::buffer_sequence_end(buffers);
         ++it) {
      boost::asio::mutable_buffer b = *it;
      if (b.size() == 0) continue;
      for (;;) {
        ssize_t n = ::read(fd_, b.data(), b.size());
        if (n > 0) return static_cast<std::size_t>(n);
        if (n == 0) {
          ec = boost::asio::error::eof;
          return 0;
        }
        if (errno == EINTR && util::interrupt_signal() == 0) continue;
        ec = boost::system::error_code(errno, boost::system::system_category());
        return 0;
      }
    }
    return 0;
  }
  template <class MutableBufferSequence>
  std::size_t read_some(const MutableBufferSequence& buffers) {
    boost::system::error_code ec;
    auto n = read_some(buffers, ec);
    if (ec) throw boost::system::system_error(ec);
    return n;
  }

  template <class ConstBufferSequence>
  std::size_t write_some(const ConstBufferSequence& buffers, boost::system::error_code& ec) {
    ec = {};
    for (auto it = boost::asio::buffer_sequence_begin(buffers); it != boost::asio::buffer_sequence_end(buffers);
         ++it) {
      boost::asio::const_buffer b = *it;
      if (b.size() == 0) continue;
      for (;;) {
        ssize_t n = ::send(fd_, b.data(), b.size(), MSG_NOSIGNAL);
        if (n >= 0) return static_cast<std::size_t>(n);
        if (errno == EINTR && util::interrupt_signal() == 0) continue;
        ec = boost::system::error_code(errno, boost::system::system_category());
        return 0;
      }
    }
    return 0;
  }
  template <class ConstBufferSequence>
  std::size_t write_some(const ConstBufferSequence& buffers) {
    boost::system::error_code ec;
    auto n = write_some(buffers, ec);
    if (ec) throw boost::system::system_error(ec);
    return n;
  }

 private:
  int fd_;
};

}  // namespace dbsnap::util
