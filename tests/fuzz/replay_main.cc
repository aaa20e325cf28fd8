// Runs a libFuzzer target over saved inputs, without libFuzzer: every file named on the
// command line, or in a directory named there, is one input. `make test` replays the
// corpora in tests/fuzz/corpus/ this way, so the fuzz targets keep building with GCC and
// every input that once found a bug stays a regression test.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace {

bool replay(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "cannot read %s\n", file.c_str());
    return false;
  }
  std::vector<std::uint8_t> data((std::istreambuf_iterator<char>(in)),
                                 std::istreambuf_iterator<char>());
  (void)LLVMFuzzerTestOneInput(data.data(), data.size());
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t inputs = 0;
  for (int i = 1; i < argc; ++i) {
    const std::filesystem::path path(argv[i]);
    if (std::filesystem::is_directory(path)) {
      for (const auto& entry : std::filesystem::directory_iterator(path)) {
        if (!entry.is_regular_file()) continue;
        if (!replay(entry.path())) return 1;
        ++inputs;
      }
    } else {
      if (!replay(path)) return 1;
      ++inputs;
    }
  }
  std::printf("replayed %zu input(s)\n", inputs);
  // No input at all means a wrong path: fail rather than pass without testing anything.
  return inputs > 0 ? 0 : 1;
}
