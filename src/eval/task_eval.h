#pragma once
// Runs multiple-choice task documents through the log-likelihood scorer: acc (highest log-likelihood) and
// acc_norm (highest log-likelihood per character of the choice), as lm-evaluation-harness computes them.
#include <string>
#include <vector>

#include "eval/loglikelihood.h"
#include "eval/tasks.h"

namespace patchlm {

struct TaskResult {
  std::string task;
  std::int64_t docs = 0;
  double acc = 0;
  double acc_norm = 0;  // equals acc for tasks without length normalisation (winogrande, mmlu)
  std::vector<std::vector<double>> logliks;  // per document, per choice
  std::vector<std::int64_t> gold;
};

TaskResult evaluate_task(const std::string& name, const std::vector<TaskDoc>& docs, const LoglikelihoodScorer& scorer);

// Python's len() of a UTF-8 string: code points.
std::size_t code_points(const std::string& s);

}  // namespace patchlm
