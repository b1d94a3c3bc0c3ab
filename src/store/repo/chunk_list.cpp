#include "dbsnap/store/repo/chunk_list.hpp"

#include <charconv>

#include <fmt/core.h>

namespace dbsnap::store::repo {

namespace {

constexpr std::string_view text_header = "dbsnap-chunks 1\n";    // the version-1 text
constexpr std::string_view object_header = "dbsnap-chunks 2\n";  // what a writer stores
constexpr std::size_t max_text_bytes = 256u << 20;                // about 3.6 M chunks, a 230 GB dump

std::optional<std::uint64_t> parse_u64(std::string_view text) {
  std::uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) return std::nullopt;
  return value;
}

}  // namespace

SnapshotWriter::SnapshotWriter(ChunkStore& chunks, std::unique_ptr<ObjectWriter> list, pipeline::Sha256 hasher,
                               pipeline::Sha256 text_hasher, pipeline::Sha256 list_hasher,
                               const pipeline::ChunkerParams& params)
    : chunks_(chunks),
      list_(std::move(list)),
      hasher_(std::move(hasher)),
      text_hasher_(std::move(text_hasher)),
      list_hasher_(std::move(list_hasher)),
      chunker_(params, [this](pipeline::Bytes chunk) { return on_chunk(chunk); }),
      text_chunker_(list_text_chunking, [this](pipeline::Bytes chunk) { return on_text_chunk(chunk); }) {}

Expected<std::unique_ptr<SnapshotWriter>> SnapshotWriter::create(Backend& backend, ChunkStore& chunks,
                                                                 const std::string& list_name,
                                                                 const pipeline::ChunkerParams& params,
                                                                 IfExists if_exists) {
  if (auto r = pipeline::check_chunker_params(params); !r) return std::unexpected(r.error());
  auto list = backend.create(list_name, if_exists);
  if (!list) return std::unexpected(list.error());
  auto hasher = pipeline::Sha256::create();
  if (!hasher) return std::unexpected(hasher.error());
  auto text_hasher = pipeline::Sha256::create();
  if (!text_hasher) return std::unexpected(text_hasher.error());
  auto list_hasher = pipeline::Sha256::create();
  if (!list_hasher) return std::unexpected(list_hasher.error());
  std::unique_ptr<SnapshotWriter> writer(new SnapshotWriter(chunks, std::move(*list), std::move(*hasher),
                                                            std::move(*text_hasher), std::move(*list_hasher), params));
  if (auto r = writer->put_object_line(object_header); !r) return std::unexpected(r.error());
  if (auto r = writer->put_line(text_header); !r) return std::unexpected(r.error());
  auto worker = pipeline::ThreadedSink::create(writer->chunker_);
  if (!worker) return std::unexpected(worker.error());
  writer->worker_ = std::move(*worker);
  return writer;
}

Expected<void> SnapshotWriter::put_line(std::string_view line) {
  text_bytes_ += line.size();
  if (auto r = text_hasher_.update(pipeline::bytes_of(line)); !r) return r;
  return text_chunker_.write(pipeline::bytes_of(line));
}

Expected<void> SnapshotWriter::put_object_line(std::string_view line) {
  written_.list_bytes += line.size();
  if (auto r = list_hasher_.update(pipeline::bytes_of(line)); !r) return r;
  return list_->write(pipeline::bytes_of(line));
}

Expected<void> SnapshotWriter::on_text_chunk(pipeline::Bytes chunk) {
  const auto before = chunks_.stats().stored_bytes;
  auto id = chunks_.put(chunk);
  if (!id) return std::unexpected(id.error());
  ++written_.list_chunks;
  written_.new_stored_bytes += chunks_.stats().stored_bytes - before;
  object_line_ = fmt::format("{} {}\n", id->hex(), chunk.size());
  return put_object_line(object_line_);
}

Expected<void> SnapshotWriter::take_input(Input input) {
  if (input_ != Input::none && input_ != input) {
    return make_error(ErrorKind::failure, "a chunk list is written from a stream or from another list, not both");
  }
  input_ = input;
  return {};
}

Expected<void> SnapshotWriter::write(pipeline::Bytes data) {
  if (auto r = take_input(Input::stream); !r) return r;
  if (auto r = hasher_.update(data); !r) return r;
  written_.raw_bytes += data.size();
  return worker_->write(data);
}

