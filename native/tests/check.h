// A minimal test harness: TEST registers a case, CHECK / CHECK_NEAR record failures without aborting.
#pragma once

#include <cmath>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

namespace hipcode::test {

struct TestCase {
  const char* name;
  std::function<void()> body;
};

std::vector<TestCase>& registry();
// Failures recorded by the case that is running.
int& current_failures();

struct Register {
  Register(const char* name, std::function<void()> body) { registry().push_back({name, std::move(body)}); }
};

inline void fail(const char* file, int line, const std::string& what) {
  ++current_failures();
  std::printf("  FAIL %s:%d: %s\n", file, line, what.c_str());
}

}  // namespace hipcode::test

#define HIPCODE_CONCAT_INNER(a, b) a##b
#define HIPCODE_CONCAT(a, b) HIPCODE_CONCAT_INNER(a, b)

#define TEST(name)                                                                                          \
  static void HIPCODE_CONCAT(test_, name)();                                                                \
  static const hipcode::test::Register HIPCODE_CONCAT(register_, name)(#name, HIPCODE_CONCAT(test_, name)); \
  static void HIPCODE_CONCAT(test_, name)()

#define CHECK(condition)                                                                \
  do {                                                                                  \
    if (!(condition)) hipcode::test::fail(__FILE__, __LINE__, "CHECK(" #condition ")"); \
  } while (0)

#define CHECK_NEAR(actual, expected, tolerance)                                                       \
  do {                                                                                                \
    const double check_actual = double(actual);                                                       \
    const double check_expected = double(expected);                                                   \
    if (!(std::fabs(check_actual - check_expected) <= double(tolerance))) {                           \
      hipcode::test::fail(__FILE__, __LINE__,                                                         \
                          std::string(#actual " = ") + std::to_string(check_actual) + ", expected " + \
                              std::to_string(check_expected) + " within " +                           \
                              std::to_string(double(tolerance)));                                     \
    }                                                                                                 \
  } while (0)

#define CHECK_THROWS_CODE(expression, expected_code)                                                \
  do {                                                                                              \
    bool check_threw = false;                                                                       \
    try {                                                                                           \
      expression;                                                                                   \
    } catch (const hipcode::EngineError& error) {                                                   \
      check_threw = error.code() == (expected_code);                                                \
    }                                                                                               \
    if (!check_threw)                                                                               \
      hipcode::test::fail(__FILE__, __LINE__, "expected " #expression " to throw " #expected_code); \
  } while (0)
