// dbsnap_chunk_stats: what content-defined chunking would store for a series
// of successive dumps (issue: Repository v2, chunk sizes tuned by
// measurement). Not a test; tests/bench/bench_dedup.sh runs it.
//
//   dbsnap_chunk_stats [--min N] [--normal N] [--max N] [--level L] FILE...
//
// Each FILE is cut with pipeline::ChunkingSink; a chunk whose SHA-256 was not
// seen in an earlier chunk (of any FILE) is "new" and is compressed alone
// with zstd at level L (default 3), as the repository will store it. One line
// per FILE: chunks, new chunks, new raw bytes, new stored bytes, total stored.

#include <fcntl.h>
#include <zstd.h>

#include <cstdio>
#include <cstdlib>
#include <set>
#include <string>
#include <vector>

#include <openssl/sha.h>

#include "dbsnap/pipeline/chunker.hpp"
#include "dbsnap/util/fs.hpp"

using namespace dbsnap;

int main(int argc, char** argv) {
  pipeline::ChunkerParams params;
  int level = 3;
  std::vector<std::string> files;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&] {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", arg.c_str());
        std::exit(2);
      }
      return std::strtoull(argv[++i], nullptr, 10);
    };
    if (arg == "--min") params.min_size = value();
    else if (arg == "--normal") params.normal_size = value();
    else if (arg == "--max") params.max_size = value();
    else if (arg == "--level") level = static_cast<int>(value());
    else files.push_back(arg);
  }
  if (auto r = pipeline::check_chunker_params(params); !r || files.empty()) {
    std::fprintf(stderr, "usage: dbsnap_chunk_stats [--min N] [--normal N] [--max N] [--level L] FILE...%s%s\n",
                 r ? "" : ": ", r ? "" : r.error().message.c_str());
    return 2;
  }
  std::set<std::string> seen;
  std::vector<char> compressed(ZSTD_compressBound(params.max_size));
  std::uint64_t total_stored = 0;
  std::printf("%-40s %8s %8s %14s %14s %14s\n", "file", "chunks", "new", "new_raw", "new_stored", "total_stored");
  for (const auto& file : files) {
    util::UniqueFd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd.valid()) {
      std::perror(file.c_str());
      return 1;
    }
    std::uint64_t chunks = 0, fresh = 0, fresh_raw = 0, fresh_stored = 0;
    pipeline::ChunkingSink sink(params, [&](pipeline::Bytes chunk) -> Expected<void> {
      ++chunks;
      unsigned char digest[SHA256_DIGEST_LENGTH];
      SHA256(reinterpret_cast<const unsigned char*>(chunk.data()), chunk.size(), digest);
      if (!seen.emplace(reinterpret_cast<const char*>(digest), sizeof digest).second) return {};
      ++fresh;
      fresh_raw += chunk.size();
      const std::size_t n = ZSTD_compress(compressed.data(), compressed.size(), chunk.data(), chunk.size(), level);
      if (ZSTD_isError(n)) return make_error(ErrorKind::failure, "zstd: {}", ZSTD_getErrorName(n));
      fresh_stored += n;
      return {};
    });
    pipeline::FdSource source(fd.get());
    if (auto r = pipeline::pump(source, sink); !r) {
      std::fprintf(stderr, "%s: %s\n", file.c_str(), r.error().message.c_str());
      return 1;
    }
    total_stored += fresh_stored;
    std::printf("%-40s %8llu %8llu %14llu %14llu %14llu\n", file.c_str(), static_cast<unsigned long long>(chunks),
                static_cast<unsigned long long>(fresh), static_cast<unsigned long long>(fresh_raw),
                static_cast<unsigned long long>(fresh_stored), static_cast<unsigned long long>(total_stored));
  }
  return 0;
}
