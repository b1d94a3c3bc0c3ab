#include <zstd.h>

#include "dbsnap/pipeline/zstd.hpp"
#include "helpers.hpp"

using namespace dbsnap;
using dbsnap::test::as_bytes;

namespace {

std::string compress(const std::string& data, pipeline::ZstdOptions options, std::size_t step) {
  test::StringSink out;
  auto sink = pipeline::CompressingSink::create(out, options);
  REQUIRE(sink);
  test::StringSource source(data, step);
  auto moved = pipeline::pump(source, **sink);
  REQUIRE(moved);
  CHECK(*moved == data.size());
  return out.text;
}

Expected<std::string> decompress(const std::string& data, std::size_t step) {
  test::StringSink out;
  auto sink = pipeline::DecompressingSink::create(out);
  REQUIRE(sink);
  test::StringSource source(data, step);
  auto moved = pipeline::pump(source, **sink);
  if (!moved) return std::unexpected(moved.error());
  return out.text;
}

}  // namespace

TEST_CASE("zstd round trips across buffer boundaries") {
  const std::size_t in_size = ZSTD_CStreamInSize();
  const std::size_t out_size = ZSTD_DStreamOutSize();
  for (std::size_t size : {std::size_t{1}, std::size_t{1000}, in_size - 1, in_size, in_size + 1, out_size * 3 + 7,
                           pipeline::chunk_size + 1, std::size_t{5} << 20}) {
    for (std::size_t step : {std::size_t{1} << 20, std::size_t{4093}}) {
      CAPTURE(size);
      CAPTURE(step);
      const std::string data = test::make_data(size, static_cast<unsigned>(size));
      const std::string packed = compress(data, {.level = 3, .workers = 0}, step);
      auto unpacked = decompress(packed, step);
      REQUIRE(unpacked);
      CHECK(*unpacked == data);
    }
  }
}

TEST_CASE("zstd with worker threads produces one frame that plain zstd decodes") {
  const std::string data = test::make_data(12 << 20);
  const std::string packed = compress(data, {.level = 3, .workers = 2}, pipeline::chunk_size);
  std::string plain(data.size(), '\0');
  std::size_t n = ZSTD_decompress(plain.data(), plain.size(), packed.data(), packed.size());
  REQUIRE_FALSE(ZSTD_isError(n));
  CHECK(n == data.size());
  CHECK(plain == data);
}

TEST_CASE("a truncated zstd stream is an error, not a short success") {
  const std::string packed = compress(test::make_data(300'000), {}, 1 << 20);
  for (std::size_t cut : {packed.size() - 1, packed.size() / 2, std::size_t{5}}) {
    CAPTURE(cut);
    auto result = decompress(packed.substr(0, cut), 1 << 20);
    REQUIRE_FALSE(result);
    CHECK(result.error().kind == ErrorKind::corrupt);
  }
}

TEST_CASE("corrupt zstd data is detected") {
  std::string packed = compress(test::make_data(300'000), {}, 1 << 20);
  packed[packed.size() / 2] ^= 0x5a;
  auto result = decompress(packed, 1 << 20);
  REQUIRE_FALSE(result);
  CHECK(result.error().kind == ErrorKind::corrupt);
}

TEST_CASE("empty input is not a valid snapshot blob") {
  auto result = decompress("", 1 << 20);
  REQUIRE_FALSE(result);
  CHECK(result.error().message.find("empty") != std::string::npos);
}
