#include "eval/task_eval.h"

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

}  // namespace patchlm
