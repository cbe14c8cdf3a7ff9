// ControlClient: encodes a request, asks each endpoint in turn, decodes and checks the reply's type, then reads the
// body into its type. Thread-safety: see the header.
#include "client/control_client.h"

#include <algorithm>
#include <sstream>

#include "client/request.h"

namespace ll::client {

std::vector<std::string> split_endpoints(const std::string& list) {
  std::vector<std::string> out;
  std::stringstream ss(list);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

ControlClient::ControlClient(std::vector<std::string> endpoints, std::string from, std::chrono::milliseconds timeout)
    : endpoints_(std::move(endpoints)), from_(std::move(from)), timeout_(timeout) {}

ControlClient ControlClient::from_list(const std::string& endpoints, std::string from,
                                       std::chrono::milliseconds timeout) {
  return ControlClient(split_endpoints(endpoints), std::move(from), timeout);
}

ControlClient ControlClient::with_timeout(std::chrono::milliseconds timeout) const {
  return ControlClient(endpoints_, from_, timeout);
}

void ControlClient::prefer_next() {
  if (endpoints_.size() > 1) std::rotate(endpoints_.begin(), endpoints_.begin() + 1, endpoints_.end());
}

ClientResult<proto::Envelope> ControlClient::call(proto::MessageType type, proto::MessageType expected,
                                                  proto::Json body, std::chrono::milliseconds timeout) const {
  proto::Envelope request;
  request.type = type;
  request.from = from_;
  request.body = std::move(body);
  auto frames = proto::encode_message(request);
  if (!frames) return ClientError{ErrorCode::kBadRequest, frames.error()};
  ClientError last{ErrorCode::kUnreachable, "no endpoint given"};
  for (const auto& endpoint : endpoints_) {
    if (!proto::valid_endpoint(endpoint)) {
      last = ClientError{ErrorCode::kUnreachable, "not an endpoint: " + endpoint};
      continue;
    }
    auto reply = request_reply(endpoint, *frames, timeout);
    if (!reply) {
      last = reply.take_error();
      continue;
    }
    auto decoded = proto::decode_message(*reply);
    if (auto* error = std::get_if<proto::ProtocolError>(&decoded)) {
      return ClientError{ErrorCode::kMalformed, "bad reply from " + endpoint + ": " + error->message};
    }
    proto::Envelope message = std::get<proto::Envelope>(std::move(decoded));
    if (message.type == proto::MessageType::kError) {
      auto error = proto::ErrorBody::from_json(message.body);
      return ClientError{ErrorCode::kDaemonError,
                         error.ok() ? error->message : "lingualinkd at " + endpoint + " answered with an error"};
    }
    if (message.type != expected) {
      return ClientError{ErrorCode::kMalformed, std::string("unexpected reply type from ") + endpoint + ": " +
                                                    proto::type_name(message.type) + ", not " +
                                                    proto::type_name(expected)};
    }
    return message;
  }
  return last;
}

namespace {

// A body decoder's Result as a ClientResult: a reply that does not validate is malformed.
template <typename T>
ClientResult<T> typed(Result<T> body, proto::MessageType type) {
  if (!body)
    return ClientError{ErrorCode::kMalformed, std::string("malformed ") + proto::type_name(type) + ": " + body.error()};
  return std::move(body).value();
}

}  // namespace

ClientResult<proto::DevicesBody> ControlClient::get_devices() const {
  LL_ASSIGN_OR_RETURN(proto::Envelope reply, call(proto::MessageType::kGetDevices, proto::MessageType::kDevices,
                                                  proto::Json::object(), timeout_));
  return typed(proto::DevicesBody::from_json(reply.body), proto::MessageType::kDevices);
}

ClientResult<proto::StatusBody> ControlClient::get_status() const {
  LL_ASSIGN_OR_RETURN(proto::Envelope reply, call(proto::MessageType::kGetStatus, proto::MessageType::kStatus,
                                                  proto::Json::object(), timeout_));
  return typed(proto::StatusBody::from_json(reply.body), proto::MessageType::kStatus);
}

ClientResult<proto::RefreshStartedBody> ControlClient::refresh_profile() const {
  LL_ASSIGN_OR_RETURN(
      proto::Envelope reply,
      call(proto::MessageType::kRefreshProfile, proto::MessageType::kRefreshStarted, proto::Json::object(), timeout_));
  return typed(proto::RefreshStartedBody::from_json(reply.body), proto::MessageType::kRefreshStarted);
}

ClientResult<PlanInfo> ControlClient::get_plan() const {
  LL_ASSIGN_OR_RETURN(proto::Envelope reply, call(proto::MessageType::kGetPlan, proto::MessageType::kPlanInfo,
                                                  proto::Json::object(), timeout_));
  return parse_plan_info(reply.body);
}

ClientResult<PlanInfo> ControlClient::load(const LoadRequest& request, std::chrono::milliseconds timeout) const {
  proto::Json body = {{"package", request.package},
                      {"objective", request.objective},
                      {"context", request.context},
                      {"wire", request.wire}};
  if (request.policy != "optimal") body["policy"] = request.policy;
  if (request.max_sessions > 0) body["max_sessions"] = request.max_sessions;
  if (request.dry_run) body["dry_run"] = true;
  LL_ASSIGN_OR_RETURN(proto::Envelope reply,
                      call(proto::MessageType::kLoad, proto::MessageType::kPlanInfo, std::move(body), timeout));
  return parse_plan_info(reply.body);
}

ClientResult<double> ControlClient::set_speed(double speed) const {
  LL_ASSIGN_OR_RETURN(proto::Envelope reply, call(proto::MessageType::kSetSpeed, proto::MessageType::kSpeedSet,
                                                  proto::Json{{"speed", speed}}, timeout_));
  return typed(proto::get_number(reply.body, "speed"), proto::MessageType::kSpeedSet);
}

ClientResult<proto::Json> ControlClient::remove_device(const std::string& device) const {
  LL_ASSIGN_OR_RETURN(proto::Envelope reply, call(proto::MessageType::kRemoveDevice, proto::MessageType::kDeviceRemoved,
                                                  proto::Json{{"name", device}}, timeout_));
  return std::move(reply.body);
}

ClientResult<std::string> ControlClient::leader_endpoint() const {
  LL_ASSIGN_OR_RETURN(proto::DevicesBody devices, get_devices());
  if (devices.leader.empty()) {
    return ClientError{ErrorCode::kUnavailable, "the cluster has no leader yet (no quorum?); try again shortly"};
  }
  for (const auto& d : devices.devices) {
    if (d.profile.name == devices.leader) return d.profile.endpoint;
  }
  return ClientError{ErrorCode::kUnavailable,
                     "the leader " + devices.leader + " is not among the devices " + devices.self + " knows"};
}

ClientResult<HeadRef> ControlClient::current_head() const {
  LL_ASSIGN_OR_RETURN(PlanInfo plan, get_plan());
  HeadRef head{plan.head_data_endpoint, plan.version, plan.model, plan.error};
  if (head.endpoint.empty() || !head.model.empty()) return head;
  // A follower knows where the head is but not the model's name: the leader planned it.
  LL_ASSIGN_OR_RETURN(std::string leader, leader_endpoint());
  LL_ASSIGN_OR_RETURN(PlanInfo full, ControlClient({leader}, from_, timeout_).get_plan());
  head.model = full.model;
  return head;
}

}  // namespace ll::client
