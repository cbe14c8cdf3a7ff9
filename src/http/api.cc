#include "http/api.h"

#include <cmath>
#include <optional>

#include "common/json_depth.h"
#include "proto/json_fields.h"
#include "proto/limits.h"

namespace ll::http {
namespace {

Json null_or(const std::string& s) { return s.empty() ? Json(nullptr) : Json(s); }

Json usage_json(const Usage& u) {
  Json j = {{"prompt_tokens", u.prompt_tokens},
            {"completion_tokens", u.completion_tokens},
            {"total_tokens", u.prompt_tokens + u.completion_tokens}};
  if (!u.speculate.empty() && u.speculate != "off") {
    j["speculation"] = {
        {"mode", u.speculate}, {"drafted", u.drafted}, {"accepted", u.accepted}, {"decode_steps", u.decode_steps}};
  }
  return j;
}

// off | ngram | draft:<name>, the name as the wire's names are ([A-Za-z0-9._-], up to 64 bytes).
bool valid_speculate(const std::string& mode) {
  if (mode == "off" || mode == "ngram") return true;
  return mode.rfind("draft:", 0) == 0 && proto::valid_name(std::string_view(mode).substr(6));
}

// A message's content: a string, or OpenAI's array of parts of which only text parts are understood.
std::variant<std::string, ApiError> message_content(const Json& content, const std::string& param) {
  if (content.is_string()) return content.get<std::string>();
  if (content.is_null()) return std::string();
  if (!content.is_array() || content.size() > kMaxMessages) {
    return bad_request(param + " must be a string or an array of text parts", param);
  }
  std::string text;
  for (const auto& part : content) {
    // Types are checked before any value is read: nlohmann's value() and get() throw on a mismatch (a 500).
    const bool text_part = part.is_object() && part.contains("type") && part["type"].is_string() &&
                           part["type"].get<std::string>() == "text" && part.contains("text") &&
                           part["text"].is_string();
    if (!text_part) {
      return bad_request(param + ": only parts of type 'text' (a string) with a string 'text' are supported", param);
    }
    text += part["text"].get<std::string>();
  }
  return text;
}

}  // namespace

ApiError bad_request(std::string message, std::string param) {
  ApiError e;
  e.status = 400;
  e.message = std::move(message);
  e.param = std::move(param);
  return e;
}

Json error_json(const ApiError& e) {
  return {
      {"error", {{"message", e.message}, {"type", e.type}, {"param", null_or(e.param)}, {"code", null_or(e.code)}}}};
}

ParsedRequest parse_completion_request(std::string_view body, Endpoint endpoint, int64_t max_tokens_limit) {
  if (json_nesting_depth(body) > kMaxJsonDepth) return bad_request("request body is nested too deeply");
  Json j = Json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return bad_request("request body is not valid JSON");
  if (!j.is_object()) return bad_request("request body must be a JSON object");
  CompletionRequest r;
  r.endpoint = endpoint;

  if (!j.contains("model") || !j["model"].is_string()) return bad_request("'model' (a string) is required", "model");
  r.model = j["model"].get<std::string>();
  if (r.model.empty() || r.model.size() > kMaxModelNameBytes)
    return bad_request("'model' is empty or too long", "model");

  if (endpoint == Endpoint::kCompletions) {
    if (!j.contains("prompt")) return bad_request("'prompt' is required", "prompt");
    const Json& p = j["prompt"];
    if (p.is_string()) {
      r.prompt = p.get<std::string>();
    } else if (p.is_array() && p.size() == 1 && p[0].is_string()) {
      r.prompt = p[0].get<std::string>();
    } else {
      return bad_request("'prompt' must be a string (or an array of exactly one string)", "prompt");
    }
  } else {
    if (!j.contains("messages") || !j["messages"].is_array()) {
      return bad_request("'messages' (an array) is required", "messages");
    }
    const Json& ms = j["messages"];
    if (ms.empty() || ms.size() > kMaxMessages) {
      return bad_request("'messages' must hold 1.." + std::to_string(kMaxMessages) + " messages", "messages");
    }
    for (size_t i = 0; i < ms.size(); ++i) {
      const std::string param = "messages[" + std::to_string(i) + "]";
      if (!ms[i].is_object() || !ms[i].contains("role") || !ms[i]["role"].is_string()) {
        return bad_request(param + " needs a 'role'", param);
      }
      ChatMessage m;
      m.role = ms[i]["role"].get<std::string>();
      if (m.role == "developer") m.role = "system";  // OpenAI's newer name for the system role
      if (m.role != "system" && m.role != "user" && m.role != "assistant") {
        return bad_request(param + ".role must be system, user or assistant", param + ".role");
      }
      auto content = message_content(ms[i].value("content", Json(nullptr)), param + ".content");
      if (auto* e = std::get_if<ApiError>(&content)) return *e;
      m.content = std::get<std::string>(std::move(content));
      r.messages.push_back(std::move(m));
    }
  }

  // max_tokens (chat also accepts OpenAI's newer max_completion_tokens).
  const char* max_key =
      j.contains("max_completion_tokens") && endpoint == Endpoint::kChat ? "max_completion_tokens" : "max_tokens";
  if (j.contains(max_key) && !j[max_key].is_null()) {
    const Json& v = j[max_key];
    if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() > max_tokens_limit) {
      return bad_request(std::string("'") + max_key + "' must be an integer in 0.." + std::to_string(max_tokens_limit),
                         max_key);
    }
    r.max_tokens = v.get<int64_t>();
  } else {
    // Chat runs until the end of the answer or of the context; completions keep OpenAI's short default.
    r.max_tokens = endpoint == Endpoint::kChat ? max_tokens_limit : kDefaultCompletionTokens;
  }

