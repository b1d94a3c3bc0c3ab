#include "dbsnap/store/s3/s3_backend.hpp"

#include <cstdlib>
#include <future>
#include <sstream>

#include <boost/property_tree/ptree.hpp>
#include <boost/property_tree/xml_parser.hpp>
#include <fmt/core.h>

#include "dbsnap/util/http.hpp"
#include "dbsnap/util/text.hpp"

namespace dbsnap::store::s3 {

namespace {

bool ok(const Response& r) { return r.status >= 200 && r.status < 300; }

// A Source with nothing in it (an empty range).
class EmptySource final : public pipeline::Source {
 public:
  Expected<std::size_t> read(pipeline::MutableBytes) override { return std::size_t{0}; }
};

class S3Writer final : public ObjectWriter {
 public:
  S3Writer(const Client& client, std::string key, IfExists if_exists, std::size_t part_size)
      : client_(client), key_(std::move(key)), if_exists_(if_exists), part_size_(part_size) {}
  S3Writer(const S3Writer&) = delete;
  S3Writer& operator=(const S3Writer&) = delete;

  ~S3Writer() override {
    if (in_flight_.valid()) (void)in_flight_.get();
    // Never committed: the upload's parts are dropped. If the server cannot be
    // told, the incomplete upload stays invisible to reads and lists (a
    // bucket lifecycle rule for incomplete uploads removes it).
    if (!upload_id_.empty() && !committed_) {
      (void)client_.send({.method = "DELETE", .key = key_, .query = {{"uploadId", upload_id_}}});
    }
  }

  Expected<void> write(pipeline::Bytes data) override {
    const char* bytes = reinterpret_cast<const char*>(data.data());
    std::size_t left = data.size();
    while (left > 0) {
      const std::size_t n = std::min(left, part_limit() - part_.size());
      part_.append(bytes, n);
      bytes += n;
      left -= n;
      if (part_.size() == part_limit()) {
        if (auto sent = send_part(); !sent) return sent;
      }
    }
    return {};
  }

  Expected<void> finish() override { return {}; }

  Expected<void> commit() override {
    if (upload_id_.empty()) {
      Request put{.method = "PUT", .key = key_, .body = part_};
      if (if_exists_ == IfExists::fail) put.headers.emplace_back("if-none-match", "*");
      auto r = client_.send(put);
      if (!r) return std::unexpected(r.error());
      if (r->status == 412) {
        return make_error(ErrorKind::refused, "{} exists already", client_.locate(key_));
      }
      if (!ok(*r)) return std::unexpected(client_.error_of(*r, "PUT " + client_.locate(key_)));
      committed_ = true;
      return {};
    }
    if (!part_.empty()) {
      if (auto sent = send_part(); !sent) return sent;
    }
    if (auto landed = wait_for_part(); !landed) return landed;
    if (if_exists_ == IfExists::fail) {
      auto head = client_.send({.method = "HEAD", .key = key_});
      if (!head) return std::unexpected(head.error());
      if (ok(*head)) return make_error(ErrorKind::refused, "{} exists already", client_.locate(key_));
    }
    std::string xml = "<CompleteMultipartUpload>";
    for (std::size_t i = 0; i < etags_.size(); ++i) {
      xml += fmt::format("<Part><PartNumber>{}</PartNumber><ETag>{}</ETag></Part>", i + 1, etags_[i]);
    }
    xml += "</CompleteMultipartUpload>";
    auto r = client_.send({.method = "POST", .key = key_, .query = {{"uploadId", upload_id_}}, .body = xml});
    if (!r) return std::unexpected(r.error());
    // A completion can fail inside a 200 answer: its body is then an <Error>.
    if (!ok(*r) || !xml_text(r->body, "Code").empty()) {
      return std::unexpected(client_.error_of(*r, "complete the upload of " + client_.locate(key_)));
    }
    committed_ = true;
    return {};
  }

