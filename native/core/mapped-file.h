// MappedFile: a read-only mmap of a weights file, shared by every tensor that lives in it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace hipcode {

class MappedFile {
 public:
  // Maps `path` read-only, or returns the mapping that is already open for it. Throws E_MODEL_FILE.
  static std::shared_ptr<MappedFile> open(const std::string& path);

  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile();

  const std::string& path() const { return path_; }
  size_t size() const { return size_; }
  const uint8_t* data() const { return data_; }

 private:
  MappedFile(std::string path, const uint8_t* data, size_t size);

  std::string path_;
  const uint8_t* data_;
  size_t size_;
};

}  // namespace hipcode
