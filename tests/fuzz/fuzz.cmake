# The CTest test `fuzz` (label fuzz): tests/fuzz/run_fuzzers.sh configures and builds the libFuzzer
# targets with clang in <build>/fuzz (a separate CMake project: tests/fuzz/CMakeLists.txt) and runs
# each for $DBSNAP_FUZZ_SECONDS seconds (default 5; .ci/run sets 60) from its seed corpus.
add_test(NAME fuzz COMMAND ${PROJECT_SOURCE_DIR}/tests/fuzz/run_fuzzers.sh ${PROJECT_BINARY_DIR}/fuzz)
set_tests_properties(fuzz PROPERTIES LABELS fuzz TIMEOUT 2400 COST 320)
