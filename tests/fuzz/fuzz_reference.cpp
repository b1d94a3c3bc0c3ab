// libFuzzer target: snapshot references as typed on the command line
// (store::parse_snapshot_reference), and their resolution (Store::resolve)
// against a real store with a few snapshots. A reference either names one of
// those snapshots consistently with what it says, or is a usage error (it can
// never name one) or a not_found error (unknown or ambiguous); nothing else.

#include <cstdlib>
#include <optional>

#include "dbsnap/store/ids.hpp"
#include "dbsnap/store/store.hpp"
#include "fuzz_check.hpp"

using namespace dbsnap;

namespace {

std::filesystem::path store_root;
std::optional<store::Store> the_store;

store::Manifest snapshot(int age, const std::string& target, std::vector<std::string> revisions) {
  store::Manifest m;
  m.id = store::new_snapshot_id(util::TimePoint(std::chrono::milliseconds(1'790'000'000'000LL - age)));
  m.target = target;
  m.engine = "sqlite";
  m.created_at = util::format_utc(util::TimePoint(std::chrono::milliseconds(1'790'000'000'000LL - age)));
  m.revisions = std::move(revisions);
  m.blob_file = m.id + ".sqlite.zst";
  m.raw_sha256 = std::string(64, 'a');
  m.stored_sha256 = std::string(64, 'b');
  return m;
}

void remove_store() {
  the_store.reset();
  std::error_code ec;
  std::filesystem::remove_all(store_root, ec);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  char pattern[] = "/tmp/dbsnap-fuzz-reference-XXXXXX";
  if (!::mkdtemp(pattern)) std::abort();
  store_root = pattern;
  std::atexit(remove_store);
  auto opened = store::Store::open(store_root / "store");
  if (!opened) std::abort();
  the_store.emplace(std::move(*opened));
  // Rows only (no blobs): put through a second connection to the catalog, after the store's
  // open has reconciled it with the (absent) manifests; the store's own connection sees them.
  auto catalog = store::Catalog::open(store_root / "store" / "catalog.db");
  if (!catalog) std::abort();
  for (const auto& m : {snapshot(3000, "dev", {"3f2a1b2c9d0e"}), snapshot(2000, "dev", {"3f2a77", "c0ffee"}),
                        snapshot(1000, "prod", {"rev;rm -rf $(x)"}), snapshot(500, "prod", {})}) {
    if (!catalog->put(m)) std::abort();
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text = fuzz_text(data, size);
  auto parsed = store::parse_snapshot_reference(text);
  if (parsed) {
    switch (parsed->kind) {
      case store::SnapshotReference::Kind::latest:
        FUZZ_CHECK(util::trim(text) == "latest", "only 'latest' is latest");
        break;
      case store::SnapshotReference::Kind::revision:
        FUZZ_CHECK(!parsed->value.empty(), "a revision reference names a revision");
        break;
      case store::SnapshotReference::Kind::id_prefix:
        FUZZ_CHECK(!parsed->value.empty() && parsed->value.size() <= 13, "an id prefix is 1-13 characters");
        FUZZ_CHECK(parsed->value.find_first_not_of("0123456789abcdefghjkmnpqrstvwxyz") == std::string::npos,
                   "an id prefix uses the id alphabet only: no '/', '.', blanks");
        break;
    }
  } else {
    FUZZ_CHECK(parsed.error().kind == ErrorKind::usage, "a reference that cannot name a snapshot is a usage error");
  }
  for (const std::string target : {"", "dev"}) {
    auto found = the_store->resolve(text, target);
    if (!found) {
      const auto kind = found.error().kind;
      FUZZ_CHECK(kind == (parsed ? ErrorKind::not_found : ErrorKind::usage), "unknown is not_found, malformed is usage");
      continue;
    }
    FUZZ_CHECK(parsed.has_value(), "only well-formed references resolve");
    FUZZ_CHECK(target.empty() || found->target == target, "--target restricts the candidates");
    if (parsed->kind == store::SnapshotReference::Kind::id_prefix) {
      FUZZ_CHECK(found->id.starts_with(parsed->value), "an id prefix finds a snapshot with that prefix");
    } else if (parsed->kind == store::SnapshotReference::Kind::revision) {
      bool at = std::ranges::any_of(found->revisions, [&](const std::string& r) { return r.starts_with(parsed->value); });
      FUZZ_CHECK(at, "@REV finds a snapshot taken at (a revision starting with) REV");
    }
  }
  return 0;
}
