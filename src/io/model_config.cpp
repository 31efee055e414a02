#include "io/model_config.h"

#include <cmath>

#include "io/gguf.h"
#include "util/error.h"

namespace patchlm {
namespace {

using nlohmann::json;

// Field access that names the file and the field in every error.
class Fields {
 public:
  Fields(const json& j, const std::string& source) : j_(j), source_(source) {}

  bool has(const char* key) const { return j_.contains(key) && !j_[key].is_null(); }

  std::int64_t integer(const char* key) const {
    if (!has(key)) throw Error(str_cat(source_, ": missing field ", in_quotes(key)));
    return integer_value(key, j_[key]);
  }
  std::int64_t integer(const char* key, std::int64_t fallback) const { return has(key) ? integer(key) : fallback; }

  double number(const char* key, double fallback) const {
    if (!has(key)) return fallback;
    if (!j_[key].is_number()) throw Error(str_cat(source_, ": field ", in_quotes(key), " must be a number, got ", j_[key].dump()));
    return j_[key].get<double>();
  }

  bool boolean(const char* key, bool fallback) const {
    if (!has(key)) return fallback;
    if (!j_[key].is_boolean()) throw Error(str_cat(source_, ": field ", in_quotes(key), " must be true or false"));
    return j_[key].get<bool>();
  }

  std::string string(const char* key, const std::string& fallback) const {
    if (!has(key)) return fallback;
    if (!j_[key].is_string()) throw Error(str_cat(source_, ": field ", in_quotes(key), " must be a string"));
    return j_[key].get<std::string>();
  }

  const json& raw(const char* key) const { return j_[key]; }

  std::int64_t integer_value(const char* key, const json& v) const {
    if (!v.is_number_integer()) throw Error(str_cat(source_, ": field ", in_quotes(key), " must be an integer, got ", v.dump()));
    return v.get<std::int64_t>();
  }

  const std::string& source() const { return source_; }

