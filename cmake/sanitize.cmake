# -DDBSNAP_SANITIZE=ON builds everything (library, binary, unit tests) with AddressSanitizer and
# UndefinedBehaviorSanitizer; any report aborts the process, so it fails the test that ran it.
# CI (.ci/run) builds build-asan this way and runs: ctest --test-dir build-asan -L 'unit|sqlite'
#
# At -O1 -g1 (line tables: reports still name file and line): AddressSanitizer's own advice, and
# half the compile time of -O2 -g with the sanitizers (src/cli/verify.cpp: 49 s -> 24 s;
# src/store/store.cpp: 21 s -> 9 s, measured on a 2-core machine like CI's), which is most of
# what CI spends on this build.
option(DBSNAP_SANITIZE "Build with -fsanitize=address,undefined" OFF)
if(DBSNAP_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined)
  foreach(config RELWITHDEBINFO RELEASE DEBUG MINSIZEREL)
    set(CMAKE_CXX_FLAGS_${config} "-O1 -g1")
  endforeach()
  set(CMAKE_CXX_FLAGS_RELWITHDEBINFO "-O1 -g1 -DNDEBUG")
  set(CMAKE_CXX_FLAGS_RELEASE "-O1 -g1 -DNDEBUG")
endif()
