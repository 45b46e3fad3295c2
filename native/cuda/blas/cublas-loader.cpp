// Run-time loader of libcublasLt: walks the candidate paths, dlopen()s the first that loads and
// resolves every required symbol, and remembers the result (or the failure) for the process.
#include "blas/cublas-loader.h"

#include <dlfcn.h>
#include <glob.h>

#include <cstdlib>
#include <mutex>

namespace hipcode::cuda::blas {

namespace {

void add_dir(std::vector<std::string>& dirs, const std::string& dir) {
  if (dir.empty()) return;
  for (const auto& d : dirs) {
    if (d == dir) return;
  }
  dirs.push_back(dir);
}

void add_glob(std::vector<std::string>& dirs, const std::string& pattern) {
  glob_t g{};
  if (glob(pattern.c_str(), GLOB_ONLYDIR | GLOB_NOSORT, nullptr, &g) == 0) {
    for (size_t i = 0; i < g.gl_pathc; ++i) add_dir(dirs, g.gl_pathv[i]);
  }
  globfree(&g);
}

template <typename Fn>
bool resolve(void* lib, const char* name, Fn& out, std::string& missing) {
  out = reinterpret_cast<Fn>(dlsym(lib, name));
  if (!out) {
    if (!missing.empty()) missing += ", ";
    missing += name;
  }
  return out != nullptr;
}

std::once_flag g_once;
CublasLtApi g_api;
bool g_loaded = false;
std::string g_reason;

void load_once() {
  std::string tried;
  for (const std::string& path : cublaslt_candidates()) {
    void* lib = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
      const char* err = dlerror();
      // Missing files are the normal case; only report real load errors.
      if (err && std::string(err).find("No such file") == std::string::npos) {
        tried += "\n  " + path + ": " + err;
      }
      continue;
    }
    CublasLtApi api;
    std::string missing;
    resolve(lib, "cublasLtCreate", api.create, missing);
    resolve(lib, "cublasLtDestroy", api.destroy, missing);
    resolve(lib, "cublasLtGetVersion", api.get_version, missing);
    resolve(lib, "cublasLtMatmulDescCreate", api.matmul_desc_create, missing);
    resolve(lib, "cublasLtMatmulDescSetAttribute", api.matmul_desc_set_attribute, missing);
    resolve(lib, "cublasLtMatmulDescDestroy", api.matmul_desc_destroy, missing);
    resolve(lib, "cublasLtMatrixLayoutCreate", api.matrix_layout_create, missing);
    resolve(lib, "cublasLtMatrixLayoutDestroy", api.matrix_layout_destroy, missing);
    resolve(lib, "cublasLtMatmulPreferenceCreate", api.preference_create, missing);
    resolve(lib, "cublasLtMatmulPreferenceSetAttribute", api.preference_set_attribute, missing);
    resolve(lib, "cublasLtMatmulPreferenceDestroy", api.preference_destroy, missing);
    resolve(lib, "cublasLtMatmulAlgoGetHeuristic", api.algo_get_heuristic, missing);
    resolve(lib, "cublasLtMatmul", api.matmul, missing);
    api.get_status_string =
        reinterpret_cast<PFN_cublasLtGetStatusString>(dlsym(lib, "cublasLtGetStatusString"));
    if (!missing.empty()) {
      tried += "\n  " + path + ": missing symbols " + missing;
      dlclose(lib);
      continue;
    }
    api.path = path;
    api.version = api.get_version();
    g_api = api;
    g_loaded = true;
    return;  // the library stays loaded for the life of the process
  }
  g_reason =
      "libcublasLt.so.13/.so.12 not found (searched $CUDA_HOME/lib64, $LD_LIBRARY_PATH, "
      "/usr/local/cuda/lib64, /usr/lib/x86_64-linux-gnu, pip nvidia-cublas wheels, the loader path)";
  if (!tried.empty()) g_reason += "; load errors:" + tried;
}

}  // namespace

std::string CublasLtApi::status_string(cublasStatus_t status) const {
  std::string s = "cuBLAS status " + std::to_string(status);
  if (get_status_string) {
    const char* name = get_status_string(status);
    if (name) s += " (" + std::string(name) + ")";
  }
  return s;
}

std::vector<std::string> cublaslt_candidates() {
  std::vector<std::string> dirs;
  if (const char* v = std::getenv("CUDA_HOME")) add_dir(dirs, std::string(v) + "/lib64");
  if (const char* v = std::getenv("CUDA_PATH")) add_dir(dirs, std::string(v) + "/lib64");
  if (const char* v = std::getenv("LD_LIBRARY_PATH")) {
    std::string s(v);
    size_t start = 0;
    while (start <= s.size()) {
      const size_t end = s.find(':', start);
      add_dir(dirs, s.substr(start, end == std::string::npos ? std::string::npos : end - start));
      if (end == std::string::npos) break;
      start = end + 1;
    }
  }
  add_dir(dirs, "/usr/local/cuda/lib64");
  add_dir(dirs, "/usr/lib/x86_64-linux-gnu");
  const char* wheel_subdirs[] = {"nvidia/cublas/lib", "nvidia/cu13/lib"};
  std::vector<std::string> site_globs = {"/usr/lib/python3*/site-packages", "/usr/lib/python3*/dist-packages",
                                         "/usr/local/lib/python3*/site-packages",
                                         "/usr/local/lib/python3*/dist-packages",
                                         "/opt/*/.venv/lib/python3*/site-packages"};
  if (const char* home = std::getenv("HOME"))
    site_globs.push_back(std::string(home) + "/.local/lib/python3*/site-packages");
  if (const char* venv = std::getenv("VIRTUAL_ENV"))
    site_globs.push_back(std::string(venv) + "/lib/python3*/site-packages");
  for (const auto& site : site_globs) {
    for (const char* sub : wheel_subdirs) add_glob(dirs, site + "/" + sub);
  }
  std::vector<std::string> paths;
  const char* names[] = {"libcublasLt.so.13", "libcublasLt.so.12", "libcublasLt.so"};
  for (const auto& dir : dirs) {
    for (const char* name : names) paths.push_back(dir + "/" + name);
  }
  for (const char* name : names) paths.push_back(name);
  return paths;
}

const CublasLtApi* cublaslt_load(std::string* reason) {
  std::call_once(g_once, load_once);
  if (!g_loaded) {
    if (reason) *reason = g_reason;
    return nullptr;
  }
  return &g_api;
}

}  // namespace hipcode::cuda::blas