 private:
  const json& j_;
  const std::string& source_;
};

RopeConfig parse_rope_dict(const json& r, double fallback_theta, const std::string& source) {
  Fields f(r, source);
  RopeConfig rope;
  rope.type = f.string("rope_type", f.string("type", "default"));
  rope.theta = f.number("rope_theta", fallback_theta);
  rope.factor = f.number("factor", 1.0);
  rope.low_freq_factor = f.number("low_freq_factor", 1.0);
  rope.high_freq_factor = f.number("high_freq_factor", 4.0);
  rope.original_max_position = f.number("original_max_position_embeddings", 8192);
  if (rope.type != "default" && rope.type != "linear" && rope.type != "llama3") {
    throw Error(str_cat(source, ": rope type ", in_quotes(rope.type), " is not supported (default, linear, llama3)"));
  }
  return rope;
}

void parse_rope(const Fields& f, ModelConfig& c) {
  const FamilyTraits& family = traits(c.family);
  const double theta = f.number("rope_theta", family.default_rope_theta);
  const double local_theta = f.number("rope_local_base_freq", 10000.0);
  if (f.has("rope_parameters")) {  // transformers ≥ 5
    const json& rp = f.raw("rope_parameters");
    if (!rp.is_object()) throw Error(str_cat(f.source(), ": field 'rope_parameters' must be an object"));
    if (rp.contains("full_attention") || rp.contains("sliding_attention")) {  // per layer type (Gemma-3)
      c.rope = rp.contains("full_attention") ? parse_rope_dict(rp["full_attention"], theta, f.source()) : RopeConfig{};
      c.rope_local =
          rp.contains("sliding_attention") ? parse_rope_dict(rp["sliding_attention"], local_theta, f.source()) : c.rope;
    } else {
      c.rope = parse_rope_dict(rp, theta, f.source());
      c.rope_local = c.rope;
    }
    return;
  }
  c.rope = f.has("rope_scaling") ? parse_rope_dict(f.raw("rope_scaling"), theta, f.source()) : RopeConfig{};
  c.rope.theta = theta;
  c.rope_local = RopeConfig{};
  c.rope_local.theta = family.local_rope ? local_theta : theta;
  if (!family.local_rope) c.rope_local = c.rope;
}

void parse_layer_types(const Fields& f, ModelConfig& c) {
  c.sliding_layers.assign(static_cast<std::size_t>(c.num_layers), false);
  if (f.has("layer_types")) {
    const json& lt = f.raw("layer_types");
    if (!lt.is_array() || static_cast<std::int64_t>(lt.size()) != c.num_layers) {
      throw Error(str_cat(f.source(), ": field 'layer_types' must list one type per layer (", c.num_layers, ")"));
    }
    for (std::size_t i = 0; i < lt.size(); ++i) {
      std::string t = lt[i].is_string() ? lt[i].get<std::string>() : "";
      if (t != "sliding_attention" && t != "full_attention") {
        throw Error(str_cat(f.source(), ": layer_types[", i, "] = ", lt[i].dump(), " (sliding_attention or full_attention)"));
      }
      c.sliding_layers[i] = t == "sliding_attention";
    }
  } else if (c.family == Family::gemma3) {
    std::int64_t pattern = f.integer("sliding_window_pattern", f.integer("_sliding_window_pattern", 6));
    for (std::int64_t i = 0; i < c.num_layers; ++i) c.sliding_layers[i] = pattern > 0 && (i + 1) % pattern != 0;
  } else if (c.family == Family::qwen2 && f.boolean("use_sliding_window", false)) {
    std::int64_t first = f.integer("max_window_layers", 0);
    for (std::int64_t i = first; i < c.num_layers; ++i) c.sliding_layers[i] = true;
  }
  bool any_sliding = false;
  for (bool s : c.sliding_layers) any_sliding |= s;
  c.sliding_window = any_sliding ? f.integer("sliding_window") : 0;
}

void set_family_deltas(ModelConfig& c) {
  const FamilyTraits& f = traits(c.family);
  c.norm_plus_one = f.norm_plus_one;
  c.qk_norm = f.qk_norm;
  c.sandwich_norms = f.sandwich_norms;
  c.scale_embeddings = f.scale_embeddings;
}

}  // namespace

double ModelConfig::attention_scale() const {
  return 1.0 / std::sqrt(query_pre_attn_scalar > 0 ? query_pre_attn_scalar : static_cast<double>(head_dim));
}

ModelConfig parse_hf_config(const json& root, const std::string& source) {
  if (!root.is_object()) throw Error(str_cat(source, ": not a JSON object"));
  const json& j = root.contains("text_config") && root.value("model_type", "") == "gemma3" ? root["text_config"] : root;
  Fields f(j, source);
  ModelConfig c;
  const std::string model_type = Fields(root, source).string("model_type", "");
  const FamilyTraits* family = family_of_model_type(model_type);
  if (family == nullptr) {
    throw Error(str_cat(source, ": model_type ", in_quotes(model_type), " is not supported (", supported_model_types(), ")"));
  }
  c.family = family->family;
  c.model_type = family->model_type == "gemma3_text" ? "gemma3_text" : model_type;
  c.vocab_size = f.integer("vocab_size");
  c.hidden_size = f.integer("hidden_size");
  c.intermediate_size = f.integer("intermediate_size");
  c.num_layers = f.integer("num_hidden_layers");
  c.num_heads = f.integer("num_attention_heads");
  c.num_kv_heads = f.integer("num_key_value_heads", c.num_heads);
  c.head_dim = f.integer("head_dim", c.num_heads > 0 ? c.hidden_size / c.num_heads : 0);
  c.max_position_embeddings = f.integer("max_position_embeddings", 2048);
  c.rms_norm_eps = f.number("rms_norm_eps", 1e-6);
  validate_sizes(c, source);  // before anything is sized by them (layer types, RoPE tables)
  c.hidden_act = f.string("hidden_activation", f.string("hidden_act", std::string(family->default_activation)));
  c.tie_word_embeddings = f.boolean("tie_word_embeddings", family->default_tied_embeddings);
  if (Fields(root, source).has("tie_word_embeddings")) c.tie_word_embeddings = Fields(root, source).boolean("tie_word_embeddings", true);
  c.attention_bias = f.boolean("attention_bias", family->default_attention_bias);
  c.mlp_bias = f.boolean("mlp_bias", false);
  parse_rope(f, c);
  parse_layer_types(f, c);
  if (c.family == Family::gemma3) {
    c.query_pre_attn_scalar = f.number("query_pre_attn_scalar", 256);
    c.final_logit_softcapping = f.number("final_logit_softcapping", 0);
    if (f.number("attn_logit_softcapping", 0) != 0) {
      throw Error(str_cat(source, ": field 'attn_logit_softcapping' is not supported (Gemma-3 does not use it)"));
    }
  }
  c.bos_token_id = f.integer("bos_token_id", -1);
  if (f.has("eos_token_id")) {
    const json& e = f.raw("eos_token_id");
    if (e.is_array()) {
      for (const json& x : e) c.eos_token_ids.push_back(f.integer_value("eos_token_id", x));
    } else {
      c.eos_token_ids.push_back(f.integer("eos_token_id"));
    }
  }
  set_family_deltas(c);
  validate_config(c, source);
  return c;
}

ModelConfig config_from_gguf(const GgufHeader& h, const std::string& source) {
  const std::string arch = h.at("general.architecture", source).as_string("general.architecture");
  const FamilyTraits* family = family_of_gguf_architecture(arch);
  if (family == nullptr) {
    throw Error(str_cat(source, ": GGUF architecture ", in_quotes(arch), " is not supported (",
                        supported_gguf_architectures(), ")"));
  }
  ModelConfig c;
  c.family = family->family;
  c.model_type = family->model_type;
  auto key = [&](const char* k) { return arch + "." + k; };
  auto integer = [&](const char* k) { return h.at(key(k), source).as_int(key(k)); };
  auto integer_or = [&](const char* k, std::int64_t d) { const GgufValue* v = h.find(key(k)); return v ? v->as_int(key(k)) : d; };
  auto number_or = [&](const char* k, double d) { const GgufValue* v = h.find(key(k)); return v ? v->as_double(key(k)) : d; };

  c.num_layers = integer("block_count");
  c.hidden_size = integer("embedding_length");
  c.intermediate_size = integer("feed_forward_length");
  c.num_heads = integer("attention.head_count");
  c.num_kv_heads = integer_or("attention.head_count_kv", c.num_heads);
  c.head_dim = integer_or("attention.key_length", integer_or("rope.dimension_count", c.hidden_size / std::max<std::int64_t>(c.num_heads, 1)));
  c.max_position_embeddings = integer_or("context_length", 2048);
  c.rms_norm_eps = number_or("attention.layer_norm_rms_epsilon", 1e-6);
  if (const GgufValue* v = h.find(key("vocab_size"))) {
    c.vocab_size = v->as_int(key("vocab_size"));
  } else if (const GgufValue* t = h.find("tokenizer.ggml.tokens")) {
    c.vocab_size = static_cast<std::int64_t>(t->as_array("tokenizer.ggml.tokens").size());
  } else {
    throw Error(str_cat(source, ": cannot tell the vocabulary size (no ", key("vocab_size"), " nor tokenizer.ggml.tokens)"));
  }
  validate_sizes(c, source);  // before anything is sized by them
  bool has_output = false, has_qkv_bias = false;
  for (const auto& t : h.tensors) {
    has_output |= t.name == "output.weight";
    has_qkv_bias |= t.name == "blk.0.attn_q.bias";
    if (t.name == "rope_freqs.weight") {
      throw Error(str_cat(source, ": tensor 'rope_freqs.weight' (LLaMA-3.1 rope scaling in GGUF) is not supported yet; "
                                  "convert from the Hugging Face checkpoint instead"));
    }
  }
  c.tie_word_embeddings = !has_output;
  c.attention_bias = has_qkv_bias;
  c.rope.theta = number_or("rope.freq_base", family->default_rope_theta);
  c.rope_local = c.rope;
  c.sliding_layers.assign(static_cast<std::size_t>(c.num_layers), false);
  if (c.family == Family::gemma3) {
    c.hidden_act = "gelu_pytorch_tanh";
    c.rope_local.theta = 10000.0;  // llama.cpp and transformers use this fixed local base for Gemma-3
    c.sliding_window = integer("attention.sliding_window");
    for (std::int64_t i = 0; i < c.num_layers; ++i) c.sliding_layers[i] = (i + 1) % 6 != 0;
    c.query_pre_attn_scalar = static_cast<double>(c.head_dim);
  }
  if (const GgufValue* v = h.find("tokenizer.ggml.bos_token_id")) c.bos_token_id = v->as_int("tokenizer.ggml.bos_token_id");
  if (const GgufValue* v = h.find("tokenizer.ggml.eos_token_id")) c.eos_token_ids.push_back(v->as_int("tokenizer.ggml.eos_token_id"));
  set_family_deltas(c);
  validate_config(c, source);
  return c;
}

void validate_sizes(const ModelConfig& c, const std::string& source) {
  // Positive, and below bounds no real model reaches, so a typo never becomes a giant allocation.
  auto size = [&](const char* name, std::int64_t v, std::int64_t most) {
    if (v <= 0 || v > most) throw Error(str_cat(source, ": ", name, " must be in 1..", most, ", got ", v));
  };
  size("vocab_size", c.vocab_size, 1 << 24);
  size("hidden_size", c.hidden_size, 1 << 17);
  size("intermediate_size", c.intermediate_size, 1 << 20);
  size("num_hidden_layers", c.num_layers, 4096);
  size("num_attention_heads", c.num_heads, 4096);
  size("num_key_value_heads", c.num_kv_heads, 4096);
  size("head_dim", c.head_dim, 4096);
  size("max_position_embeddings", c.max_position_embeddings, std::int64_t{1} << 24);
}

void validate_config(const ModelConfig& c, const std::string& source) {
  validate_sizes(c, source);
  auto finite_positive = [&](const char* name, double v) {
    if (!(std::isfinite(v) && v > 0)) throw Error(str_cat(source, ": ", name, " must be a positive number, got ", v));
  };
  finite_positive("rope_theta", c.rope.theta);
  finite_positive("rope_theta (sliding layers)", c.rope_local.theta);
  finite_positive("rope factor", c.rope.factor);
  if (c.sliding_window < 0) throw Error(str_cat(source, ": sliding_window must be >= 0, got ", c.sliding_window));
  if (!(c.query_pre_attn_scalar >= 0) || !(c.final_logit_softcapping >= 0))
    throw Error(str_cat(source, ": query_pre_attn_scalar and final_logit_softcapping must be >= 0"));
  if (c.bos_token_id < -1 || c.bos_token_id >= c.vocab_size)
    throw Error(str_cat(source, ": bos_token_id ", c.bos_token_id, " is outside the vocabulary [0, ", c.vocab_size, ")"));
  for (std::int64_t e : c.eos_token_ids)
    if (e < 0 || e >= c.vocab_size)
      throw Error(str_cat(source, ": eos_token_id ", e, " is outside the vocabulary [0, ", c.vocab_size, ")"));
  if (c.num_heads % c.num_kv_heads != 0) {
    throw Error(str_cat(source, ": num_attention_heads ", c.num_heads, " is not a multiple of num_key_value_heads ", c.num_kv_heads));
  }
  if (c.head_dim % 2 != 0) throw Error(str_cat(source, ": head_dim ", c.head_dim, " must be even for rotary embeddings"));
  if (c.hidden_act != "silu" && c.hidden_act != "gelu_pytorch_tanh") {
    throw Error(str_cat(source, ": activation ", in_quotes(c.hidden_act), " is not supported (silu, gelu_pytorch_tanh)"));
  }
  if (!(c.rms_norm_eps > 0)) throw Error(str_cat(source, ": rms_norm_eps must be positive"));
}

nlohmann::ordered_json ModelConfig::to_hf_json() const {
  nlohmann::ordered_json j;
  j["architectures"] = {std::string(traits(family).hf_architecture)};
  j["model_type"] = model_type;
  j["vocab_size"] = vocab_size;
  j["hidden_size"] = hidden_size;
  j["intermediate_size"] = intermediate_size;
  j["num_hidden_layers"] = num_layers;
  j["num_attention_heads"] = num_heads;
  j["num_key_value_heads"] = num_kv_heads;
  j["head_dim"] = head_dim;
  j["max_position_embeddings"] = max_position_embeddings;
  j["rms_norm_eps"] = rms_norm_eps;
  j[family == Family::gemma3 ? "hidden_activation" : "hidden_act"] = hidden_act;
  j["tie_word_embeddings"] = tie_word_embeddings;
  j["attention_bias"] = attention_bias;
  if (family == Family::llama) j["mlp_bias"] = mlp_bias;
  auto rope_json = [](const RopeConfig& r) {
    nlohmann::ordered_json o{{"rope_type", r.type}, {"rope_theta", r.theta}};
    if (r.type != "default") o["factor"] = r.factor;
    if (r.type == "llama3") {
      o["low_freq_factor"] = r.low_freq_factor;
      o["high_freq_factor"] = r.high_freq_factor;
      o["original_max_position_embeddings"] = static_cast<std::int64_t>(r.original_max_position);
    }
    return o;
  };
  // transformers 5 reads rope_parameters; 4.x reads rope_theta (+ rope_local_base_freq on Gemma-3) and rope_scaling.
  // Both are written, and they agree (5.x merges a non-null rope_scaling into rope_parameters).
  auto scaling_json = [&](const RopeConfig& r) {
    if (r.type == "default") return nlohmann::ordered_json(nullptr);
    nlohmann::ordered_json o = rope_json(r);
    o.erase("rope_theta");
    return o;
  };
  j["rope_theta"] = rope.theta;
  j["rope_scaling"] = scaling_json(rope);
  if (family == Family::gemma3) {
    j["rope_local_base_freq"] = rope_local.theta;
    j["rope_parameters"] = {{"sliding_attention", rope_json(rope_local)}, {"full_attention", rope_json(rope)}};
    j["sliding_window"] = sliding_window;
    nlohmann::ordered_json types = nlohmann::ordered_json::array();
    for (bool s : sliding_layers) types.push_back(s ? "sliding_attention" : "full_attention");
    j["layer_types"] = types;
    // Older transformers 4.x derive the layer types from this period instead (every n-th layer full attention).
    for (std::size_t period = 1; period <= sliding_layers.size(); ++period) {
      bool matches = true;
      for (std::size_t i = 0; i < sliding_layers.size(); ++i) matches &= sliding_layers[i] == ((i + 1) % period != 0);
      if (matches) {
        j["sliding_window_pattern"] = period;
        break;
      }
    }
    // transformers validates this field as an integer.
    j["query_pre_attn_scalar"] = static_cast<std::int64_t>(std::llround(query_pre_attn_scalar));
    j["final_logit_softcapping"] = final_logit_softcapping > 0 ? nlohmann::ordered_json(final_logit_softcapping) : nullptr;
  } else {
    j["rope_parameters"] = rope_json(rope);
  }
  if (bos_token_id >= 0) j["bos_token_id"] = bos_token_id;
  if (eos_token_ids.size() == 1) j["eos_token_id"] = eos_token_ids[0];
  if (eos_token_ids.size() > 1) j["eos_token_id"] = eos_token_ids;
  return j;
}

}  // namespace patchlm