Expected<void> SnapshotWriter::on_chunk(pipeline::Bytes chunk) {
  const auto before = chunks_.stats();
  auto id = chunks_.put(chunk);
  if (!id) return std::unexpected(id.error());
  return list_chunk(*id, chunk.size(), before);
}

Expected<void> SnapshotWriter::list_chunk(const ChunkId& id, std::uint64_t size, const ChunkStoreStats& before) {
  const auto& after = chunks_.stats();
  ++written_.chunks;
  written_.new_chunks += after.new_chunks - before.new_chunks;
  written_.new_stored_bytes += after.stored_bytes - before.stored_bytes;
  line_ = fmt::format("{} {}\n", id.hex(), size);
  return put_line(line_);
}

Expected<bool> SnapshotWriter::add_held(const ChunkId& id, std::uint64_t size) {
  if (auto r = take_input(Input::chunks); !r) return std::unexpected(r.error());
  auto held = chunks_.holds(id);
  if (!held) return std::unexpected(held.error());
  if (!*held) return false;
  written_.raw_bytes += size;
  if (auto r = list_chunk(id, size, chunks_.stats()); !r) return std::unexpected(r.error());
  return true;
}

Expected<void> SnapshotWriter::add_chunk(const ChunkId& id, pipeline::Bytes raw) {
  if (auto r = take_input(Input::chunks); !r) return r;
  const auto before = chunks_.stats();
  auto stored = chunks_.put(raw);
  if (!stored) return std::unexpected(stored.error());
  if (*stored != id) {
    return make_error(ErrorKind::corrupt, "chunk {}: its bytes are those of chunk {}", id.hex().substr(0, 16),
                      stored->hex().substr(0, 16));
  }
  written_.raw_bytes += raw.size();
  return list_chunk(id, raw.size(), before);
}

Expected<void> SnapshotWriter::finish() {
  if (finished_) return {};
  if (auto r = worker_->finish(); !r) return r;  // the chunker finished, the worker joined
  if (input_ == Input::chunks) {
    if (copied_sha256_.empty()) return make_error(ErrorKind::failure, "a copied chunk list without its SHA-256");
    written_.raw_sha256 = copied_sha256_;
  } else {
    auto digest = hasher_.finish_hex();
    if (!digest) return std::unexpected(digest.error());
    written_.raw_sha256 = *digest;
  }
  line_ = fmt::format("end {} {} {}\n", written_.chunks, written_.raw_bytes, written_.raw_sha256);
  if (auto r = put_line(line_); !r) return r;
  if (auto r = text_chunker_.finish(); !r) return r;  // the text's last chunk
  if (auto r = chunks_.flush(); !r) return r;         // every chunk of both kinds committed
  auto text_digest = text_hasher_.finish_hex();
  if (!text_digest) return std::unexpected(text_digest.error());
  line_ = fmt::format("end {} {} {}\n", written_.list_chunks, text_bytes_, *text_digest);
  if (auto r = put_object_line(line_); !r) return r;
  auto list_digest = list_hasher_.finish_hex();
  if (!list_digest) return std::unexpected(list_digest.error());
  written_.list_sha256 = *list_digest;
  if (auto r = list_->finish(); !r) return r;
  finished_ = true;
  return {};
}

Expected<SnapshotWritten> SnapshotWriter::commit() {
  if (auto r = finish(); !r) return std::unexpected(r.error());
  if (auto r = list_->commit(); !r) return std::unexpected(r.error());
  list_.reset();
  return written_;
}

