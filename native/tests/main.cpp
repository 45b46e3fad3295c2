// Runs the registered test cases (all of them, or those whose names contain one of the arguments; with
// --bench, the native benchmarks instead) and prints "N passed, M failed"; the exit code is non-zero
// when anything failed or no test matched.
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

namespace {

// Whether `name` contains one of argv[1..], or there are none.
bool selected(const char* name, int argc, char** argv) {
  if (argc < 2) return true;
  for (int i = 1; i < argc; ++i) {
    if (std::strstr(name, argv[i])) return true;
  }
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace hipcode::test;
  if (argc > 1 && std::strcmp(argv[1], "--bench") == 0) return run_benchmarks();
  int passed = 0;
  int failed = 0;
  for (const TestCase& test_case : registry()) {
    if (!selected(test_case.name, argc, argv)) continue;
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
  if (passed + failed == 0) std::printf("no test name contains the arguments given\n");
  return failed == 0 && passed > 0 ? 0 : 1;
}
