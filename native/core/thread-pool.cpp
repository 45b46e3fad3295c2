// The persistent thread pool: workers sleep on a condition variable and claim indices from an atomic counter.
#include "core/thread-pool.h"

namespace hipcode {

ThreadPool::ThreadPool(size_t threads) {
  if (threads == 0) threads = std::thread::hardware_concurrency();
  if (threads == 0) threads = 1;
  for (size_t i = 1; i < threads; ++i) workers_.emplace_back([this] { worker_loop(); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(state_mutex_);
    stopping_ = true;
  }
  job_ready_.notify_all();
  for (std::thread& worker : workers_) worker.join();
}

void ThreadPool::parallel_for(size_t count, const std::function<void(size_t)>& task) {
  if (count == 0) return;
  std::lock_guard<std::mutex> job_lock(job_mutex_);
  if (workers_.empty() || count == 1) {
    for (size_t i = 0; i < count; ++i) task(i);
    return;
  }
  {
    std::lock_guard<std::mutex> lock(state_mutex_);
    task_ = &task;
    count_ = count;
    next_index_ = 0;
    error_ = nullptr;
    workers_busy_ = workers_.size();
    ++generation_;
  }
  job_ready_.notify_all();
  run_indices();
  std::unique_lock<std::mutex> lock(state_mutex_);
  job_done_.wait(lock, [this] { return workers_busy_ == 0; });
  task_ = nullptr;
  if (error_) std::rethrow_exception(error_);
}

void ThreadPool::run_indices() {
  for (size_t i = next_index_++; i < count_; i = next_index_++) {
    try {
      (*task_)(i);
    } catch (...) {
      std::lock_guard<std::mutex> lock(state_mutex_);
      if (!error_) error_ = std::current_exception();
      next_index_ = count_;  // skip the rest of the job
    }
  }
}

void ThreadPool::worker_loop() {
  size_t seen_generation = 0;
  while (true) {
    {
      std::unique_lock<std::mutex> lock(state_mutex_);
      job_ready_.wait(lock, [&] { return stopping_ || generation_ != seen_generation; });
      if (stopping_) return;
      seen_generation = generation_;
    }
    run_indices();
    std::lock_guard<std::mutex> lock(state_mutex_);
    if (--workers_busy_ == 0) job_done_.notify_one();
  }
}

}  // namespace hipcode
