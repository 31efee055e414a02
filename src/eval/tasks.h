#pragma once
// Zero-shot multiple-choice tasks in the lm-evaluation-harness formulation: each document becomes one
// (context, continuation) request per choice; the model's log-likelihood of each continuation picks the answer.
// Task files are JSONL in the field layout of each public data set (see docs/tasks.md).
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace patchlm {

struct ChoiceRequest {
  std::string context;
  std::string continuation;  // includes the target delimiter (" ") in front
  std::string choice;        // the choice text alone: its length normalises acc_norm
};

struct TaskDoc {
  std::vector<ChoiceRequest> choices;
  std::int64_t gold = 0;
};

struct TaskSpec {
  std::string name;        // piqa, arc_easy, arc_challenge, winogrande, openbookqa, race, hellaswag, mmlu
  bool has_acc_norm = true;
};

const std::vector<std::string>& supported_tasks();

// One JSON record of task `name` → its requests. Throws Error naming `where` (file:line) on a malformed record.
TaskDoc make_task_doc(const std::string& name, const nlohmann::json& record, const std::string& where);

// Reads <dir>/<name>.jsonl (or <dir>/<name>/*.jsonl for mmlu's subjects).
std::vector<TaskDoc> read_task(const std::string& name, const std::filesystem::path& dir);

bool task_has_acc_norm(const std::string& name);

// HellaSwag's text cleaning and Python's str.capitalize(), exposed for tests.
std::string hellaswag_preprocess(const std::string& text);
std::string python_capitalize(const std::string& text);

}  // namespace patchlm
