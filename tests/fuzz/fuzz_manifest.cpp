// libFuzzer target: the manifest reader (store::parse_manifest), which reads
// <id>.json files and the catalog's copies of them. Whatever it accepts must
// keep the snapshot inside the store (a valid id, target and blob name of its
// own id) and survive a JSON round trip unchanged.

#include <algorithm>

#include "dbsnap/store/ids.hpp"
#include "dbsnap/store/manifest.hpp"
#include "fuzz_check.hpp"

using namespace dbsnap;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto manifest = store::parse_manifest(fuzz_text(data, size));
  if (!manifest) {
    FUZZ_CHECK(manifest.error().kind == ErrorKind::corrupt, "a bad manifest is a corrupt-snapshot error");
    FUZZ_CHECK(!manifest.error().message.empty(), "the error says what is wrong");
    return 0;
  }
  FUZZ_CHECK(store::is_valid_snapshot_id(manifest->id), "the id is a snapshot id");
  FUZZ_CHECK(store::is_valid_target_name(manifest->target), "the target is a folder name inside the store");
  FUZZ_CHECK(store::is_valid_blob_file_name(manifest->blob_file, manifest->id), "the blob is the snapshot's own file");
  FUZZ_CHECK(std::ranges::is_sorted(manifest->revisions), "revisions are sorted");
  const auto json = store::to_json(*manifest);
  auto again = store::parse_manifest(json.dump());
  FUZZ_CHECK(again.has_value(), "a manifest that was read can be written and read back");
  FUZZ_CHECK(store::to_json(*again) == json, "the round trip changes nothing");
  return 0;
}
