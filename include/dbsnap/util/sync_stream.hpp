#pragma once

// The throwing halves of Beast's SyncReadStream/SyncWriteStream, for a
// stream class that writes only the error_code ones (FdStream, TlsStream,
// the S3 client's connection): derive from SyncStream<Derived> and add
// `using SyncStream::read_some; using SyncStream::write_some;`.

#include <cstddef>

#include <boost/system/system_error.hpp>

namespace dbsnap::util {

template <class Derived>
class SyncStream {
 public:
  template <class MutableBufferSequence>
  std::size_t read_some(const MutableBufferSequence& buffers) {
    boost::system::error_code ec;
    auto n = static_cast<Derived*>(this)->read_some(buffers, ec);
    if (ec) throw boost::system::system_error(ec);
    return n;
  }
  template <class ConstBufferSequence>
  std::size_t write_some(const ConstBufferSequence& buffers) {
    boost::system::error_code ec;
    auto n = static_cast<Derived*>(this)->write_some(buffers, ec);
    if (ec) throw boost::system::system_error(ec);
    return n;
  }
};

}  // namespace dbsnap::util
