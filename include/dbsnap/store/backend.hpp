#pragma once

// The storage-backend seam.
//
// A Backend keeps named objects (byte strings) and nothing else: no
// snapshots, manifests, catalogs or locks; those belong to the repository
// layer above it (store::Store). The model is restic's backend packages and
// ccache's remote storages: a handful of operations every backend can offer
// (a local folder, an S3 bucket), one conformance suite every backend passes
// (tests/unit/backend_conformance.hpp), and a registry keyed by the
// location's scheme (`file://`, or a plain path).
//
// Object names are relative, '/'-separated paths: 1-1024 characters,
// components of 1-200 [A-Za-z0-9._-] that never start with a '.' (so no ".", "..", hidden or temp names; backends keep their own
// bookkeeping under such names, invisible through this interface).
//
// Guarantees every backend gives:
//  - an object is visible only once its writer's commit() returned, whole;
//    a writer dropped before commit() leaves nothing a list, stat or open
//    can see (the commit point of every stored thing);
//  - list() returns committed objects only, sorted by name;
//  - reads may be ranged (offset, length) and fail rather than return fewer
//    bytes than asked for;
//  - removing an object makes it invisible at once; removing a missing one
//    is a not_found error.

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "dbsnap/pipeline/stream.hpp"
#include "dbsnap/util/error.hpp"

namespace dbsnap::store {

// A committed object as list() and stat() see it.
struct ObjectInfo {
  std::string name;
  std::uint64_t size = 0;
  // From list(): a token that changes whenever the object is written again
  // (S3: its ETag and modification time; a file: its inode, modification
  // time and size), so that a cache can tell which objects another host
  // replaced; empty when the backend cannot tell.
  std::string version = {};
};

// An object being written: a pipeline::Sink whose finish() flushes, then
// commit() publishes it under its name in one step, durably. Dropping it
// without commit() (an error, a signal, an exception) aborts: the
// destructor never publishes anything.
class ObjectWriter : public pipeline::Sink {
 public:
  // Publishes the object (after finish(), which it calls when it was not).
  // Errors: `refused` when the writer was created with IfExists::fail and an
  // object of that name appeared meanwhile (it is left as it was);
  // `failure` for I/O.
  virtual Expected<void> commit() = 0;
};

// What create()'s commit does to an object already under the name.
enum class IfExists { replace, fail };

// Whether a backend is opened to be written or only read.
enum class BackendAccess { write, read };

class Backend {
 public:
  virtual ~Backend() = default;

  // The scheme this backend was registered under ("file").
  virtual std::string_view scheme() const = 0;
  // Where an object lives, for people: a file path, an s3:// URL.
  virtual std::string locate(std::string_view name) const = 0;

  // Starts a new object. Errors: `usage` for a rejected name, `failure` when
  // the backend cannot be written (opened for reading, read-only medium).
  virtual Expected<std::unique_ptr<ObjectWriter>> create(std::string_view name,
                                                         IfExists if_exists = IfExists::replace) = 0;

  // Streams bytes [offset, offset + length) of an object (`length` empty: to
  // its end). Errors: `not_found` when there is no such object, `corrupt`
  // when the range reaches past its end (or the object shrank while read).
  virtual Expected<std::unique_ptr<pipeline::Source>> open(std::string_view name, std::uint64_t offset = 0,
                                                           std::optional<std::uint64_t> length = {}) const = 0;

  // The object's size. Errors: `not_found`.
  virtual Expected<ObjectInfo> stat(std::string_view name) const = 0;

  // The committed objects whose names start with `prefix` (a plain string
  // prefix, as S3's), sorted by name.
  virtual Expected<std::vector<ObjectInfo>> list(std::string_view prefix = {}) const = 0;

  // Removes an object. Errors: `not_found` when there is none.
  virtual Expected<void> remove(std::string_view name) = 0;

  // The key chunk ids are keyed with (HMAC-SHA-256) when this backend keeps
  // the repository encrypted (store/encrypted/), so that the ids in a pack's
  // index say nothing about what is in the chunks; empty: plain SHA-256.
  virtual std::string_view chunk_key() const { return {}; }

  // The key manifests are authenticated with (HMAC-SHA-256, FORMAT.md
  // "Manifest") when this backend holds the repository's key (encrypted, or
  // authenticated in the clear: store/encrypted/); every manifest written
  // through it carries a MAC. Empty: manifests carry no MAC, none is checked.
  virtual std::string_view manifest_key() const { return {}; }

  // Whether a manifest without a MAC is refused (with a manifest key): true
  // but for an encrypted repository made before manifests carried one and
  // not upgraded yet (`dbsnap key upgrade`), which checks a MAC only where
  // there is one.
  virtual bool manifest_macs_required() const { return true; }
};

// Checks an object name against the rules above; `usage` error naming it.
Expected<void> check_object_name(std::string_view name);

// Reads a whole (small) object into memory: manifests, pack headers.
// Errors as Backend::open, and `corrupt` above `limit` bytes.
Expected<std::string> read_object(const Backend& backend, std::string_view name,
                                  std::uint64_t limit = 16 * 1024 * 1024);

// Writes a whole (small) object and commits it.
Expected<void> write_object(Backend& backend, std::string_view name, std::string_view content,
                            IfExists if_exists = IfExists::replace);

// One kind of backend: the scheme that selects it and how to open one.
struct BackendKind {
  std::string_view scheme;   // "file"
  std::string_view summary;  // for --help and error messages
  // Opens the backend at `rest`, the location without "scheme://".
  Expected<std::unique_ptr<Backend>> (*open)(std::string_view rest, BackendAccess access);
};

// Every backend this build knows (src/store/backend.cpp holds the list: a
// new backend is one folder plus one line there).
std::span<const BackendKind> backend_kinds();

// Whether a location names a scheme ("s3://bucket", "file:///x"): a
// lower-case letter, then letters, digits, '+', '-' or '.', then "://".
bool has_scheme(std::string_view location);

// Opens the backend a location names: "scheme://rest" picks the kind by its
// scheme; anything else is a local folder path (scheme "file"). Errors:
// `config` for an unknown scheme (naming the known ones), else the kind's.
Expected<std::unique_ptr<Backend>> open_backend(std::string_view location, BackendAccess access);

// Settings of the backends from the configuration ("s3.endpoint",
// "s3.region", "s3.addressing": dbsnap.toml's [s3] table), given once by the
// command layer before a store opens; each backend reads its own when it
// opens a location. The environment, where a backend reads it, wins over
// them (as it does over the AWS CLI's config file).
void set_backend_settings(std::map<std::string, std::string> settings);
// One setting; empty when unset.
std::string backend_setting(std::string_view name);

}  // namespace dbsnap::store
