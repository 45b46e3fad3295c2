// ThreadPool: persistent worker threads running parallel_for jobs; the calling thread takes part.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace hipcode {

class ThreadPool {
 public:
  // `threads` counts the calling thread; 0 means std::thread::hardware_concurrency().
  explicit ThreadPool(size_t threads);
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;
  ~ThreadPool();

  size_t size() const { return workers_.size() + 1; }

  // Runs task(i) for every i in [0, count) and returns when all are done; rethrows the first exception.
  // Jobs from several calling threads run one after another.
  void parallel_for(size_t count, const std::function<void(size_t)>& task);

 private:
  void worker_loop();
  void run_indices();

  std::vector<std::thread> workers_;
  std::mutex job_mutex_;  // one job at a time
  std::mutex state_mutex_;
  std::condition_variable job_ready_;
  std::condition_variable job_done_;
  const std::function<void(size_t)>* task_ = nullptr;
  size_t count_ = 0;
  std::atomic<size_t> next_index_{0};
  size_t generation_ = 0;
  size_t workers_busy_ = 0;
  bool stopping_ = false;
  std::exception_ptr error_;
};

}  // namespace hipcode
