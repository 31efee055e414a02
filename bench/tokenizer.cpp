// Benchmark: tokenizer load time and single-thread encode throughput on a text file.
//   bench_tokenizer TOKENIZER_DIR TEXT_FILE [REPEATS]
// The text is split into lines (as an evaluation would feed documents); throughput counts input bytes.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "io/tokenizer/tokenizer.h"

using Clock = std::chrono::steady_clock;
static double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: bench_tokenizer TOKENIZER_DIR TEXT_FILE [REPEATS]\n");
    return 2;
  }
  const int repeats = argc > 3 ? std::atoi(argv[3]) : 3;
  auto t0 = Clock::now();
  patchlm::Tokenizer tok = patchlm::Tokenizer::from_model(argv[1]);
  double load = since(t0);
  std::ifstream in(argv[2]);
  std::stringstream ss;
  ss << in.rdbuf();
  std::vector<std::string> docs;
  std::string line;
  while (std::getline(ss, line)) docs.push_back(line);
  std::size_t bytes = 0, tokens = 0;
  for (const auto& d : docs) bytes += d.size();
  double best = 1e30, first = 0;
  for (int r = 0; r < repeats; ++r) {
    auto t = Clock::now();
    tokens = 0;
    for (const auto& d : docs) tokens += tok.encode(d, false).size();
    best = std::min(best, since(t));
    if (r == 0) first = best;  // the word cache is cold only in the first pass
  }
  std::printf("load %.3f s; encode %.2f MB: first pass %.2f MB/s (cold cache), best = %.2f MB/s (%zu tokens, %d passes)\n",
              load, bytes / 1e6, bytes / 1e6 / first, bytes / 1e6 / best, tokens, repeats);
  return 0;
}
