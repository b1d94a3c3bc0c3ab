# -DDBSNAP_SANITIZE=ON builds everything (library, binary, unit tests) with AddressSanitizer and
# UndefinedBehaviorSanitizer; any report aborts the process, so it fails the test that ran it.
# CI (.ci/run) builds build-asan this way and runs: ctest --test-dir build-asan -L 'unit|sqlite'
option(DBSNAP_SANITIZE "Build with -fsanitize=address,undefined" OFF)
if(DBSNAP_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined)
endif()
