// The native benchmarks run by `hipcode-native-tests --bench`: the CPU linear kernel and the snapshot reader.
#pragma once

namespace hipcode::test {

int run_benchmarks();

}  // namespace hipcode::test
