#pragma once

// The S3 backend ("s3://BUCKET/PREFIX"): objects are keys PREFIX + name in
// one bucket of an S3-compatible server (AWS S3, Ceph RGW, MinIO, ...).
//
// A writer keeps at most two parts in memory (part_size, 5 MiB by default,
// S3's least, doubled for every 1,000 parts after the first 1,000): one
// filling, one going up on a thread of its own; a backup has two pack
// writers at once (chunk_store.hpp), so at most 20 MiB of parts. An object
// that stays within one part is one PUT at commit(); a bigger one becomes a
// multipart upload whose parts go out as they fill, completed by commit()
// (the commit point: S3 shows an object only once its PUT or
// CompleteMultipartUpload returned) and aborted when the writer is dropped. IfExists::fail sends If-None-Match: * on the PUT and
// checks with HEAD before completing a multipart upload (a writer that slips
// in between those two wins). open() reads one GET stream, asked for again
// from where it broke if the connection drops (If-Match its ETag); remove()
// and stat() use HEAD first, since S3's DELETE of a missing key succeeds.
//
// Where: the endpoint is AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL
// (http[s]://HOST[:PORT], path-style addressing; no default), the region
// AWS_REGION or AWS_DEFAULT_REGION (default us-east-1), the credentials as
// s3::find_credentials() finds them. An https endpoint's certificate is
// verified against AWS_CA_BUNDLE, else the system's CAs (util/tls.hpp).

#include <cstddef>
#include <memory>
#include <string_view>

#include "dbsnap/store/backend.hpp"
#include "dbsnap/store/s3/client.hpp"

namespace dbsnap::store::s3 {

inline constexpr std::size_t default_part_size = 5 * 1024 * 1024;

// Opens "BUCKET[/PREFIX]" (the location after "s3://"). Errors: `config` for
// a malformed location or endpoint, missing credentials, or a bucket that
// does not exist or refuses these credentials (checked with one request).
Expected<std::unique_ptr<Backend>> open_s3_backend(std::string_view rest, BackendAccess access);

// A backend over `client`'s bucket and prefix, without the checks above.
std::unique_ptr<Backend> make_s3_backend(Client client, BackendAccess access,
                                         std::size_t part_size = default_part_size);

}  // namespace dbsnap::store::s3
