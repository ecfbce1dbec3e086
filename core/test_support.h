// Helpers shared by core's unit tests (not part of the hvsim_core library).
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "core/error.h"

namespace hvsim::testing {

/// A fresh directory under the test temp dir, removed with its contents at scope exit.
class TempDir {
 public:
  TempDir() {
    std::string pattern = std::filesystem::temp_directory_path() / "hvsim-core-test-XXXXXX";
    if (!mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string file(const std::string& name) const { return path_ + "/" + name; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

/// Runs `fn`, expecting an InputError whose message contains `part`.
template <typename Fn>
void expect_input_error(Fn&& fn, const std::string& part) {
  try {
    fn();
    ADD_FAILURE() << "expected InputError containing \"" << part << "\"";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find(part), std::string::npos)
        << "message: " << e.what() << "\nexpected to contain: " << part;
  }
}

inline std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

inline void write_bytes(const std::string& path, const std::vector<uint8_t>& data) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
}

/// True if Debian's Python exists (used as an independent JSON parser).
inline bool have_python() {
  return std::filesystem::exists("/usr/bin/python3");
}

/// Parses `path` with Python's json module: the whole file, or each line if `lines`.
inline bool python_parses_json(const std::string& path, bool lines = false) {
  std::string code =
      lines ? "import json,sys; [json.loads(l) for l in open(sys.argv[1],encoding=\"utf-8\")]"
            : "import json,sys; json.load(open(sys.argv[1],encoding=\"utf-8\"))";
  std::string cmd = "/usr/bin/python3 -c '" + code + "' '" + path + "'";
  return std::system(cmd.c_str()) == 0;
}

}  // namespace hvsim::testing
