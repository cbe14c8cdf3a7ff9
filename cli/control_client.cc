#include "cli/control_client.h"

#include <sstream>

#include "net/zmq_client.h"

namespace ll::cli {

std::vector<std::string> split_endpoints(const std::string& list) {
  std::vector<std::string> out;
  std::stringstream ss(list);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

Result<proto::Envelope> ask_daemon(const std::string& endpoints, proto::MessageType type, proto::MessageType expected,
                                   proto::Json body, int timeout_ms) {
  proto::Envelope request;
  request.type = type;
  request.from = "llctl";
  request.body = std::move(body);
  LL_ASSIGN_OR_RETURN(net::Frames frames, proto::encode_message(request));
  std::string last_error = "no endpoint given";
  for (const auto& endpoint : split_endpoints(endpoints)) {
    if (!proto::valid_endpoint(endpoint)) {
      last_error = "not an endpoint: " + endpoint;
      continue;
    }
    auto reply = net::request_reply(endpoint, frames, std::chrono::milliseconds(timeout_ms));
    if (!reply.ok()) {
      last_error = reply.error();
      continue;
    }
    auto decoded = proto::decode_message(*reply);
    if (auto* error = std::get_if<proto::ProtocolError>(&decoded)) {
      return make_error("bad reply from " + endpoint + ": " + error->message);
    }
    proto::Envelope message = std::get<proto::Envelope>(std::move(decoded));
    if (message.type == proto::MessageType::kError) {
      auto error = proto::ErrorBody::from_json(message.body);
      return make_error(error.ok() ? error->message : "lingualinkd at " + endpoint + " answered with an error");
    }
    if (message.type != expected) return make_error("unexpected reply type from " + endpoint);
    return message;
  }
  return make_error(last_error);
}

}  // namespace ll::cli