namespace {

// Parses a list's text after its header: chunk lines, then the end line.
// `where` names it in errors; the header is line 1.
Expected<ChunkList> parse_lines(std::string_view rest, const std::string& where) {
  auto bad = [&](std::size_t line, std::string_view why) {
    return std::unexpected(Error{ErrorKind::corrupt, fmt::format("{}, line {}: {}", where, line, why)});
  };
  ChunkList list;
  std::uint64_t sum = 0;
  for (std::size_t line_no = 2;; ++line_no) {
    const auto eol = rest.find('\n');
    if (eol == std::string_view::npos) return bad(line_no, "the list ends without its end line");
    const std::string_view line = rest.substr(0, eol);
    rest.remove_prefix(eol + 1);
    if (line.starts_with("end ")) {
      const std::string_view fields = line.substr(4);
      const auto a = fields.find(' ');
      const auto b = a == std::string_view::npos ? a : fields.find(' ', a + 1);
      if (b == std::string_view::npos) return bad(line_no, "an end line without count, size and SHA-256");
      const auto count = parse_u64(fields.substr(0, a));
      const auto bytes = parse_u64(fields.substr(a + 1, b - a - 1));
      list.raw_sha256 = std::string(fields.substr(b + 1));
      if (!count || !bytes || !ChunkId::from_hex(list.raw_sha256)) return bad(line_no, "a malformed end line");
      if (*count != list.ids.size()) {
        return bad(line_no, fmt::format("the end line counts {} chunks, the list has {}", *count, list.ids.size()));
      }
      if (*bytes != sum) return bad(line_no, fmt::format("the end line says {} bytes, the chunks add up to {}", *bytes, sum));
      if (!rest.empty()) return bad(line_no + 1, "text after the end line");
      list.raw_bytes = sum;
      return list;
    }
    const auto space = line.find(' ');
    auto id = ChunkId::from_hex(line.substr(0, space));
    const auto size = space == std::string_view::npos ? std::nullopt : parse_u64(line.substr(space + 1));
    if (!id || !size) return bad(line_no, "not '<sha256> <size>'");
    const std::uint64_t chunk_size = size.value_or(0);
    list.ids.push_back(*id);
    list.sizes.push_back(chunk_size);
    sum += chunk_size;
  }
}

// The version-1 text a version-2 object lists, read from the packs and
// checked (each chunk by ChunkReader, the whole against the end line).
Expected<std::string> read_text(const Backend& backend, const ChunkIndex& index, const ChunkList& object,
                                const std::string& where) {
  if (object.raw_bytes > max_text_bytes) {
    return make_error(ErrorKind::corrupt, "{}: its text would be {} bytes, more than a list can be", where,
                      object.raw_bytes);
  }
  std::string text(object.raw_bytes, '\0');
  ChunkReader reader(backend, index, object.ids);
  std::size_t filled = 0;
  for (;;) {
    std::byte spare[1];
    auto into = filled < text.size()
                    ? pipeline::MutableBytes(reinterpret_cast<std::byte*>(text.data()) + filled, text.size() - filled)
                    : pipeline::MutableBytes(spare, 1);
    auto n = reader.read(into);
    if (!n) {
      return make_error(n.error().kind, "{}: {}", where, n.error().message);
    }
    if (*n == 0) break;
    if (filled >= text.size()) return make_error(ErrorKind::corrupt, "{}: its chunks hold more than its end line says", where);
    filled += *n;
  }
  if (filled != text.size()) return make_error(ErrorKind::corrupt, "{}: its chunks hold less than its end line says", where);
  auto digest = pipeline::sha256_hex(pipeline::bytes_of(text));
  if (!digest) return std::unexpected(digest.error());
  if (*digest != object.raw_sha256) {
    return make_error(ErrorKind::corrupt, "{}: its text does not match the SHA-256 of its end line", where);
  }
  return text;
}

}  // namespace

Expected<ChunkList> read_chunk_list(const Backend& backend, const ChunkIndex& index, std::string_view name) {
  auto stored = read_object(backend, name, 256u << 20);
  if (!stored) return std::unexpected(stored.error());
  const std::string where = fmt::format("chunk list {}", backend.locate(name));
  auto list_digest = pipeline::sha256_hex(pipeline::bytes_of(*stored));
  if (!list_digest) return std::unexpected(list_digest.error());
  std::string_view rest = *stored;
  if (rest.starts_with(text_header)) {  // version 1: the text itself
    auto list = parse_lines(rest.substr(text_header.size()), where);
    if (!list) return list;
    list->list_sha256 = *list_digest;
    return list;
  }
  if (!rest.starts_with(object_header)) {
    return make_error(ErrorKind::corrupt, "{}, line 1: not a dbsnap chunk list (version 1 or 2)", where);
  }
  auto object = parse_lines(rest.substr(object_header.size()), where);
  if (!object) return object;
  auto text = read_text(backend, index, *object, where);
  if (!text) return std::unexpected(text.error());
  const std::string text_where = where + " (its text)";
  if (!std::string_view(*text).starts_with(text_header)) {
    return make_error(ErrorKind::corrupt, "{}, line 1: not a version-1 list", text_where);
  }
  auto list = parse_lines(std::string_view(*text).substr(text_header.size()), text_where);
  if (!list) return list;
  list->list_chunks = std::move(object->ids);
  list->list_sha256 = *list_digest;
  return list;
}

}  // namespace dbsnap::store::repo
