#include "dbsnap/store/backend.hpp"

#include <array>
#include <mutex>

#include "dbsnap/store/local/local_backend.hpp"
#include "dbsnap/store/s3/s3_backend.hpp"
#include "dbsnap/util/text.hpp"

namespace dbsnap::store {

namespace {

// The registry: one line per backend kind.
const std::array<BackendKind, 2> kinds = {{
    {"file", "a local folder (file:///path, or a plain path)", &local::open_local_backend},
    {"s3", "an S3 bucket (s3://BUCKET/PREFIX; endpoint from AWS_ENDPOINT_URL_S3)", &s3::open_s3_backend},
}};

bool valid_component_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
         c == '-';
}

}  // namespace

Expected<void> check_object_name(std::string_view name) {
  auto reject = [&](std::string_view why) -> Expected<void> {
    return make_error(ErrorKind::usage, "object name '{}' is not usable: {}", util::printable(name), why);
  };
  if (name.empty()) return reject("it is empty");
  if (name.size() > 1024) return reject("it is longer than 1024 characters");
  std::size_t start = 0;
  while (start <= name.size()) {
    const auto end = std::min(name.find('/', start), name.size());
    const std::string_view part = name.substr(start, end - start);
    if (part.empty()) return reject("it has an empty component (a leading, trailing or double '/')");
    if (part.front() == '.') return reject("a component starts with '.'");
    if (part.size() > 200) return reject("a component is longer than 200 characters");
    for (char c : part) {
      if (!valid_component_char(c)) return reject("only letters, digits, '.', '_', '-' and '/' are allowed");
    }
    start = end + 1;
  }
  return {};
}

Expected<std::string> read_object(const Backend& backend, std::string_view name, std::uint64_t limit) {
  auto info = backend.stat(name);
  if (!info) return std::unexpected(info.error());
  if (info->size > limit) {
    return make_error(ErrorKind::corrupt, "{} is {} bytes, more than the {} expected at most", backend.locate(name),
                      info->size, limit);
  }
  auto source = backend.open(name);
  if (!source) return std::unexpected(source.error());
  std::string text;
  std::array<std::byte, 64 * 1024> buffer;
  for (;;) {
    auto n = (*source)->read(buffer);
    if (!n) return std::unexpected(n.error());
    if (*n == 0) break;
    text.append(reinterpret_cast<const char*>(buffer.data()), *n);
    if (text.size() > limit) {
      return make_error(ErrorKind::corrupt, "{} grew past {} bytes while it was read", backend.locate(name), limit);
    }
  }
  return text;
}

Expected<void> write_object(Backend& backend, std::string_view name, std::string_view content, IfExists if_exists) {
  auto writer = backend.create(name, if_exists);
  if (!writer) return std::unexpected(writer.error());
  if (auto r = (*writer)->write(pipeline::Bytes(reinterpret_cast<const std::byte*>(content.data()), content.size()));
      !r) {
    return r;
  }
  return (*writer)->commit();
}

std::span<const BackendKind> backend_kinds() { return kinds; }

bool has_scheme(std::string_view location) {
  const auto sep = location.find("://");
  if (sep == std::string_view::npos || sep == 0 || !(location[0] >= 'a' && location[0] <= 'z')) return false;
  for (char c : location.substr(0, sep)) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.')) return false;
  }
  return true;
}

namespace {

std::mutex settings_mutex;
std::map<std::string, std::string, std::less<>> settings_map;

}  // namespace

void set_backend_settings(std::map<std::string, std::string> settings) {
  std::lock_guard lock(settings_mutex);
  settings_map = {settings.begin(), settings.end()};
}

std::string backend_setting(std::string_view name) {
  std::lock_guard lock(settings_mutex);
  auto it = settings_map.find(name);
  return it == settings_map.end() ? std::string() : it->second;
}

Expected<std::unique_ptr<Backend>> open_backend(std::string_view location, BackendAccess access) {
  const auto sep = location.find("://");
  if (sep == std::string_view::npos) return local::open_local_backend(location, access);
  const std::string_view scheme = location.substr(0, sep);
  for (const auto& kind : kinds) {
    if (kind.scheme == scheme) return kind.open(location.substr(sep + 3), access);
  }
  std::vector<std::string> known;
  for (const auto& kind : kinds) known.push_back(fmt::format("{}:// ({})", kind.scheme, kind.summary));
  return make_error(ErrorKind::config, "store location '{}' has an unknown scheme '{}'; known: {}",
                    util::printable(location), util::printable(scheme), util::join(known, ", "));
}

}  // namespace dbsnap::store
