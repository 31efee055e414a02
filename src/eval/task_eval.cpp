#include "eval/task_eval.h"

#include <algorithm>
#include <sstream>

#include "util/error.h"
#include "util/progress.h"

namespace patchlm {

std::size_t code_points(const std::string& s) {
  std::size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

namespace {

// First index of the maximum, as numpy's argmax.
std::size_t argmax(const std::vector<double>& v) {
  std::size_t best = 0;
  for (std::size_t i = 1; i < v.size(); ++i) {
    if (v[i] > v[best]) best = i;
  }
  return best;
}

}  // namespace

TaskResult evaluate_task(const std::string& name, const std::vector<TaskDoc>& docs, const LoglikelihoodScorer& scorer) {
  TaskResult r;
  r.task = name;
  r.docs = static_cast<std::int64_t>(docs.size());
  const bool norm = task_has_acc_norm(name);
  std::int64_t correct = 0, correct_norm = 0;
  Progress bar(name, r.docs, {"doc"});
  for (const TaskDoc& d : docs) {
    std::vector<double> lls, normed;
    for (const ChoiceRequest& c : d.choices) {
      double ll = scorer.score(c.context, c.continuation).logprob;
      lls.push_back(ll);
      normed.push_back(ll / static_cast<double>(code_points(c.choice)));
    }
    correct += static_cast<std::int64_t>(argmax(lls)) == d.gold;
    correct_norm += static_cast<std::int64_t>(argmax(norm ? normed : lls)) == d.gold;
    r.logliks.push_back(std::move(lls));
    r.gold.push_back(d.gold);
    bar.advance();
  }
  r.acc = static_cast<double>(correct) / static_cast<double>(r.docs);
  r.acc_norm = static_cast<double>(correct_norm) / static_cast<double>(r.docs);
  return r;
}

std::vector<std::string> parse_task_list(const std::string& spec) {
  if (spec == "all") return supported_tasks();
  std::vector<std::string> names;
  std::stringstream ss(spec);
  for (std::string t; std::getline(ss, t, ',');) {
    if (std::find(supported_tasks().begin(), supported_tasks().end(), t) == supported_tasks().end()) {
      throw UsageError(str_cat("--tasks: unknown task ", in_quotes(t)));
    }
    names.push_back(t);
  }
  if (names.empty()) throw UsageError("--tasks: no task named (a comma list of tasks, or all)");
  return names;
}

TaskSuiteResult evaluate_tasks(const std::vector<std::string>& names, const std::filesystem::path& dir,
                               std::int64_t limit, const LoglikelihoodScorer& scorer,
                               const std::function<void(const TaskResult&)>& on_task) {
  TaskSuiteResult suite;
  for (const std::string& name : names) {
    std::vector<TaskDoc> docs = read_task(name, dir);
    if (limit > 0 && static_cast<std::int64_t>(docs.size()) > limit) docs.resize(static_cast<std::size_t>(limit));
    suite.tasks.push_back(evaluate_task(name, docs, scorer));
    suite.mean_acc += suite.tasks.back().acc / static_cast<double>(names.size());
    suite.mean_acc_norm += suite.tasks.back().acc_norm / static_cast<double>(names.size());
    if (on_task) on_task(suite.tasks.back());
  }
  return suite;
}

}  // namespace patchlm
