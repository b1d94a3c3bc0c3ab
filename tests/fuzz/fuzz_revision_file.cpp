// libFuzzer target: the Alembic revision-file reader (alembic::parse_revision_file),
// a tokenizer for the subset of Python that holds a revision's literals. A
// file is either read, or refused with a not_found ("not a revision file") or
// config ("file:line: ...") error; what it reads obeys Alembic's rules on ids.

#include <algorithm>

#include "dbsnap/alembic/revision_file.hpp"
#include "fuzz_check.hpp"

using namespace dbsnap;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::filesystem::path file = "/fuzz/versions/abc123_fuzz.py";
  auto revision = alembic::parse_revision_file(fuzz_text(data, size), file);
  if (!revision) {
    const auto kind = revision.error().kind;
    FUZZ_CHECK(kind == ErrorKind::config || kind == ErrorKind::not_found, "a bad file is a config or not_found error");
    FUZZ_CHECK(revision.error().message.starts_with(file.string()), "the error names the file");
    return 0;
  }
  FUZZ_CHECK(!revision->id.empty(), "a revision has an id");
  FUZZ_CHECK(revision->id.find_first_of("@-+") == std::string::npos, "ids are ones Alembic accepts");
  FUZZ_CHECK(std::ranges::find(revision->down_revisions, revision->id) == revision->down_revisions.end(),
             "a revision does not revise itself");
  for (const auto* list : {&revision->down_revisions, &revision->branch_labels, &revision->depends_on}) {
    FUZZ_CHECK(std::ranges::none_of(*list, [](const std::string& s) { return s.empty(); }), "no empty ids");
  }
  FUZZ_CHECK(revision->message.find('\n') == std::string::npos, "the message is the docstring's first line");
  FUZZ_CHECK(revision->file == file, "the revision knows its file");
  return 0;
}