 private:
  Expected<void> send_part() {
    if (upload_id_.empty()) {
      auto r = client_.send({.method = "POST", .key = key_, .query = {{"uploads", ""}}});
      if (!r) return std::unexpected(r.error());
      if (!ok(*r)) return std::unexpected(client_.error_of(*r, "start an upload of " + client_.locate(key_)));
      upload_id_ = xml_text(r->body, "UploadId");
      if (upload_id_.empty()) {
        return make_error(ErrorKind::failure, "starting an upload of {}: the answer has no UploadId",
                          client_.locate(key_));
      }
    }
    // One part goes up while the next one fills (on a thread of its own; the
    // client opens a connection per request): at most two parts in memory.
    if (auto landed = wait_for_part(); !landed) return landed;
    const std::string number = std::to_string(etags_.size() + 1);
    std::string body = std::move(part_);
    ++parts_sent_;
    part_.clear();
    part_.reserve(part_limit());
    in_flight_ = std::async(std::launch::async, [this, number, body = std::move(body)]() -> Expected<std::string> {
      auto r = client_.send(
          {.method = "PUT", .key = key_, .query = {{"partNumber", number}, {"uploadId", upload_id_}}, .body = body});
      if (!r) return std::unexpected(r.error());
      if (!ok(*r)) return std::unexpected(client_.error_of(*r, "upload part " + number + " of " + client_.locate(key_)));
      return r->header("etag");
    });
    return {};
  }

  // The size of the part filling: part_size_ for the first 1,000 parts, then
  // twice that for every further 1,000 (S3 allows 10,000 parts: with 5 MiB
  // parts first an object can grow to about 5 TB; a pack is 4 parts).
  std::size_t part_limit() const { return part_size_ << std::min<std::size_t>(parts_sent_ / 1000, 9); }

  // Waits for the part in flight, if any, and records its ETag.
  Expected<void> wait_for_part() {
    if (!in_flight_.valid()) return {};
    auto etag = in_flight_.get();
    if (!etag) return std::unexpected(etag.error());
    etags_.push_back(std::move(*etag));
    return {};
  }

  const Client& client_;
  std::string key_;
  IfExists if_exists_;
  std::size_t part_size_;
  std::size_t parts_sent_ = 0;
  std::string part_;
  std::string upload_id_;
  std::vector<std::string> etags_;
  std::future<Expected<std::string>> in_flight_;
  bool committed_ = false;
};

class S3Backend final : public Backend {
 public:
  S3Backend(Client client, BackendAccess access, std::size_t part_size)
      : client_(std::move(client)), access_(access), part_size_(part_size) {}

  std::string_view scheme() const override { return "s3"; }
  std::string locate(std::string_view name) const override { return client_.locate(key(name)); }

  Expected<std::unique_ptr<ObjectWriter>> create(std::string_view name, IfExists if_exists) override {
    if (auto checked = check_object_name(name); !checked) return std::unexpected(checked.error());
    if (access_ == BackendAccess::read) {
      return make_error(ErrorKind::failure, "{} is opened for reading only", client_.locate(client_.location().prefix));
    }
    return std::make_unique<S3Writer>(client_, key(name), if_exists, part_size_);
  }

  Expected<std::unique_ptr<pipeline::Source>> open(std::string_view name, std::uint64_t offset,
                                                   std::optional<std::uint64_t> length) const override {
    auto info = stat(name);
    if (!info) return std::unexpected(info.error());
    const std::uint64_t end = length ? offset + *length : info->size;
    if (offset > info->size || end > info->size) {
      return make_error(ErrorKind::corrupt, "{}: bytes {}-{} are past its end ({} bytes)", locate(name), offset, end,
                        info->size);
    }
    if (offset == end) return std::unique_ptr<pipeline::Source>(std::make_unique<EmptySource>());
    Request get{.method = "GET", .key = key(name)};
    if (offset > 0 || end < info->size) get.headers.emplace_back("range", fmt::format("bytes={}-{}", offset, end - 1));
    auto stream = client_.get(get);
    if (!stream) return std::unexpected(stream.error());
    return std::unique_ptr<pipeline::Source>(std::move(*stream));
  }

