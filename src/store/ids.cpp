#include "dbsnap/store/ids.hpp"

#include <algorithm>
#include <random>

namespace dbsnap::store {

namespace {

constexpr std::string_view alphabet = "0123456789abcdefghjkmnpqrstvwxyz";  // Crockford base32
constexpr std::size_t time_chars = 9;
constexpr std::size_t random_chars = 4;

}  // namespace

std::string new_snapshot_id(util::TimePoint now) {
  auto millis = static_cast<std::uint64_t>(now.time_since_epoch().count());
  std::string id(time_chars + random_chars, '0');
  for (std::size_t i = time_chars; i-- > 0;) {
    id[i] = alphabet[millis & 31];
    millis >>= 5;
  }
  static thread_local std::mt19937 rng{std::random_device{}()};
  std::uniform_int_distribution<int> pick(0, 31);
  for (std::size_t i = 0; i < random_chars; ++i) id[time_chars + i] = alphabet[pick(rng)];
  return id;
}

bool is_valid_snapshot_id(std::string_view id) {
  if (id.size() != time_chars + random_chars) return false;
  for (char c : id) {
    if (alphabet.find(c) == std::string_view::npos) return false;
  }
  return true;
}

bool is_valid_target_name(std::string_view name) {
  if (name.empty() || name.size() > 64 || name.front() == '.') return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
              c == '-' || c == '.';
    if (!ok) return false;
  }
  return true;
}

bool is_valid_blob_file_name(std::string_view file, std::string_view id) {
  if (!is_valid_snapshot_id(id) || !file.starts_with(id) || !file.ends_with(".zst")) return false;
  file.remove_prefix(id.size());
  file.remove_suffix(4);
  if (file.size() < 2 || file.size() > 17 || file.front() != '.') return false;
  return std::ranges::all_of(file.substr(1), [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); });
}

Expected<SnapshotReference> parse_snapshot_reference(std::string_view text) {
  const std::string_view ref = util::trim(text);
  if (ref.empty()) return make_error(ErrorKind::usage, "empty snapshot reference");
  if (ref == "latest") return SnapshotReference{SnapshotReference::Kind::latest, "latest"};
  if (ref.starts_with('@')) {
    if (ref.size() == 1) return make_error(ErrorKind::usage, "'@' needs a revision, e.g. @3f2a1b");
    return SnapshotReference{SnapshotReference::Kind::revision, std::string(ref.substr(1))};
  }
  std::string prefix(ref);
  std::ranges::transform(prefix, prefix.begin(), [](unsigned char c) {
    return c < 0x80 ? static_cast<char>(std::tolower(c)) : static_cast<char>(c);
  });
  const bool id_like = prefix.size() <= time_chars + random_chars &&
                       std::ranges::all_of(prefix, [](char c) { return alphabet.find(c) != std::string_view::npos; });
  if (!id_like) {
    std::string shown(ref.substr(0, 64));
    if (ref.size() > 64) shown += "...";
    return make_error(ErrorKind::usage,
                      "'{}' is not a snapshot reference: use an id or a unique id prefix (up to 13 of the characters "
                      "0-9 a-z, without i, l, o, u), 'latest' or @REVISION",
                      shown);
  }
  return SnapshotReference{SnapshotReference::Kind::id_prefix, std::move(prefix)};
}

}  // namespace dbsnap::store