  auto number = [&](const char* key, double lo, double hi, bool lo_open, const char* range,
                    double& out) -> std::optional<ApiError> {
    if (!j.contains(key) || j[key].is_null()) return std::nullopt;
    const Json& v = j[key];
    const double x = v.is_number() ? v.get<double>() : NAN;
    if (!std::isfinite(x) || x > hi || (lo_open ? x <= lo : x < lo)) {
      return bad_request(std::string("'") + key + "' must be a number in " + range, key);
    }
    out = x;
    return std::nullopt;
  };
  if (auto e = number("temperature", 0, 2, false, "[0, 2]", r.temperature)) return *e;
  if (auto e = number("top_p", 0, 1, true, "(0, 1]", r.top_p)) return *e;
  if (j.contains("top_k") && !j["top_k"].is_null()) {
    const Json& v = j["top_k"];
    if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() > (1 << 24)) {
      return bad_request("'top_k' must be an integer in 0..16777216", "top_k");
    }
    r.top_k = v.get<int64_t>();
  }
  if (j.contains("seed") && !j["seed"].is_null()) {
    const Json& v = j["seed"];
    if (!v.is_number_integer() || (v.is_number_integer() && !v.is_number_unsigned() && v.get<int64_t>() < 0)) {
      return bad_request("'seed' must be a non-negative integer", "seed");
    }
    r.has_seed = true;
    r.seed = v.get<uint64_t>();
  }
  if (j.contains("stop") && !j["stop"].is_null()) {
    const Json& v = j["stop"];
    std::vector<Json> items;
    if (v.is_string()) {
      items.push_back(v);
    } else if (v.is_array() && v.size() <= kMaxStops) {
      items.assign(v.begin(), v.end());
    } else {
      return bad_request("'stop' must be a string or an array of up to 4 strings", "stop");
    }
    for (const auto& s : items) {
      if (!s.is_string() || s.get<std::string>().empty() || s.get<std::string>().size() > kMaxStopBytes) {
        return bad_request("'stop' entries must be strings of 1..256 bytes", "stop");
      }
      r.stop.push_back(s.get<std::string>());
    }
  }
  if (j.contains("n") && !j["n"].is_null() && !(j["n"].is_number_integer() && j["n"].get<int64_t>() == 1)) {
    return bad_request("only n = 1 is supported", "n");
  }
  if (j.contains("stream") && !j["stream"].is_null()) {
    if (!j["stream"].is_boolean()) return bad_request("'stream' must be a boolean", "stream");
    r.stream = j["stream"].get<bool>();
  }
  if (j.contains("speculate") && !j["speculate"].is_null()) {
    const Json& v = j["speculate"];
    if (!v.is_string() || !valid_speculate(v.get<std::string>())) {
      return bad_request("'speculate' must be off, ngram or draft:<name> (a name of letters, digits, '.', '_', '-')",
                         "speculate");
    }
    r.speculate = v.get<std::string>();
  }
  if (j.contains("draft_tokens") && !j["draft_tokens"].is_null()) {
    const Json& v = j["draft_tokens"];
    if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() > proto::kMaxDraftTokens) {
      return bad_request("'draft_tokens' must be an integer in 0.." + std::to_string(proto::kMaxDraftTokens),
                         "draft_tokens");
    }
    r.draft_tokens = v.get<int64_t>();
  }
  if (j.contains("stream_options") && j["stream_options"].is_object()) {
    const Json& o = j["stream_options"];
    if (o.contains("include_usage")) {
      if (!o["include_usage"].is_boolean()) {
        return bad_request("'stream_options.include_usage' must be a boolean", "stream_options");
      }
      r.include_usage = o["include_usage"].get<bool>();
    }
  }
  return r;
}

