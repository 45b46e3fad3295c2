// Runs every registered test case (or, with --bench, the linear kernel benchmark) and prints
// "N passed, M failed"; the exit code is non-zero when anything failed.
#include <cstdio>
#include <cstring>

#include "tests/bench.h"
#include "tests/check.h"

namespace hipcode::test {

std::vector<TestCase>& registry() {
  static std::vector<TestCase> cases;
  return cases;
}

int& current_failures() {
  static int failures = 0;
  return failures;
}

}  // namespace hipcode::test

int main(int argc, char** argv) {
  using namespace hipcode::test;
  if (argc > 1 && std::strcmp(argv[1], "--bench") == 0) return run_benchmarks();
  int passed = 0;
  int failed = 0;
  for (const TestCase& test_case : registry()) {
    current_failures() = 0;
    try {
      test_case.body();
    } catch (const std::exception& error) {
      fail(__FILE__, __LINE__, std::string("uncaught exception: ") + error.what());
    }
    if (current_failures() == 0) {
      ++passed;
      continue;
    }
    ++failed;
    std::printf("FAILED %s\n", test_case.name);
  }
  std::printf("%d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
