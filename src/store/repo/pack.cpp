#include "dbsnap/store/repo/pack.hpp"

#include <algorithm>

#include <cstring>

#include <fmt/core.h>

#include "dbsnap/pipeline/sha256.hpp"
#include "dbsnap/pipeline/zstd.hpp"
#include "dbsnap/util/text.hpp"

namespace dbsnap::store::repo {

namespace {

constexpr std::uint32_t skippable_magic = 0x184D2A5D;
constexpr std::string_view trailer_magic = "DBSNAPPK";
constexpr std::size_t skippable_header_size = 8;
// A pack holds at most this many chunks (a 4 GiB pack of 16 KiB chunks); a
// bigger count in a trailer is damage, not a reason to allocate.
constexpr std::uint32_t max_pack_entries = 1u << 18;

void put_u32(std::string& out, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

std::uint32_t get_u32(std::string_view in, std::size_t at) {
  std::uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<std::uint8_t>(in[at + static_cast<std::size_t>(i)]);
  return v;
}

Error corrupt(std::string message) { return Error{ErrorKind::corrupt, std::move(message)}; }

// Fills `out` with the object's bytes from `offset` on (one ranged read).
Expected<void> read_range(const Backend& backend, std::string_view name, std::uint64_t offset,
                          pipeline::MutableBytes out) {
  auto source = backend.open(name, offset, out.size());
  if (!source) return std::unexpected(source.error());
  for (std::size_t got = 0; got < out.size();) {
    auto n = (*source)->read(out.subspan(got));
    if (!n) return std::unexpected(n.error());
    if (*n == 0) return std::unexpected(corrupt("ends early"));
    got += *n;
  }
  return {};
}

}  // namespace

std::string ChunkId::hex() const {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out(64, '0');
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    out[2 * i] = digits[bytes[i] >> 4];
    out[2 * i + 1] = digits[bytes[i] & 0xf];
  }
  return out;
}

Expected<ChunkId> ChunkId::from_hex(std::string_view hex) {
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  ChunkId id;
  if (hex.size() != 64) return std::unexpected(corrupt(fmt::format("'{}' is not a SHA-256 in hex", hex.substr(0, 80))));
  for (std::size_t i = 0; i < 32; ++i) {
    const int hi = nibble(hex[2 * i]);
    const int lo = nibble(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return std::unexpected(corrupt(fmt::format("'{}' is not a SHA-256 in hex", hex)));
    id.bytes[i] = static_cast<std::uint8_t>((hi << 4) | lo);
  }
  return id;
}

Expected<ChunkId> ChunkId::of(pipeline::Bytes data, std::string_view key) {
  auto hex = key.empty() ? pipeline::sha256_hex(data) : pipeline::hmac_sha256_hex(key, data);
  if (!hex) return std::unexpected(hex.error());
  return from_hex(*hex);
}

Expected<PackWriter> PackWriter::create(Backend& backend, std::string name) {
  auto writer = backend.create(name, IfExists::fail);
  if (!writer) return std::unexpected(writer.error());
  return PackWriter(std::move(name), std::move(*writer));
}

Expected<void> PackWriter::add(const ChunkId& id, pipeline::Bytes frame, std::uint32_t raw_size) {
  if (frame.size() > UINT32_MAX) return make_error(ErrorKind::failure, "a chunk frame of {} bytes", frame.size());
  if (entries_.size() >= max_pack_entries) return make_error(ErrorKind::failure, "pack {} is full", name_);
  if (auto r = writer_->write(frame); !r) return r;
  entries_.push_back(PackEntry{id, size_, static_cast<std::uint32_t>(frame.size()), raw_size});
  size_ += frame.size();
  return {};
}

Expected<std::vector<PackEntry>> PackWriter::commit() {
  const std::string index = encode_pack_index(entries_);
  if (auto r = writer_->write(pipeline::Bytes(reinterpret_cast<const std::byte*>(index.data()), index.size())); !r) {
    return std::unexpected(r.error());
  }
  if (auto r = writer_->finish(); !r) return std::unexpected(r.error());
  if (auto r = writer_->commit(); !r) return std::unexpected(r.error());
  writer_.reset();
  size_ += index.size();
  return entries_;
}

std::string encode_pack_index(const std::vector<PackEntry>& entries) {
  std::string out;
  out.reserve(skippable_header_size + entries.size() * pack_entry_size + pack_trailer_size);
  put_u32(out, skippable_magic);
  put_u32(out, static_cast<std::uint32_t>(entries.size() * pack_entry_size + pack_trailer_size));
  for (const auto& e : entries) {
    out.append(reinterpret_cast<const char*>(e.id.bytes.data()), e.id.bytes.size());
    put_u32(out, e.stored_size);
    put_u32(out, e.raw_size);
  }
  put_u32(out, static_cast<std::uint32_t>(entries.size()));
  out.push_back(static_cast<char>(pack_format_version));
  out.append(3, '\0');
  out.append(trailer_magic);
  return out;
}

Expected<std::vector<PackEntry>> decode_pack_index(std::string_view tail, std::uint64_t pack_size) {
  if (tail.size() < pack_trailer_size || tail.size() > pack_size) return std::unexpected(corrupt("too short to be a pack"));
  const std::string_view trailer = tail.substr(tail.size() - pack_trailer_size);
  if (trailer.substr(8) != trailer_magic) return std::unexpected(corrupt("no pack trailer at its end"));
  if (static_cast<std::uint8_t>(trailer[4]) != pack_format_version) {
    return std::unexpected(corrupt(fmt::format("pack format version {} (this dbsnap reads {})",
                                               static_cast<int>(static_cast<std::uint8_t>(trailer[4])),
                                               pack_format_version)));
  }
  const std::uint32_t count = get_u32(trailer, 0);
  if (count > max_pack_entries) return std::unexpected(corrupt(fmt::format("a pack index of {} entries", count)));
  const std::uint64_t index_size = skippable_header_size + std::uint64_t{count} * pack_entry_size + pack_trailer_size;
  if (index_size > tail.size()) return std::unexpected(corrupt("its index reaches past the bytes read"));
  const std::string_view index = tail.substr(tail.size() - index_size);
  if (get_u32(index, 0) != skippable_magic || get_u32(index, 4) != index_size - skippable_header_size) {
    return std::unexpected(corrupt("its index frame header does not match its trailer"));
  }
  std::vector<PackEntry> entries(count);
  std::uint64_t offset = 0;
  for (std::uint32_t i = 0; i < count; ++i) {
    const std::size_t at = skippable_header_size + std::size_t{i} * pack_entry_size;
    std::memcpy(entries[i].id.bytes.data(), index.data() + at, 32);
    entries[i].offset = offset;
    entries[i].stored_size = get_u32(index, at + 32);
    entries[i].raw_size = get_u32(index, at + 36);
    offset += entries[i].stored_size;
  }
  if (offset + index_size != pack_size) {
    return std::unexpected(corrupt(fmt::format("its index accounts for {} bytes of {}", offset + index_size, pack_size)));
  }
  return entries;
}

Expected<std::vector<PackEntry>> read_pack_index(const Backend& backend, std::string_view name) {
  auto named = [&](const Error& e) {
    return std::unexpected(Error{e.kind, fmt::format("pack {}: {}", backend.locate(name), e.message)});
  };
  auto info = backend.stat(name);
  if (!info) return std::unexpected(info.error());
  if (info->size < pack_trailer_size + skippable_header_size) return named(corrupt("too short to be a pack"));
  std::string tail(pack_trailer_size, '\0');
  if (auto r = read_range(backend, name, info->size - pack_trailer_size, pipeline::mutable_bytes_of(tail)); !r) {
    return named(r.error());
  }
  if (tail.substr(8) != trailer_magic) return named(corrupt("no pack trailer at its end"));
  const std::uint32_t count = get_u32(tail, 0);
  if (count > max_pack_entries) return named(corrupt(fmt::format("a pack index of {} entries", count)));
  const std::uint64_t index_size = skippable_header_size + std::uint64_t{count} * pack_entry_size + pack_trailer_size;
  if (index_size > info->size) return named(corrupt("its index is larger than the pack"));
  std::string index(index_size, '\0');
  if (auto r = read_range(backend, name, info->size - index_size, pipeline::mutable_bytes_of(index)); !r) {
    return named(r.error());
  }
  auto entries = decode_pack_index(index, info->size);
  if (!entries) return named(entries.error());
  return entries;
}

Expected<void> read_chunk(const Backend& backend, std::string_view pack, const PackEntry& entry,
                          std::vector<std::byte>& raw) {
  auto named = [&](const Error& e) {
    return std::unexpected(Error{e.kind, fmt::format("chunk {} in pack {}: {}", entry.id.hex().substr(0, 16),
                                                     backend.locate(pack), e.message)});
  };
  std::vector<std::byte> frame(entry.stored_size);
  if (auto r = read_range(backend, pack, entry.offset, frame); !r) return named(r.error());
  return decode_chunk(backend, pack, entry, frame, raw);
}

Expected<void> decode_chunk(const Backend& backend, std::string_view pack, const PackEntry& entry,
                            pipeline::Bytes frame, std::vector<std::byte>& raw) {
  auto named = [&](const Error& e) {
    return std::unexpected(Error{e.kind, fmt::format("chunk {} in pack {}: {}", entry.id.hex().substr(0, 16),
                                                     backend.locate(pack), e.message)});
  };
  if (auto r = pipeline::decompress_frame(frame, entry.raw_size, raw); !r) return named(r.error());
  auto id = ChunkId::of(raw, backend.chunk_key());
  if (!id) return std::unexpected(id.error());
  if (*id != entry.id) return named(corrupt(fmt::format("its content hashes to {}", id->hex().substr(0, 16))));
  return {};
}

std::string new_pack_name() {
  // 128 bits from the system's random source: two writers never pick the
  // same name (and a writer's IfExists::fail would catch it if they did).
  const std::string hex = util::random_hex(16);
  return "data/" + hex.substr(0, 2) + "/" + hex;
}

bool is_pack_name(std::string_view name) {
  // "data/" + 2 hex + "/" + 32 hex, the 2 being the 32's first two.
  if (name.size() != 5 + 2 + 1 + 32 || !name.starts_with("data/") || name[7] != '/') return false;
  const std::string_view hex = name.substr(8);
  if (hex.substr(0, 2) != name.substr(5, 2)) return false;
  return std::ranges::all_of(hex, [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

}  // namespace dbsnap::store::repo
