#include "eval/tasks.h"

#include <utf8proc.h>

#include <algorithm>
#include <regex>

#include "eval/python_literal.h"
#include "io/tokenizer/unicode.h"
#include "util/error.h"
#include "util/json_io.h"

namespace patchlm {
namespace {

using nlohmann::json;

[[noreturn]] void bad(const std::string& where, const std::string& what) { throw Error(str_cat(where, ": ", what)); }

const json& field(const json& r, const char* key, const std::string& where) {
  if (!r.is_object() || !r.contains(key)) bad(where, str_cat("missing field ", in_quotes(key)));
  return r[key];
}

std::string text_field(const json& r, const char* key, const std::string& where) {
  const json& v = field(r, key, where);
  if (!v.is_string()) bad(where, str_cat("field ", in_quotes(key), " must be a string"));
  return v.get<std::string>();
}

// Labels come as ints or strings ("0", "1", ...).
std::int64_t int_field(const json& r, const char* key, const std::string& where) {
  const json& v = field(r, key, where);
  if (v.is_number_integer()) return v.get<std::int64_t>();
  if (v.is_string()) {
    try {
      return std::stoll(v.get<std::string>());
    } catch (const std::exception&) {
    }
  }
  bad(where, str_cat("field ", in_quotes(key), " must be an integer, got ", v.dump()));
}

std::vector<std::string> string_list(const json& v, const char* what, const std::string& where) {
  if (!v.is_array()) bad(where, str_cat(what, " must be a list"));
  std::vector<std::string> out;
  for (const json& x : v) {
    if (!x.is_string()) bad(where, str_cat(what, " must hold strings"));
    out.push_back(x.get<std::string>());
  }
  return out;
}

std::string strip(const std::string& s) {
  const char* ws = " \t\n\r\f\v";
  std::size_t b = s.find_first_not_of(ws);
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(ws) - b + 1);
}

TaskDoc same_context(const std::string& context, const std::vector<std::string>& choices, std::int64_t gold,
                     const std::string& where) {
  if (gold < 0 || gold >= static_cast<std::int64_t>(choices.size())) {
    bad(where, str_cat("answer index ", gold, " is outside the ", choices.size(), " choices"));
  }
  TaskDoc d;
  for (const std::string& c : choices) d.choices.push_back({context, " " + c, c});
  d.gold = gold;
  return d;
}

// ARC and OpenBookQA: {"choices": {"text": [...], "label": [...]}, "answerKey": "B"}.
TaskDoc labelled_choices(const json& r, const std::string& context, const std::string& where) {
  const json& choices = field(r, "choices", where);
  std::vector<std::string> texts = string_list(field(choices, "text", where), "choices.text", where);
  std::vector<std::string> labels = string_list(field(choices, "label", where), "choices.label", where);
  std::string key = text_field(r, "answerKey", where);
  key.erase(0, key.find_first_not_of(' '));
  auto it = std::find(labels.begin(), labels.end(), key);
  if (it == labels.end()) bad(where, str_cat("answerKey ", in_quotes(key), " is not one of the labels"));
  return same_context(context, texts, it - labels.begin(), where);
}

TaskDoc winogrande(const json& r, const std::string& where) {
  const std::string sentence = text_field(r, "sentence", where);
  const std::size_t blank = sentence.find('_');
  if (blank == std::string::npos) bad(where, "sentence has no '_' blank");
  const std::string target = strip(sentence.substr(blank + 1));
  const std::string answer = field(r, "answer", where).is_string() ? text_field(r, "answer", where)
                                                                   : std::to_string(int_field(r, "answer", where));
  if (answer != "1" && answer != "2") bad(where, str_cat("answer must be \"1\" or \"2\", got ", in_quotes(answer)));
  TaskDoc d;
  // Partial scoring: the option fills the blank in the context; the rest of the sentence is scored.
  for (const char* key : {"option1", "option2"}) {
    std::string option = text_field(r, key, where);
    d.choices.push_back({sentence.substr(0, blank) + option, " " + target, target});
  }
  d.gold = answer == "1" ? 0 : 1;
  return d;
}

TaskDoc hellaswag(const json& r, const std::string& where) {
  const std::string ctx = text_field(r, "ctx_a", where) + " " + python_capitalize(text_field(r, "ctx_b", where));
  const std::string query = hellaswag_preprocess(text_field(r, "activity_label", where) + ": " + ctx);
  std::vector<std::string> endings = string_list(field(r, "endings", where), "endings", where);
  for (std::string& e : endings) e = hellaswag_preprocess(e);
  return same_context(query, endings, int_field(r, "label", where), where);
}

std::string subject_name(std::string s) {
  std::replace(s.begin(), s.end(), '_', ' ');
  return s;
}

TaskDoc mmlu(const json& r, const std::string& where) {
  std::vector<std::string> options = string_list(field(r, "choices", where), "choices", where);
  if (options.size() != 4) bad(where, str_cat("mmlu needs 4 choices, got ", options.size()));
  std::string context = "The following are multiple choice questions (with answers) about " +
                        subject_name(text_field(r, "subject", where)) + ".\n\n" + strip(text_field(r, "question", where));
  const char* letters[] = {"A", "B", "C", "D"};
  for (int i = 0; i < 4; ++i) context += str_cat("\n", letters[i], ". ", options[i]);
  context += "\nAnswer:";
  return same_context(context, {"A", "B", "C", "D"}, int_field(r, "answer", where), where);
}

// RACE: one record per article with all its questions; earlier questions and their answers become context.
TaskDoc race(const json& r, const std::string& where) {
  json problems = field(r, "problems", where);
  if (problems.is_string()) problems = parse_python_literal(problems.get<std::string>(), where + " problems");
  if (!problems.is_array() || problems.empty()) bad(where, "problems must be a non-empty list");
  auto answer_index = [&](const json& p) {
    std::string a = text_field(p, "answer", where);
    if (a.size() != 1 || a[0] < 'A' || a[0] > 'D') bad(where, str_cat("answer ", in_quotes(a), " is not A-D"));
    return static_cast<std::int64_t>(a[0] - 'A');
  };
  std::string text = "Article: " + text_field(r, "article", where) + "\n\n";
  for (std::size_t i = 0; i + 1 < problems.size(); ++i) {
    const json& p = problems[i];
    std::vector<std::string> options = string_list(field(p, "options", where), "options", where);
    const std::string question = text_field(p, "question", where);
    const std::string answer = options.at(static_cast<std::size_t>(answer_index(p)));
    if (question.size() >= 6 && question.compare(question.size() - 6, 6, "  _  .") == 0) {
      text += question.substr(0, question.size() - 5) + answer + "\n";
    } else {
      text += "Question: " + question + "\n" + "Answer: " + answer + "\n";
    }
  }
  const json& last = problems.back();
  text += text_field(last, "question", where);
  return same_context(text, string_list(field(last, "options", where), "options", where), answer_index(last), where);
}

}  // namespace

