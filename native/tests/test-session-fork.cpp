// Session forks: a fork holds its parent's tokens on the parent's KV pages, and the first of the two to write
// after the partly filled page they share copies it, so neither changes what the other holds. Checked against
// sessions that ran the same ids from scratch, on the CPU and, where a GPU is present, on CUDA.
#include <cmath>
#include <memory>
#include <vector>

#include "core/model.h"
#include "core/session.h"
#include "tests/backend-helpers.h"
#include "tests/check.h"

using namespace hipcode;
using namespace hipcode::test;

namespace {

std::vector<int32_t> concat(std::vector<int32_t> a, const std::vector<int32_t>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// The last logits of a fresh session that runs each of `chunks` in turn (the chunking a fork's history had).
std::vector<float> fresh_logits(const std::shared_ptr<Model>& model,
                                const std::vector<std::vector<int32_t>>& chunks) {
  Session session(model, {512, 0});
  std::vector<float> logits;
  for (const auto& chunk : chunks) logits = session.forward(chunk, LogitsMode::LAST);
  return logits;
}

void check_same(const std::vector<float>& actual, const std::vector<float>& expected, double tolerance) {
  CHECK(actual.size() == expected.size());
  CHECK_NEAR(relative_l2(actual, expected), 0.0, tolerance);
}

// A 150-token context (two full pages and a partial one), a fork of it, and both writing after the shared
// partial page, then the parent truncated into a page the fork still holds and writing there: every session's
// next logits equal those of a session that ran its ids from scratch.
void check_forks_diverge(std::unique_ptr<Backend> backend, double tolerance) {
  SyntheticWeights weights;
  weights.seed = 5;
  const std::shared_ptr<Model> model =
      Model::synthetic(small_decode_geometry(512), weights, std::move(backend));
  const int64_t vocab = model->geometry().vocab_size;
  const std::vector<int32_t> context = random_ids(150, vocab, 1);
  const std::vector<int32_t> question = random_ids(30, vocab, 2);
  const std::vector<int32_t> other = random_ids(20, vocab, 3);
  const std::vector<int32_t> rewrite = random_ids(40, vocab, 4);

  Session parent(model, {512, 0});
  parent.forward(context, LogitsMode::NONE);
  Session fork(parent, {256, 9});
  CHECK(fork.length() == 150 && fork.history() == context && fork.capacity() == 256);

  check_same(fork.forward(question, LogitsMode::LAST), fresh_logits(model, {context, question}), tolerance);
  check_same(parent.forward(other, LogitsMode::LAST), fresh_logits(model, {context, other}), tolerance);
  CHECK(parent.history() == concat(context, other) && fork.history() == concat(context, question));

  parent.truncate(100);  // into the second page, which the fork still holds
  check_same(parent.forward(rewrite, LogitsMode::LAST),
             fresh_logits(model, {{context.begin(), context.begin() + 100}, rewrite}), tolerance);
  check_same(fork.forward({7}, LogitsMode::LAST), fresh_logits(model, {context, question, {7}}), tolerance);

  Session grandchild(fork, {512, 1});
  check_same(grandchild.forward(other, LogitsMode::LAST),
             fresh_logits(model, {context, question, {7}, other}), tolerance);
}

}  // namespace

TEST(session_forks_diverge_without_changing_each_other_cpu) {
  check_forks_diverge(create_backend(BackendChoice{"cpu", 0, 2}), 0.0);
}

TEST(cuda_session_forks_diverge_without_changing_each_other) {
  std::unique_ptr<Backend> cuda = cuda_backend_or_skip("cuda_session_forks_diverge");
  if (!cuda) return;
  check_forks_diverge(std::move(cuda), 0.0);
}
