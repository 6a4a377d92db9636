// Minimal test helpers: CHECK records a failure and continues; main returns the failure count.
#pragma once

#include <cstdio>

namespace cairn_echo_test {
inline int failures = 0;
}  // namespace cairn_echo_test

#define CHECK(condition)                                                        \
  do {                                                                          \
    if (!(condition)) {                                                         \
      std::fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__,     \
                   #condition);                                                 \
      ++cairn_echo_test::failures;                                              \
    }                                                                           \
  } while (false)

#define TEST_MAIN_RETURN()                                                      \
  do {                                                                          \
    if (cairn_echo_test::failures != 0) {                                       \
      std::fprintf(stderr, "%d check(s) failed\n", cairn_echo_test::failures);  \
    }                                                                           \
    return cairn_echo_test::failures == 0 ? 0 : 1;                              \
  } while (false)
