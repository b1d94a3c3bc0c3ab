#include "dbsnap/store/repo/chunk_store.hpp"

#include <algorithm>
#include <cstring>

#include <fmt/core.h>

namespace dbsnap::store::repo {

Expected<ChunkStore> ChunkStore::create(Backend& backend, ChunkIndex& index, ChunkStoreOptions options) {
  auto compressor = pipeline::FrameCompressor::create(options.level);
  if (!compressor) return std::unexpected(compressor.error());
  return ChunkStore(backend, index, options, std::move(*compressor));
}

Expected<ChunkId> ChunkStore::put(pipeline::Bytes raw) {
  if (raw.size() > UINT32_MAX) return make_error(ErrorKind::failure, "a chunk of {} bytes", raw.size());
  auto id = ChunkId::of(raw, backend_->chunk_key());
  if (!id) return std::unexpected(id.error());
  ++stats_.chunks;
  stats_.raw_bytes += raw.size();
  if (in_pack_.contains(*id) || in_committing_.contains(*id)) return *id;
  auto known = index_->find(*id);
  if (!known) return std::unexpected(known.error());
  if (*known) return *id;

  auto frame = compressor_.compress(raw);
  if (!frame) return std::unexpected(frame.error());
  if (!pack_) {
    auto pack = PackWriter::create(*backend_, new_pack_name());
    if (!pack) return std::unexpected(pack.error());
    pack_ = std::make_unique<PackWriter>(std::move(*pack));
  }
  if (auto r = pack_->add(*id, *frame, static_cast<std::uint32_t>(raw.size())); !r) {
    pack_.reset();
    in_pack_.clear();
    return std::unexpected(r.error());
  }
  in_pack_.insert(*id);
  ++stats_.new_chunks;
  stats_.new_raw_bytes += raw.size();
  stats_.stored_bytes += frame->size();
  if (pack_->size() >= options_.pack_size) {
    if (auto r = commit_in_background(); !r) return std::unexpected(r.error());
  }
  return *id;
}

Expected<bool> ChunkStore::holds(const ChunkId& id) const {
  if (in_pack_.contains(id) || in_committing_.contains(id)) return true;
  auto known = index_->find(id);
  if (!known) return std::unexpected(known.error());
  return known->has_value();
}

Expected<void> ChunkStore::settle() {
  if (!committing_) return {};
  auto pack = std::move(committing_);
  in_committing_.clear();
  // The commit point of these chunks: the pack object. Indexing follows; a
  // kill in between leaves a committed pack the index does not know yet.
  auto entries = commit_.get();
  if (!entries) return std::unexpected(entries.error());
  if (auto r = index_->add_pack(pack->name(), pack->size(), *entries); !r) return r;
  ++stats_.packs;
  return {};
}

Expected<void> ChunkStore::commit_in_background() {
  if (auto r = settle(); !r) {
    pack_.reset();
    in_pack_.clear();
    return r;
  }
  if (!pack_) return {};
  committing_ = std::move(pack_);
  in_committing_ = std::move(in_pack_);
  in_pack_.clear();
  // std::async's thread inherits this one's signal mask (a backup's chunks
  // are put on a worker that blocks SIGINT and SIGTERM).
  commit_ = std::async(std::launch::async, [pack = committing_.get()] { return pack->commit(); });
  return {};
}

Expected<void> ChunkStore::flush() {
  if (auto r = commit_in_background(); !r) return r;
  return settle();
}

Expected<void> ChunkReader::read_frame(const ChunkLocation& where) {
  if (!pack_ || pack_name_ != where.pack || pack_offset_ != where.entry.offset) {
    pack_.reset();
    auto source = backend_.open(where.pack, where.entry.offset);
    if (!source) {
      return std::unexpected(Error{source.error().kind, fmt::format("chunk {}: {}", where.entry.id.hex().substr(0, 16),
                                                                    source.error().message)});
    }
    pack_ = std::move(*source);
    pack_name_ = where.pack;
    pack_offset_ = where.entry.offset;
  }
  frame_.resize(where.entry.stored_size);
  for (std::size_t got = 0; got < frame_.size();) {
    auto n = pack_->read(pipeline::MutableBytes(frame_).subspan(got));
    if (!n) {
      pack_.reset();
      return std::unexpected(n.error());
    }
    if (*n == 0) {
      pack_.reset();
      return make_error(ErrorKind::corrupt, "chunk {} in pack {}: the pack ends early",
                        where.entry.id.hex().substr(0, 16), backend_.locate(where.pack));
    }
    got += *n;
  }
  pack_offset_ += where.entry.stored_size;
  return {};
}

Expected<bool> ChunkReader::load_next() {
  if (next_ == chunks_.size()) return false;
  const ChunkId& id = chunks_[next_];
  auto where = index_.find(id);
  if (!where) return std::unexpected(where.error());
  if (!*where) {
    return make_error(ErrorKind::corrupt, "chunk {} (number {} of {}) is in no pack of the repository",
                      id.hex().substr(0, 16), next_ + 1, chunks_.size());
  }
  if (auto r = read_frame(**where); !r) return std::unexpected(r.error());
  if (auto r = decode_chunk(backend_, (*where)->pack, (*where)->entry, frame_, current_); !r) {
    return std::unexpected(r.error());
  }
  pos_ = 0;
  ++next_;
  return true;
}

Expected<std::optional<pipeline::Bytes>> ChunkReader::next_chunk() {
  auto more = load_next();
  if (!more) return std::unexpected(more.error());
  if (!*more) return std::nullopt;
  pos_ = current_.size();
  return pipeline::Bytes(current_);
}

Expected<std::size_t> ChunkReader::read(pipeline::MutableBytes buffer) {
  while (pos_ == current_.size()) {
    auto more = load_next();
    if (!more) return std::unexpected(more.error());
    if (!*more) return std::size_t{0};
  }
  const std::size_t n = std::min(buffer.size(), current_.size() - pos_);
  std::memcpy(buffer.data(), current_.data() + pos_, n);
  pos_ += n;
  return n;
}

}  // namespace dbsnap::store::repo
