#include "dbsnap/store/ids.hpp"

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

}  // namespace dbsnap::store
