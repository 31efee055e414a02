#pragma once
// Runs multiple-choice task documents through the log-likelihood scorer: acc (highest log-likelihood) and
// acc_norm (highest log-likelihood per character of the choice), as lm-evaluation-harness computes them.
#include <filesystem>
#include <functional>
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

// "all" or a comma list of supported task names; UsageError naming --tasks and an unknown name.
std::vector<std::string> parse_task_list(const std::string& spec);

struct TaskSuiteResult {
  std::vector<TaskResult> tasks;
  double mean_acc = 0;
  double mean_acc_norm = 0;  // acc_norm where the task defines it, else acc (PATCH.md's 8-task average)
};

// Every task of `names` read from `dir` (at most `limit` documents each, 0 = all) and scored; `on_task` (optional)
// sees each result as it is done.
TaskSuiteResult evaluate_tasks(const std::vector<std::string>& names, const std::filesystem::path& dir,
                               std::int64_t limit, const LoglikelihoodScorer& scorer,
                               const std::function<void(const TaskResult&)>& on_task = {});

// Python's len() of a UTF-8 string: code points.
std::size_t code_points(const std::string& s);

}  // namespace patchlm
