#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include "backend_conformance.hpp"
#include "dbsnap/store/local/local_backend.hpp"

namespace dbsnap::store {

using test::names;
using test::read_object_text;

TEST_CASE("every registered backend passes the conformance suite") {
  // Each kind that can run here without outside services (a local folder).
  for (const auto& kind : backend_kinds()) {
    CAPTURE(kind.scheme);
    if (kind.scheme != "file") continue;  // S3 runs from its own test with a server
    std::vector<std::unique_ptr<test::TempDir>> dirs;
    test::check_backend_conformance([&] {
      dirs.push_back(std::make_unique<test::TempDir>());
      auto opened = kind.open((dirs.back()->path / "store").string(), BackendAccess::write);
      REQUIRE(opened.has_value());
      return std::move(*opened);
    });
  }
}

TEST_CASE("open_backend picks the kind by scheme") {
  test::TempDir dir;
  auto plain = open_backend(dir.path.string(), BackendAccess::write);
  REQUIRE(plain.has_value());
  CHECK((*plain)->scheme() == "file");
  CHECK((*plain)->locate("a/b") == (dir.path / "a/b").string());
  auto url = open_backend("file://" + dir.path.string(), BackendAccess::write);
  REQUIRE(url.has_value());
  CHECK((*url)->locate("x") == (dir.path / "x").string());
  auto unknown = open_backend("ftp://host/x", BackendAccess::write);
  REQUIRE_FALSE(unknown.has_value());
  CHECK(unknown.error().kind == ErrorKind::config);
  CHECK(unknown.error().message.find("unknown scheme 'ftp'") != std::string::npos);
  CHECK(unknown.error().message.find("file://") != std::string::npos);
}

TEST_CASE("local backend: files, temp files, links and read-only access") {
  test::TempDir dir;
  local::LocalBackend local_backend(dir.path / "s", BackendAccess::write);
  Backend& backend = local_backend;  // the interface's default arguments
  REQUIRE(write_object(backend, "t/obj", "hello").has_value());
  CHECK(std::ifstream(dir.path / "s/t/obj").good());
  struct stat st {};
  REQUIRE(::stat((dir.path / "s/t").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0700);

  SUBCASE("a writer's temp file is never listed, and is gone once the writer is dropped") {
    auto writer = backend.create("t/second");
    REQUIRE(writer.has_value());
    std::size_t files = 0;
    for (auto& e : std::filesystem::directory_iterator(dir.path / "s/t")) files += e.is_regular_file();
    CHECK(files == 2);  // obj and the temp file
    CHECK(names(backend) == std::vector<std::string>{"t/obj"});
    writer->reset();
    files = 0;
    for (auto& e : std::filesystem::directory_iterator(dir.path / "s/t")) files += e.is_regular_file();
    CHECK(files == 1);
  }
  SUBCASE("symbolic links are neither followed nor listed") {
    test::TempDir outside;
    REQUIRE(write_object(backend, "x/y", "inside").has_value());
    std::ofstream(outside.path / "secret") << "outside";
    std::filesystem::create_directory_symlink(outside.path, dir.path / "s/link");
    std::filesystem::create_symlink(outside.path / "secret", dir.path / "s/t/filelink");
    CHECK(names(backend) == std::vector<std::string>{"t/obj", "x/y"});
    CHECK(backend.open("link/secret").error().kind == ErrorKind::failure);
    CHECK(backend.open("t/filelink").error().kind == ErrorKind::failure);
    CHECK(backend.stat("t/filelink").error().kind == ErrorKind::failure);
    CHECK_FALSE(backend.create("link/new").has_value());
    CHECK_FALSE(backend.remove("link/secret").has_value());
    CHECK(std::filesystem::exists(outside.path / "secret"));
    CHECK_FALSE(std::filesystem::exists(outside.path / "new"));
  }
  SUBCASE("files that are not objects are not listed") {
    std::ofstream(dir.path / "s/t/with space") << "x";
    std::ofstream(dir.path / "s/.hidden") << "x";
    CHECK(names(backend) == std::vector<std::string>{"t/obj"});
  }
  SUBCASE("opened for reading: reads work, writes fail, a missing root is empty") {
    local::LocalBackend local_reader(dir.path / "s", BackendAccess::read);
    Backend& reader = local_reader;
    CHECK(read_object_text(reader, "t/obj") == "hello");
    CHECK(reader.create("t/new").error().kind == ErrorKind::failure);
    CHECK(reader.remove("t/obj").error().kind == ErrorKind::failure);
    CHECK(read_object_text(backend, "t/obj") == "hello");
    local::LocalBackend missing(dir.path / "none", BackendAccess::read);
    CHECK(names(missing).empty());
    CHECK(missing.stat("a").error().kind == ErrorKind::not_found);
    CHECK_FALSE(std::filesystem::exists(dir.path / "none"));
  }
}

}  // namespace dbsnap::store
