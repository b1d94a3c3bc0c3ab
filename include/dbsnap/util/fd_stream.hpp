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
#include "dbsnap/util/sync_stream.hpp"

namespace dbsnap::util {

class FdStream : public SyncStream<FdStream> {
 public:
  explicit FdStream(int fd) : fd_(fd) {}
  using SyncStream::read_some;
  using SyncStream::write_some;

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

 private:
  int fd_;
};

}  // namespace dbsnap::util
