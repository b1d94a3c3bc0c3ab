#pragma once

// A repository in a temp folder (local backend, chunk index in memory) for
// the store/repo tests: write a dump as a snapshot, read one back.

#include "backend_conformance.hpp"
#include "dbsnap/store/local/local_backend.hpp"
#include "dbsnap/store/repo/chunk_list.hpp"

namespace dbsnap::test {

struct Repo {
  TempDir dir;
  store::local::LocalBackend backend{dir.path, store::BackendAccess::write};
  store::repo::ChunkIndex index = store::repo::ChunkIndex::in_memory().value();

  // Writes `data` (in writes of 99,991 bytes) as the chunk list `list`.
  Expected<store::repo::SnapshotWritten> write(const std::string& list, const std::string& data,
                                               std::uint64_t pack_size = 16 << 20) {
    auto chunks = store::repo::ChunkStore::create(backend, index, {.pack_size = pack_size});
    REQUIRE(chunks.has_value());
    auto writer = store::repo::SnapshotWriter::create(backend, *chunks, list);
    REQUIRE(writer.has_value());
    for (std::size_t i = 0; i < data.size(); i += 99'991) {
      if (auto r = (*writer)->write(as_bytes(data.substr(i, 99'991))); !r) return std::unexpected(r.error());
    }
    return (*writer)->commit();
  }
  // The dump `list` names, read through the index.
  std::string read(const std::string& list_name) const {
    auto list = store::repo::read_chunk_list(backend, index, list_name);
    REQUIRE(list.has_value());
    store::repo::ChunkReader reader(backend, index, list->ids);
    StringSink out;
    REQUIRE(pipeline::pump(reader, out).has_value());
    return out.text;
  }
};

}  // namespace dbsnap::test
