// dlopen search for cuBLAS / cuBLASLt over the usual install locations.
#include "cuda/cublas-library.h"

#include <dlfcn.h>
#include <glob.h>

#include <cstdlib>
#include <string>
#include <vector>

namespace hipcode::cuda {
namespace {

std::vector<std::string> split_path_list(const char* list) {
  std::vector<std::string> parts;
  if (list == nullptr) return parts;
  std::string current;
  for (const char* c = list; *c != '\0'; ++c) {
    if (*c != ':') {
      current += *c;
      continue;
    }
    if (!current.empty()) parts.push_back(current);
    current.clear();
  }
  if (!current.empty()) parts.push_back(current);
  return parts;
}

std::vector<std::string> glob_dirs(const std::string& pattern) {
  std::vector<std::string> dirs;
  glob_t matches{};
  if (glob(pattern.c_str(), GLOB_ONLYDIR, nullptr, &matches) == 0) {
    for (size_t i = 0; i < matches.gl_pathc; ++i) dirs.emplace_back(matches.gl_pathv[i]);
  }
  globfree(&matches);
  return dirs;
}

// Python environments whose site-packages may hold nvidia-cublas wheels.
std::vector<std::string> python_prefixes() {
  std::vector<std::string> prefixes = {"/usr", "/usr/local"};
  for (const char* name : {"VIRTUAL_ENV", "CONDA_PREFIX"}) {
    if (const char* value = std::getenv(name)) prefixes.emplace_back(value);
  }
  if (const char* home = std::getenv("HOME")) prefixes.push_back(std::string(home) + "/.local");
  return prefixes;
}

std::vector<std::string> candidate_dirs() {
  std::vector<std::string> dirs;
  for (const char* name : {"CUDA_HOME", "CUDA_PATH"}) {
    if (const char* value = std::getenv(name)) dirs.push_back(std::string(value) + "/lib64");
  }
  for (const std::string& dir : split_path_list(std::getenv("LD_LIBRARY_PATH"))) dirs.push_back(dir);
  dirs.emplace_back("/usr/local/cuda/lib64");
  for (const std::string& prefix : python_prefixes()) {
    for (const char* packages : {"site-packages", "dist-packages"}) {
      const std::string root = prefix + "/lib/python3*/" + packages + "/nvidia/";
      for (const char* sub : {"cublas/lib", "cu13/lib", "cu12/lib"}) {
        for (const std::string& dir : glob_dirs(root + sub)) dirs.push_back(dir);
      }
    }
  }
  return dirs;
}

// Loads Lt, then cuBLAS (which needs Lt) from `prefix` ("" = the loader's search); closes both again.
bool try_load(const std::string& prefix, const std::string& major, std::string* loaded_path) {
  const std::string lt_path = prefix + "libcublasLt.so." + major;
  void* lt = dlopen(lt_path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (lt == nullptr) return false;
  const std::string blas_path = prefix + "libcublas.so." + major;
  void* blas = dlopen(blas_path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (blas != nullptr) {
    *loaded_path = blas_path;
    dlclose(blas);
  }
  dlclose(lt);
  return blas != nullptr;
}

}  // namespace

CublasInfo find_cublas() {
  CublasInfo info;
  const std::vector<std::string> dirs = candidate_dirs();
  for (const char* major : {"13", "12"}) {
    for (const std::string& dir : dirs) {
      if (try_load(dir + "/", major, &info.path)) {
        info.found = true;
        return info;
      }
    }
    if (try_load("", major, &info.path)) {
      info.found = true;
      return info;
    }
  }
  std::string searched;
  for (const std::string& dir : dirs) searched += (searched.empty() ? "" : ", ") + dir;
  info.reason = "libcublasLt.so + libcublas.so (13 or 12) not found in " + searched +
                " or the loader's default paths; install the CUDA toolkit or the nvidia-cublas Python wheel";
  return info;
}

}  // namespace hipcode::cuda
