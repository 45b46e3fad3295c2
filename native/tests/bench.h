// The linear kernel benchmark run by `hipcode-native-tests --bench`.
#pragma once

namespace hipcode::test {

int run_benchmarks();

}  // namespace hipcode::test
