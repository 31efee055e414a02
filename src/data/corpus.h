#pragma once
// Text corpora for evaluation, calibration and mask learning: documents read from a file or a folder (txt, md, rst
// and jsonl with a "text" field), split deterministically by document into train / validation / test.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace patchlm {

struct Document {
  std::string id;  // relative path, plus ":LINE" for jsonl records
  std::string text;
};

enum class Split { train, validation, test, all };

Split parse_split(const std::string& name);  // train | validation | test | all; UsageError otherwise
const char* split_name(Split split);

// Which split a document belongs to: a stable hash of its id (FNV-1a 64), 90 % train, 5 % validation, 5 % test.
// Stable across machines and runs, and adding a document never moves the others.
Split split_of(const std::string& document_id);

// Reads a file or every matching file under a folder (sorted by path). Throws Error naming the file (and the line,
// for jsonl) on unreadable files, malformed JSON lines or a missing "text" field; and when nothing is found.
std::vector<Document> read_corpus(const std::filesystem::path& path, Split split = Split::all);

// Debian's python3.11-doc sources, installed by `make setup`: the default real corpus.
std::filesystem::path default_corpus_path();

}  // namespace patchlm
