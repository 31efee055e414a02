#include "data/corpus.h"

#include <algorithm>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "util/error.h"
#include "util/json_io.h"

namespace patchlm {
namespace fs = std::filesystem;
namespace {

bool is_text_file(const fs::path& p) {
  const std::string name = p.filename().string();
  for (const char* ext : {".txt", ".md", ".rst", ".jsonl", ".raw"}) {
    std::string e(ext);
    if (name.size() >= e.size() && name.compare(name.size() - e.size(), e.size(), e) == 0) return true;
  }
  return false;
}

std::string read_all(const fs::path& p) {
  require_regular_file(p);
  std::ifstream in(p, std::ios::binary);
  if (!in) throw Error(str_cat("cannot read ", in_quotes(p.string())));
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void add_jsonl(const fs::path& file, const std::string& id_prefix, std::vector<Document>& out) {
  for_each_jsonl(file, [&](const nlohmann::json& j, const std::string& where) {
    if (!j.is_object() || !j.contains("text") || !j["text"].is_string()) {
      throw Error(str_cat(where, ": expected an object with a string field 'text'"));
    }
    out.push_back({str_cat(id_prefix, ":", where.substr(where.rfind(' ') + 1)), j["text"].get<std::string>()});
  });
}

}  // namespace

Split parse_split(const std::string& name) {
  if (name == "train") return Split::train;
  if (name == "validation") return Split::validation;
  if (name == "test") return Split::test;
  if (name == "all") return Split::all;
  throw UsageError(str_cat("unknown split ", in_quotes(name), " (train, validation, test, all)"));
}

const char* split_name(Split split) {
  switch (split) {
    case Split::train: return "train";
    case Split::validation: return "validation";
    case Split::test: return "test";
    case Split::all: return "all";
  }
  return "?";
}

Split split_of(const std::string& document_id) {
  std::uint64_t h = 1469598103934665603ull;
  for (unsigned char c : document_id) {
    h ^= c;
    h *= 1099511628211ull;
  }
  const std::uint64_t bucket = h % 100;
  return bucket < 90 ? Split::train : bucket < 95 ? Split::validation : Split::test;
}

std::vector<Document> read_corpus(const fs::path& path, Split split) {
  std::error_code ec;
  if (!fs::exists(path, ec)) throw Error(str_cat("corpus ", in_quotes(path.string()), " does not exist"));
  std::vector<fs::path> files;
  const bool folder = fs::is_directory(path);
  if (folder) {
    for (const auto& e : fs::recursive_directory_iterator(path)) {
      if (e.is_regular_file() && is_text_file(e.path())) files.push_back(e.path());
    }
    std::sort(files.begin(), files.end());
  } else {
    files.push_back(path);
  }
  std::vector<Document> docs;
  for (const fs::path& f : files) {
    const std::string id = folder ? fs::relative(f, path).generic_string() : f.filename().string();
    if (f.extension() == ".jsonl") {
      add_jsonl(f, id, docs);
    } else {
      docs.push_back({id, read_all(f)});
    }
  }
  if (split != Split::all) {
    std::erase_if(docs, [&](const Document& d) { return split_of(d.id) != split; });
  }
  std::erase_if(docs, [](const Document& d) { return d.text.empty(); });
  if (docs.empty()) {
    throw Error(str_cat("corpus ", in_quotes(path.string()), " has no non-empty documents",
                        split == Split::all ? "" : str_cat(" in split ", split_name(split)),
                        folder ? " (looked for .txt .md .rst .jsonl .raw files)" : ""));
  }
  return docs;
}

fs::path default_corpus_path() { return "/usr/share/doc/python3.11/html/_sources"; }

}  // namespace patchlm