  Expected<ObjectInfo> stat(std::string_view name) const override {
    if (auto checked = check_object_name(name); !checked) return std::unexpected(checked.error());
    auto r = client_.send({.method = "HEAD", .key = key(name)});
    if (!r) return std::unexpected(r.error());
    if (!ok(*r)) return std::unexpected(client_.error_of(*r, "HEAD " + locate(name)));
    return ObjectInfo{std::string(name), std::strtoull(r->header("content-length").c_str(), nullptr, 10)};
  }

  Expected<std::vector<ObjectInfo>> list(std::string_view prefix) const override {
    std::vector<ObjectInfo> out;
    std::string token;
    const std::string& base = client_.location().prefix;
    for (;;) {
      Request req{.method = "GET", .key = "", .query = {{"list-type", "2"}, {"prefix", base + std::string(prefix)}}};
      if (!token.empty()) req.query.emplace_back("continuation-token", token);
      auto r = client_.send(req);
      if (!r) return std::unexpected(r.error());
      if (!ok(*r)) return std::unexpected(client_.error_of(*r, "list " + client_.locate(base + std::string(prefix))));
      boost::property_tree::ptree tree;
      try {
        std::istringstream in(r->body);
        boost::property_tree::read_xml(in, tree);
      } catch (const std::exception& e) {
        return make_error(ErrorKind::failure, "listing {}: the answer is not XML ({})", client_.locate(base), e.what());
      }
      const auto& result = tree.get_child("ListBucketResult", boost::property_tree::ptree());
      for (const auto& [tag, item] : result) {
        if (tag != "Contents") continue;
        const std::string full = item.get<std::string>("Key", "");
        if (!full.starts_with(base)) continue;
        std::string name = full.substr(base.size());
        if (!check_object_name(name)) continue;  // not one of ours: a foreign key in the bucket
        out.push_back({std::move(name), item.get<std::uint64_t>("Size", 0),
                       item.get<std::string>("ETag", "") + " " + item.get<std::string>("LastModified", "")});
      }
      if (result.get<std::string>("IsTruncated", "false") != "true") break;
      token = result.get<std::string>("NextContinuationToken", "");
      if (token.empty()) return make_error(ErrorKind::failure, "listing {}: truncated without a token", locate(prefix));
    }
    std::ranges::sort(out, {}, &ObjectInfo::name);
    return out;
  }

  Expected<void> remove(std::string_view name) override {
    if (auto info = stat(name); !info) return std::unexpected(info.error());
    auto r = client_.send({.method = "DELETE", .key = key(name)});
    if (!r) return std::unexpected(r.error());
    if (!ok(*r)) return std::unexpected(client_.error_of(*r, "DELETE " + locate(name)));
    return {};
  }

 private:
  std::string key(std::string_view name) const { return client_.location().prefix + std::string(name); }

