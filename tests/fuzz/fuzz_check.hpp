#pragma once

// What the fuzz targets share: a check that turns a broken property into a
// crash libFuzzer reports (with the input that caused it), and the input as text.

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#define FUZZ_CHECK(condition, what)                                                               \
  do {                                                                                            \
    if (!(condition)) {                                                                           \
      std::fprintf(stderr, "FUZZ_CHECK failed at %s:%d: %s (%s)\n", __FILE__, __LINE__, (what), \
                   #condition);                                                                   \
      std::abort();                                                                               \
    }                                                                                             \
  } while (0)

inline std::string_view fuzz_text(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}
