#include "io/tokenizer/post_processors.h"

#include "util/error.h"

namespace patchlm::tok {

void PostProcessor::apply(std::vector<std::uint32_t>& ids) const {
  if (prefix.empty() && suffix.empty()) return;
  ids.insert(ids.begin(), prefix.begin(), prefix.end());
  ids.insert(ids.end(), suffix.begin(), suffix.end());
}

PostProcessor make_post_processor(const nlohmann::json& j) {
  PostProcessor p;
  if (j.is_null()) return p;
  const std::string type = j.value("type", "");
  if (type == "ByteLevel") return p;
  if (type == "Sequence") {
    for (const auto& part : j.at("processors")) {
      PostProcessor q = make_post_processor(part);
      p.prefix.insert(p.prefix.end(), q.prefix.begin(), q.prefix.end());
      p.suffix.insert(p.suffix.begin(), q.suffix.begin(), q.suffix.end());
    }
    return p;
  }
  if (type != "TemplateProcessing") {
    throw Error(str_cat("tokenizer.json: post_processor type ", in_quotes(type),
                        " is not supported (TemplateProcessing, ByteLevel, Sequence)"));
  }
  bool seen_sequence = false;
  for (const auto& item : j.at("single")) {
    if (item.contains("Sequence")) {
      seen_sequence = true;
      continue;
    }
    const std::string name = item.at("SpecialToken").at("id").get<std::string>();
    const auto& special = j.at("special_tokens");
    if (!special.contains(name)) throw Error(str_cat("tokenizer.json: template token ", in_quotes(name), " has no ids"));
    for (const auto& id : special[name].at("ids")) (seen_sequence ? p.suffix : p.prefix).push_back(id.get<std::uint32_t>());
  }
  return p;
}

}  // namespace patchlm::tok
