#include "eval/tasks.h"

#include <gtest/gtest.h>

#include "eval/python_literal.h"
#include "util/error.h"

namespace patchlm {
namespace {

TEST(PythonLiteral, ListsDictsStringsAndEscapes) {
  nlohmann::json v = parse_python_literal(
      R"([{'answer': 'A', 'options': ["it's", 'b\'c', 'tab\tx', '\u00e9'], 'n': -3, 'f': 1.5, 'ok': True, 'no': None},])",
      "t");
  ASSERT_TRUE(v.is_array());
  EXPECT_EQ(v[0]["options"][0], "it's");
  EXPECT_EQ(v[0]["options"][1], "b'c");
  EXPECT_EQ(v[0]["options"][2], "tab\tx");
  EXPECT_EQ(v[0]["options"][3], "\u00e9");
  EXPECT_EQ(v[0]["n"], -3);
  EXPECT_EQ(v[0]["f"], 1.5);
  EXPECT_EQ(v[0]["ok"], true);
  EXPECT_TRUE(v[0]["no"].is_null());
}

TEST(PythonLiteral, MalformedInputIsAnErrorWithItsPosition) {
  for (const char* bad : {"[1, 2", "{'a' 1}", "'unterminated", "[1] x", "{1: 2}", ""}) {
    try {
      parse_python_literal(bad, "problems");
      FAIL() << bad;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("problems: not a Python literal"), std::string::npos) << e.what();
    }
  }
}

TEST(Tasks, PythonCapitalizeLowersTheRest) {
  EXPECT_EQ(python_capitalize("hELLO World"), "Hello world");
  EXPECT_EQ(python_capitalize("éTÉ"), "Été");
  EXPECT_EQ(python_capitalize(""), "");
}

TEST(Tasks, HellaswagPreprocess) {
  // Values from lm_eval.tasks.hellaswag.utils.preprocess.
  EXPECT_EQ(hellaswag_preprocess("  [header] How to cook [title] Boil water.  "), " How to cook. Boil water.");
  EXPECT_EQ(hellaswag_preprocess("a [step] b   c"), "a b  c");  // one pass of "  " → " ", as Python's replace
}

TEST(Tasks, WinograndeUsesPartialScoring) {
  TaskDoc d = make_task_doc("winogrande",
                            {{"sentence", "Ann helped Bea because _ was kind."}, {"option1", "Ann"}, {"option2", "Bea"},
                             {"answer", "2"}},
                            "w");
  ASSERT_EQ(d.choices.size(), 2u);
  EXPECT_EQ(d.choices[0].context, "Ann helped Bea because Ann");
  EXPECT_EQ(d.choices[1].context, "Ann helped Bea because Bea");
  EXPECT_EQ(d.choices[0].continuation, " was kind.");
  EXPECT_EQ(d.gold, 1);
}

TEST(Tasks, ArcNumericLabelsAndMmluTemplate) {
  TaskDoc arc = make_task_doc("arc_easy",
                              {{"question", "Q?"},
                               {"choices", {{"text", {"a", "b"}}, {"label", {"1", "2"}}}},
                               {"answerKey", "2"}},
                              "a");
  EXPECT_EQ(arc.gold, 1);
  EXPECT_EQ(arc.choices[0].context, "Question: Q?\nAnswer:");
  TaskDoc mmlu = make_task_doc(
      "mmlu", {{"question", " Why? "}, {"subject", "high_school_biology"}, {"choices", {"w", "x", "y", "z"}}, {"answer", 2}},
      "m");
  EXPECT_EQ(mmlu.choices[0].context,
            "The following are multiple choice questions (with answers) about high school biology.\n\n"
            "Why?\nA. w\nB. x\nC. y\nD. z\nAnswer:");
  EXPECT_EQ(mmlu.choices[2].continuation, " C");
}

TEST(Tasks, BadRecordsNameTheFieldAndPlace) {
  try {
    make_task_doc("piqa", {{"goal", "g"}, {"sol1", "a"}, {"sol2", "b"}, {"label", 5}}, "piqa.jsonl line 7");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("piqa.jsonl line 7"), std::string::npos);
  }
  EXPECT_THROW(make_task_doc("arc_easy", {{"question", "q"}}, "x"), Error);
  EXPECT_THROW(make_task_doc("winogrande", {{"sentence", "no blank"}, {"option1", "a"}, {"option2", "b"}, {"answer", "1"}}, "x"),
               Error);
  EXPECT_THROW(make_task_doc("squad", nlohmann::json::object(), "x"), UsageError);
}

}  // namespace
}  // namespace patchlm
