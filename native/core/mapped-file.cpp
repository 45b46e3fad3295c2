// mmap/munmap of weight files, with a registry so each path is mapped once while anything holds it.
#include "core/mapped-file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <mutex>

#include "core/error.h"

namespace hipcode {
namespace {

std::mutex registry_mutex;
std::map<std::string, std::weak_ptr<MappedFile>> registry;

EngineError file_error(const std::string& path, const std::string& what) {
  return EngineError(ErrorCode::MODEL_FILE, path + ": " + what + " (" + std::strerror(errno) + ")");
}

}  // namespace

MappedFile::MappedFile(std::string path, const uint8_t* data, size_t size)
    : path_(std::move(path)), data_(data), size_(size) {}

MappedFile::~MappedFile() {
  if (size_ > 0) munmap(const_cast<uint8_t*>(data_), size_);
}

std::shared_ptr<MappedFile> MappedFile::open(const std::string& path) {
  std::lock_guard<std::mutex> lock(registry_mutex);
  if (auto existing = registry[path].lock()) return existing;

  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw file_error(path, "cannot open the weights file");
  struct stat info {};
  if (fstat(fd, &info) != 0) {
    ::close(fd);
    throw file_error(path, "cannot stat the weights file");
  }
  if (!S_ISREG(info.st_mode)) {
    ::close(fd);
    throw EngineError(ErrorCode::MODEL_FILE, path + ": not a regular file");
  }
  const auto size = static_cast<size_t>(info.st_size);
  const uint8_t* data = nullptr;
  if (size > 0) {
    void* mapping = mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
    if (mapping == MAP_FAILED) {
      ::close(fd);
      throw file_error(path, "cannot memory-map the weights file");
    }
    data = static_cast<const uint8_t*>(mapping);
  }
  ::close(fd);
  std::shared_ptr<MappedFile> file(new MappedFile(path, data, size));
  registry[path] = file;
  return file;
}

}  // namespace hipcode