  Client client_;
  BackendAccess access_;
  std::size_t part_size_;
};

}  // namespace

std::unique_ptr<Backend> make_s3_backend(Client client, BackendAccess access, std::size_t part_size) {
  return std::make_unique<S3Backend>(std::move(client), access, part_size);
}

Expected<std::unique_ptr<Backend>> open_s3_backend(std::string_view rest, BackendAccess access) {
  Location location;
  const auto slash = rest.find('/');
  location.bucket = std::string(rest.substr(0, slash));
  if (slash != std::string_view::npos) {
    std::string prefix(rest.substr(slash + 1));
    while (prefix.ends_with('/')) prefix.pop_back();
    if (!prefix.empty()) {
      if (auto checked = check_object_name(prefix); !checked) {
        return make_error(ErrorKind::config, "s3://{}: the prefix is not usable ({})", util::printable(rest),
                          checked.error().message);
      }
      location.prefix = prefix + "/";
    }
  }
  const bool bucket_ok = location.bucket.size() >= 3 && location.bucket.size() <= 63 &&
                         std::ranges::all_of(location.bucket, [](char c) {
                           return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.';
                         });
  if (!bucket_ok) {
    return make_error(ErrorKind::config, "s3://{}: '{}' is not a bucket name (3-63 of a-z, 0-9, '-', '.')",
                      util::printable(rest), util::printable(location.bucket));
  }
  // The environment first, as the AWS CLI reads it; then dbsnap.toml's [s3] table.
  location.region = util::env_or_empty("AWS_REGION");
  if (location.region.empty()) location.region = util::env_or_empty("AWS_DEFAULT_REGION");
  if (location.region.empty()) location.region = backend_setting("s3.region");
  if (location.region.empty()) location.region = "us-east-1";
  std::string endpoint = util::env_or_empty("AWS_ENDPOINT_URL_S3");
  if (endpoint.empty()) endpoint = util::env_or_empty("AWS_ENDPOINT_URL");
  if (endpoint.empty()) endpoint = backend_setting("s3.endpoint");
  if (endpoint.empty()) {
    // No default: dbsnap never talks to a server the user did not name.
    return make_error(ErrorKind::config, "s3://{}: no S3 endpoint: set AWS_ENDPOINT_URL_S3 or endpoint in "
                      "dbsnap.toml's [s3] table (e.g. https://s3.{}.amazonaws.com, or http://127.0.0.1:7480)",
                      util::printable(rest), location.region);
  }
  const std::string addressing = backend_setting("s3.addressing");
  location.path_style = addressing != "virtual";
  if (!location.path_style && location.bucket.find('.') != std::string::npos) {
    // bucket.with.dots.host is not covered by a server's *.host certificate, and is ambiguous as a name.
    return make_error(ErrorKind::config, "s3://{}: a bucket name with dots needs addressing = \"path\"",
                      util::printable(rest));
  }
  auto url = util::parse_url(endpoint);
  if (!url) return make_error(ErrorKind::config, "S3 endpoint: {}", url.error().message);
  if (url->target != "/") {
    return make_error(ErrorKind::config, "S3 endpoint '{}' must be http[s]://HOST[:PORT]", util::printable(endpoint));
  }
  const bool tls = url->https;
  location.host = url->host;
  location.port = url->port;
  if (tls) {
    // AWS_CA_BUNDLE as the AWS CLI reads it; else the system's CAs.
    auto context = util::TlsContext::client(util::env_or_empty("AWS_CA_BUNDLE"));
    if (!context) return std::unexpected(context.error());
    location.tls = std::move(*context);
  }
  auto credentials = find_credentials();
  if (!credentials) return std::unexpected(credentials.error());
  Client client(std::move(location), std::move(*credentials));
  // One listing of at most one key: the bucket exists and the credentials work, or one line says which not.
  auto probe = client.send({.method = "GET", .key = "", .query = {{"list-type", "2"}, {"max-keys", "1"}}});
  if (!probe) return std::unexpected(probe.error());
  // An S3 server answers a listing with ListBucketResult, or refuses it with an Error document.
  const bool s3_like = probe->body.find(ok(*probe) ? "ListBucketResult" : "<Code>") != std::string::npos;
  if (!s3_like) {
    return make_error(ErrorKind::config, "the server at {} does not answer as an S3 server does (HTTP {} to a bucket "
                      "listing, without an S3 document): is {} its S3 endpoint?", url->shown(), probe->status,
                      util::printable(endpoint));
  }
  if (!ok(*probe)) {
    Error e = client.error_of(*probe, "list " + client.locate(client.location().prefix));
    if (e.kind == ErrorKind::not_found) e.kind = ErrorKind::config;
    return std::unexpected(e);
  }
  return make_s3_backend(std::move(client), access);
}

}  // namespace dbsnap::store::s3
