// dbsnap_repo: drives the repository v2 layer (store/repo/) on real files,
// for benchmarks before `backup` writes it. Not a test; bench_repo.sh runs it.
//
//   dbsnap_repo put REPO FILE LIST  cut FILE into chunks, store the new ones in
//                                   REPO (packs under REPO/data/, REPO/index.db) and
//                                   write the chunk list object LIST (e.g. lists/a.chunks)
//   dbsnap_repo cat REPO LIST       stream the dump LIST names to stdout
//
// `put` prints: chunks, new chunks, new raw bytes, new stored bytes, packs.

#include <cstdio>
#include <string>
#include <vector>

#include "dbsnap/pipeline/chunker.hpp"
#include "dbsnap/store/local/local_backend.hpp"
#include "dbsnap/store/repo/chunk_list.hpp"
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
    std::fprintf(stderr, "usage: dbsnap_repo put REPO FILE LIST | dbsnap_repo cat REPO LIST\n");
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
    auto sink = store::repo::SnapshotWriter::create(backend, *chunks, args[3]);
    if (!sink) return fail(args[3], sink.error());
    util::UniqueFd fd(::open(args[2].c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd.valid()) {
      std::perror(args[2].c_str());
      return 1;
    }
    pipeline::FdSource source(fd.get());
    if (auto r = pipeline::pump(source, **sink); !r) return fail(args[2], r.error());
    if (auto r = (*sink)->commit(); !r) return fail(args[3], r.error());
    const auto& s = chunks->stats();
    std::printf("%llu %llu %llu %llu %llu\n", static_cast<unsigned long long>(s.chunks),
                static_cast<unsigned long long>(s.new_chunks), static_cast<unsigned long long>(s.new_raw_bytes),
                static_cast<unsigned long long>(s.stored_bytes), static_cast<unsigned long long>(s.packs));
    return 0;
  }

  auto list = store::repo::read_chunk_list(backend, *index, args[2]);
  if (!list) return fail(args[2], list.error());
  store::repo::ChunkReader reader(backend, *index, std::move(list->ids));
  pipeline::FdSink out(STDOUT_FILENO, "stdout");
  if (auto r = pipeline::pump(reader, out); !r) return fail("cat", r.error());
  return 0;
}
