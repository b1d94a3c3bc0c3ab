// Converting a blob snapshot (manifest format 1) to the chunks layout
// (format 2) in place: same id, same metadata, same dump bytes.
//
// Order, each step ending at a point a kill can stop at:
//   1. the blob streams, checked against its manifest (stored size and
//      SHA-256, decoded size and SHA-256), into a SnapshotWriter: packs
//      committed and indexed as they fill (unreferenced until step 3);
//   2. under the store lock: the chunk list is committed, then read back
//      whole, every chunk checked against its SHA-256 and the dump against
//      the manifest's SHA-256;
//   3. the manifest is replaced by its format-2 form (the commit point);
//      the catalog row follows;
//   4. the blob is deleted.
// A kill before 3 leaves the blob snapshot as it was plus a chunk list its
// manifest does not name; after 3, a chunked snapshot plus a blob its
// manifest does not name. Store::open removes either leftover (under the
// store lock, which steps 2-4 hold), and garbage collection the packs.

#include <optional>

#include "dbsnap/pipeline/sha256.hpp"
#include "dbsnap/pipeline/zstd.hpp"
#include "dbsnap/store/store.hpp"

namespace dbsnap::store {

Expected<Manifest> Store::convert_to_chunks(const Manifest& snapshot) {
  if (auto r = check_writable(); !r) return std::unexpected(r.error());
  auto current = load_manifest(snapshot);
  if (!current) return std::unexpected(current.error());
  Manifest m = *current;
  if (m.layout == DataLayout::chunks) return m;  // done by an earlier run

  auto repository_lock = share_repository();
  if (!repository_lock) return std::unexpected(repository_lock.error());
  auto index = chunk_index();
  if (!index) return std::unexpected(index.error());
  auto chunks = repo::ChunkStore::create(*backend_, **index, repo::ChunkStoreOptions{.level = m.level});
  if (!chunks) return std::unexpected(chunks.error());
  const std::string list_file = m.id + ".chunks";
  const std::string list_object = m.target + "/" + list_file;
  auto writer = repo::SnapshotWriter::create(*backend_, *chunks, list_object);
  if (!writer) return std::unexpected(writer.error());

  // 1. The blob, checked, into chunks.
  auto blob = open_blob(m);
  if (!blob) return std::unexpected(blob.error());
  auto decompress = pipeline::DecompressingSink::create(**writer);
  if (!decompress) return std::unexpected(decompress.error());
  auto stored = pipeline::HashingSink::create(**decompress);
  if (!stored) return std::unexpected(stored.error());
  if (auto moved = pipeline::pump(**blob, *stored); !moved) return std::unexpected(moved.error());
  if (auto r = (*writer)->finish(); !r) return std::unexpected(r.error());
  const auto& written = (*writer)->written();
  if (stored->count() != m.stored_bytes || stored->digest() != m.stored_sha256 ||
      written.raw_bytes != m.raw_bytes || written.raw_sha256 != m.raw_sha256) {
    return make_error(ErrorKind::corrupt, "snapshot {}: its blob {} does not match its manifest; it was left as it "
                      "is ('dbsnap verify {}' says more)", m.id, blob_location(m), m.id);
  }

  // 2. The list, committed and read back whole, under the store lock (so no
  // open takes it for a leftover meanwhile).
  auto lock = util::FileLock::acquire(root_ / lock_name);
  if (!lock) return std::unexpected(lock.error());
  auto committed = (*writer)->commit();
  if (!committed) return std::unexpected(committed.error());
  Manifest converted = m;
  converted.layout = DataLayout::chunks;
  converted.blob_file.clear();
  converted.chunk_list = list_file;
  converted.chunks = committed->chunks;
  converted.stored_bytes = committed->new_stored_bytes;
  converted.stored_sha256 = committed->list_sha256;
  auto drop_list = [&] { (void)backend_->remove(list_object); };
  {
    auto source = open_chunks(converted);
    if (!source) {
      drop_list();
      return std::unexpected(source.error());
    }
    pipeline::NullSink null;
    auto raw = pipeline::HashingSink::create(null);
    if (!raw) return std::unexpected(raw.error());
    auto moved = pipeline::pump(**source, *raw);
    if (!moved || raw->count() != m.raw_bytes || raw->digest() != m.raw_sha256) {
      drop_list();
      if (!moved) return std::unexpected(moved.error());
      return make_error(ErrorKind::corrupt, "snapshot {}: its chunks did not read back as the dump; the blob was "
                        "kept", m.id);
    }
  }

  // 3. The commit point, then the index; 4. the blob.
  if (auto r = write_manifest(converted); !r) {
    drop_list();
    return std::unexpected(r.error());
  }
  if (auto r = catalog_.put(converted); !r) return std::unexpected(r.error());  // the next open re-indexes it
  if (auto r = backend_->remove(blob_object(m)); !r && r.error().kind != ErrorKind::not_found) {
    return std::unexpected(r.error());
  }
  return converted;
}

}  // namespace dbsnap::store