proto::GenerateMsg generate_message(const CompletionRequest& request, std::string prompt, uint64_t seed) {
  proto::GenerateMsg generate;
  generate.prompt = std::move(prompt);
  generate.max_tokens = request.max_tokens;
  generate.sampling = proto::SamplingWire{request.temperature, request.top_k, request.top_p, seed};
  generate.speculate = request.speculate;
  generate.draft_tokens = request.draft_tokens;
  return generate;
}

Usage usage_of(const proto::DoneMsg& done) {
  Usage usage{static_cast<int64_t>(done.prompt_tokens.size()), static_cast<int64_t>(done.tokens.size())};
  usage.speculate = done.speculate;
  usage.drafted = done.drafted;
  usage.accepted = done.accepted;
  usage.decode_steps = done.decode_steps;
  return usage;
}

std::string finish_reason(const std::string& stop_reason, bool stopped_by_sequence) {
  if (stopped_by_sequence || stop_reason == "eos") return "stop";
  if (stop_reason == "max_tokens" || stop_reason == "context") return "length";
  return "";
}

Json completion_json(const std::string& id, int64_t created, const std::string& model, const std::string& text,
                     const std::string& finish, const Usage& usage) {
  return {{"id", id},
          {"object", "text_completion"},
          {"created", created},
          {"model", model},
          {"choices", {{{"text", text}, {"index", 0}, {"logprobs", nullptr}, {"finish_reason", null_or(finish)}}}},
          {"usage", usage_json(usage)}};
}

Json chat_completion_json(const std::string& id, int64_t created, const std::string& model, const std::string& text,
                          const std::string& finish, const Usage& usage) {
  return {{"id", id},
          {"object", "chat.completion"},
          {"created", created},
          {"model", model},
          {"choices",
           {{{"index", 0},
             {"message", {{"role", "assistant"}, {"content", text}}},
             {"logprobs", nullptr},
             {"finish_reason", null_or(finish)}}}},
          {"usage", usage_json(usage)}};
}

Json completion_chunk(const std::string& id, int64_t created, const std::string& model, const std::string& text,
                      const std::string& finish) {
  return {{"id", id},
          {"object", "text_completion"},
          {"created", created},
          {"model", model},
          {"choices", {{{"text", text}, {"index", 0}, {"logprobs", nullptr}, {"finish_reason", null_or(finish)}}}}};
}

Json chat_chunk(const std::string& id, int64_t created, const std::string& model, const std::string& text,
                const std::string& finish, bool first) {
  Json delta = Json::object();
  if (first) delta["role"] = "assistant";
  if (!text.empty() || (first && finish.empty())) delta["content"] = text;
  return {{"id", id},
          {"object", "chat.completion.chunk"},
          {"created", created},
          {"model", model},
          {"choices", {{{"index", 0}, {"delta", delta}, {"logprobs", nullptr}, {"finish_reason", null_or(finish)}}}}};
}

Json usage_chunk(Endpoint endpoint, const std::string& id, int64_t created, const std::string& model,
                 const Usage& usage) {
  return {{"id", id},
          {"object", endpoint == Endpoint::kChat ? "chat.completion.chunk" : "text_completion"},
          {"created", created},
          {"model", model},
          {"choices", Json::array()},
          {"usage", usage_json(usage)}};
}

std::string dump(const Json& json) { return json.dump(-1, ' ', false, Json::error_handler_t::replace); }

}  // namespace ll::http
