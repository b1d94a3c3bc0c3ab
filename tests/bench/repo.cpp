// dbsnap_repo: drives the repository v2 layer (store/repo/) on real files,
// for benchmarks before `backup` writes it. Not a test; bench_repo.sh runs it.
//
//   dbsnap_repo put REPO FILE IDS   cut FILE into chunks, store the new ones in
//                                   REPO (packs under REPO/data/, REPO/index.db),
//                                   write the chunk list to IDS (hex, one per line)
//   dbsnap_repo cat REPO IDS        stream the chunks listed in IDS to stdout
//
// `put` prints: chunks, new chunks, new raw bytes, new stored bytes, packs.

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "dbsnap/pipeline/chunker.hpp"
#include "dbsnap/store/local/local_backend.hpp"
#include "dbsnap/store/repo/chunk_store.hpp"
#include "dbsnap/util/fs.hpp"

#include <fcntl.h>
#include <unistd.h>

using namespace dbsnap;

namespace {

int fail(const std::string& what, const Error& e) {
  std::fprintf(stderr, "dbsnap_repo: %s: %s\n", what.c_str(), e.message.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string> args(argv + 1, argv + argc);
  if (args.size() < 3 || (args[0] == "put" && args.size() != 4) || (args[0] == "cat" && args.size() != 3) ||
      (args[0] != "put" && args[0] != "cat")) {
    std::fprintf(stderr, "usage: dbsnap_repo put REPO FILE IDS | dbsnap_repo cat REPO IDS\n");
    return 2;
  }
  const std::filesystem::path repo = args[1];
  std::filesystem::create_directories(repo);
  store::local::LocalBackend backend(repo, store::BackendAccess::write);
  auto index = store::repo::ChunkIndex::open(repo / "index.db");
  if (!index) return fail("index", index.error());

  if (args[0] == "put") {
    auto chunks = store::repo::ChunkStore::create(backend, *index);
    if (!chunks) return fail("store", chunks.error());
    std::ofstream ids(args[3]);
    pipeline::ChunkingSink sink(pipeline::ChunkerParams{}, [&](pipeline::Bytes chunk) -> Expected<void> {
      auto id = chunks->put(chunk);
      if (!id) return std::unexpected(id.error());
      ids << id->hex() << '\n';
      return {};
    });
    util::UniqueFd fd(::open(args[2].c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd.valid()) {
      std::perror(args[2].c_str());
      return 1;
    }
    pipeline::FdSource source(fd.get());
    if (auto r = pipeline::pump(source, sink); !r) return fail(args[2], r.error());
    if (auto r = chunks->flush(); !r) return fail("flush", r.error());
    const auto& s = chunks->stats();
    std::printf("%llu %llu %llu %llu %llu\n", static_cast<unsigned long long>(s.chunks),
                static_cast<unsigned long long>(s.new_chunks), static_cast<unsigned long long>(s.new_raw_bytes),
                static_cast<unsigned long long>(s.stored_bytes), static_cast<unsigned long long>(s.packs));
    return 0;
  }

  std::vector<store::repo::ChunkId> list;
  std::ifstream in(args[2]);
  for (std::string line; std::getline(in, line);) {
    auto id = store::repo::ChunkId::from_hex(line);
    if (!id) return fail(args[2], id.error());
    list.push_back(*id);
  }
  store::repo::ChunkReader reader(backend, *index, std::move(list));
  pipeline::FdSink out(STDOUT_FILENO, "stdout");
  if (auto r = pipeline::pump(reader, out); !r) return fail("cat", r.error());
  return 0;
}