const std::vector<std::string>& supported_tasks() {
  static const std::vector<std::string> names = {"piqa", "arc_easy", "arc_challenge", "winogrande",
                                                 "openbookqa", "race", "hellaswag", "mmlu"};
  return names;
}

bool task_has_acc_norm(const std::string& name) { return name != "winogrande" && name != "mmlu"; }

std::string python_capitalize(const std::string& text) {
  std::string out;
  bool first = true;
  for (std::size_t i = 0; i < text.size();) {
    std::size_t n = 0;
    char32_t cp = tok::decode_utf8(text, i, &n);
    auto c = static_cast<utf8proc_int32_t>(cp);
    tok::append_utf8(out, static_cast<char32_t>(first ? utf8proc_totitle(c) : utf8proc_tolower(c)));
    first = false;
    i += n;
  }
  return out;
}

std::string hellaswag_preprocess(const std::string& text) {
  static const std::regex kBracketed(R"(\[.*?\])");
  std::string s = strip(text);
  std::string out;
  for (std::size_t pos = 0;;) {  // " [title]" → ". "
    std::size_t hit = s.find(" [title]", pos);
    out.append(s, pos, hit == std::string::npos ? std::string::npos : hit - pos);
    if (hit == std::string::npos) break;
    out += ". ";
    pos = hit + 8;
  }
  s = std::regex_replace(out, kBracketed, "");
  out.clear();
  for (std::size_t pos = 0;;) {  // Python's replace("  ", " "): one left-to-right pass
    std::size_t hit = s.find("  ", pos);
    out.append(s, pos, hit == std::string::npos ? std::string::npos : hit - pos);
    if (hit == std::string::npos) break;
    out += " ";
    pos = hit + 2;
  }
  return out;
}

TaskDoc make_task_doc(const std::string& name, const json& r, const std::string& where) {
  if (name == "piqa") {
    return same_context("Question: " + text_field(r, "goal", where) + "\nAnswer:",
                        {text_field(r, "sol1", where), text_field(r, "sol2", where)}, int_field(r, "label", where), where);
  }
  if (name == "arc_easy" || name == "arc_challenge") {
    return labelled_choices(r, "Question: " + text_field(r, "question", where) + "\nAnswer:", where);
  }
  if (name == "openbookqa") return labelled_choices(r, text_field(r, "question_stem", where), where);
  if (name == "winogrande") return winogrande(r, where);
  if (name == "hellaswag") return hellaswag(r, where);
  if (name == "mmlu") return mmlu(r, where);
  if (name == "race") return race(r, where);
  throw UsageError(str_cat("unknown task ", in_quotes(name), " (piqa, arc_easy, arc_challenge, winogrande, openbookqa, ",
                           "race, hellaswag, mmlu)"));
}

std::vector<TaskDoc> read_task(const std::string& name, const std::filesystem::path& dir) {
  if (std::find(supported_tasks().begin(), supported_tasks().end(), name) == supported_tasks().end()) {
    make_task_doc(name, json::object(), "");  // throws the unknown-task UsageError
  }
  std::vector<std::filesystem::path> files;
  if (std::filesystem::exists(dir / (name + ".jsonl"))) {
    files.push_back(dir / (name + ".jsonl"));
  } else if (std::filesystem::is_directory(dir / name)) {
    for (const auto& e : std::filesystem::directory_iterator(dir / name)) {
      if (e.path().extension() == ".jsonl") files.push_back(e.path());
    }
    std::sort(files.begin(), files.end());
  }
  if (files.empty()) throw Error(str_cat("task ", in_quotes(name), ": no ", (dir / (name + ".jsonl")).string()));
  std::vector<TaskDoc> docs;
  for (const auto& f : files) {
    for_each_jsonl(f, [&](const json& record, const std::string& where) {
      docs.push_back(make_task_doc(name, record, where));
    });
  }
  if (docs.empty()) throw Error(str_cat("task ", in_quotes(name), ": no records in ", files.front().string()));
  return docs;
}

}  // namespace patchlm
