#include "http/server.h"

#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <ctime>
#include <mutex>
#include <optional>
#include <random>
#include <thread>

#include "client/resume.h"
#include "common/log.h"
#include "http/api.h"
#include "http/connection.h"
#include "http/edge.h"
#include "http/errors.h"
#include "http/metrics.h"
#include "http/page.h"
#include "http/sse.h"
#include "http/text.h"
#include "http/topology.h"

namespace ll::http {
namespace {

using Clock = std::chrono::steady_clock;

constexpr auto kOpenTimeout = std::chrono::milliseconds(15000);  // the head's accept/refuse (queues behind work)
constexpr auto kTopologyMaxAge = std::chrono::milliseconds(500);
constexpr auto kResumeTimeout = std::chrono::milliseconds(30000);  // how long to look for a new head after a loss

std::string hex_id(const char* prefix, uint64_t session) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%s%016llx", prefix, static_cast<unsigned long long>(session));
  return buf;
}

// A request body httplib could not bound: 411 or 415 (see the pre-routing handler).
std::optional<ApiError> check_body_framing(const httplib::Request& req) {
  if (req.has_header("Transfer-Encoding") || (req.method == "POST" && !req.has_header("Content-Length"))) {
    ApiError e = bad_request("send the request body with a Content-Length (chunked bodies are not accepted)");
    e.status = 411;
    return e;
  }
  if (req.has_header("Content-Encoding") && req.get_header_value("Content-Encoding") != "identity") {
    ApiError e = bad_request("compressed request bodies (Content-Encoding) are not accepted");
    e.status = 415;
    return e;
  }
  return std::nullopt;
}

// Compares without an early exit, so the time taken does not tell how much of a guessed token was right.
bool constant_time_equal(const std::string& given, const std::string& token) {
  if (given.size() != token.size() || token.empty()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < token.size(); ++i) diff |= static_cast<unsigned char>(given[i] ^ token[i]);
  return diff == 0;
}

// One streamed completion, shared with the chunked content provider. The resume loop keeps the stream going when
// its head stage is lost (src/client/resume.h).
struct Stream {
  std::unique_ptr<client::ClusterHeadLocator> locator;
  std::unique_ptr<client::ZmqHeadConnector> connector;
  std::unique_ptr<client::ResumingStream> head;
  StopScanner scanner{{}};
  CompletionRequest request;
  std::string id;
  std::string model;
  int64_t created = 0;
  Clock::time_point begun;
};

}  // namespace

Result<HttpAddress> parse_http_address(const std::string& text) {
  const size_t colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == text.size()) {
    return make_error("--http must be HOST:PORT, e.g. 127.0.0.1:8080: " + text);
  }
  HttpAddress a;
  a.host = text.substr(0, colon);
  if (a.host.size() > 2 && a.host.front() == '[' && a.host.back() == ']') a.host = a.host.substr(1, a.host.size() - 2);
  const std::string port = text.substr(colon + 1);
  if (port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos || std::stoi(port) > 65535) {
    return make_error("--http port must be 0..65535: " + text);
  }
  a.port = std::stoi(port);
  for (char c : a.host) {
    const bool ok =
        (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '.' || c == ':' || c == '-';
    if (!ok || a.host.size() > 253) return make_error("--http host is not an address or host name: " + text);
  }
  return a;
}

bool is_loopback_host(const std::string& host) {
  return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

Status check_http_security(const HttpAddress& address, const std::string& token) {
  if (!token.empty()) {
    if (token.size() < 16 || token.size() > 256) return make_error("http_token must be 16..256 characters");
    for (char c : token) {
      if (c <= ' ' || c > '~') return make_error("http_token must be printable ASCII without spaces");
    }
  }
  if (!is_loopback_host(address.host) && token.empty()) {
    return make_error("--http " + address.host + ":" + std::to_string(address.port) +
                      " is not loopback: set http_token in the config file to serve beyond this device");
  }
  return Status::Ok();
}

struct HttpServer::Impl {
  HttpOptions options;
  std::unique_ptr<GuardedServer> server;
  EdgePolicy edge;
  std::thread thread;
  int port = 0;
  client::ControlClient control{std::vector<std::string>{}, "http", std::chrono::milliseconds(1500)};
  HttpCounters counters;
  std::atomic<bool> stopping{false};
  std::mutex topology_mutex;
  Clock::time_point topology_at{};
  nlohmann::json topology_cache;

  // The topology document, at most kTopologyMaxAge old: a page per viewer and a scraper share the asking.
  Result<nlohmann::json> topology() {
    std::lock_guard<std::mutex> lock(topology_mutex);
    if (!topology_cache.is_null() && Clock::now() - topology_at < kTopologyMaxAge) return topology_cache;
    LL_ASSIGN_OR_RETURN(topology_cache, cluster_topology(control));
    topology_at = Clock::now();
    return topology_cache;
  }

  void routes();
  void complete(const httplib::Request& req, httplib::Response& res, Endpoint endpoint);
  void complete_whole(Stream& s, httplib::Response& res);
  bool stream_chunks(Stream& s, httplib::DataSink& sink);
};

void HttpServer::Impl::routes() {
  server->set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    // First, before any handler: a browser page of another site must not reach the API, directly (Origin) or by
    // DNS rebinding (Host). Every refusal here leaves the body unread, so the connection ends with the answer.
    GuardedServer::head_complete();
    EdgeRequest edge_request;
    if (req.has_header("Host")) edge_request.host = req.get_header_value("Host");
    if (req.has_header("Origin")) edge_request.origin = req.get_header_value("Origin");
    edge_request.local_address = req.local_addr;
    if (auto refused = check_edge(edge, edge_request)) {
      server->log_refusal(refused->message, req.remote_addr);
      send_error(res, *refused);
      GuardedServer::close_after_response();
      return httplib::Server::HandlerResponse::Handled;
    }
    // Bodies: only with a Content-Length (checked against http_max_body_bytes before anything is read) and not
    // compressed. httplib 0.11.4 reads a chunked body, or one without a length, with no size limit
    // (CVE-2025-46728), and inflates a gzip/brotli body with none either (CVE-2026-22776).
    if (auto refused = check_body_framing(req)) {
      server->log_refusal("refused: " + refused->message, req.remote_addr);
      send_error(res, *refused);
      GuardedServer::close_after_response();
      return httplib::Server::HandlerResponse::Handled;
    }
    // The page itself holds no data, and liveness probes carry no secrets: both are open.
    if (options.token.empty() || req.path == "/" || req.path == "/health") {
      return httplib::Server::HandlerResponse::Unhandled;
    }
    const std::string auth = req.get_header_value("Authorization");
    const std::string prefix = "Bearer ";
    if (auth.rfind(prefix, 0) != 0 || !constant_time_equal(auth.substr(prefix.size()), options.token)) {
      ApiError e = api_error(401, "invalid_request_error", "missing or wrong bearer token (Authorization: Bearer ...)",
                             "invalid_api_key");
      send_error(res, e);
      res.set_header("WWW-Authenticate", "Bearer");
      GuardedServer::close_after_response();
      return httplib::Server::HandlerResponse::Handled;
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });
  // Errors httplib raises itself (413, 404 of an unknown path, 400 of a broken request) get OpenAI's shape too.
  server->set_error_handler([](const httplib::Request&, httplib::Response& res) {
    if (!res.body.empty()) return;
    const char* message = res.status == 413   ? "request body too large"
                          : res.status == 404 ? "no such endpoint"
                          : res.status == 405 ? "method not allowed"
                                              : "the request was refused";
    send_error(res, api_error(res.status, "invalid_request_error", message, ""));
  });
  server->set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
    std::string what = "internal error";
    try {
      if (ep) std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    send_error(res, api_error(500, "server_error", what, "internal"));
  });
  server->set_logger(
      [this](const httplib::Request&, const httplib::Response& res) { counters.count_response(res.status); });

  server->Get("/", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(topology_page_html(), "text/html; charset=utf-8");
  });
  server->Get("/health", [this](const httplib::Request&, httplib::Response& res) {
    auto plan = control.current_head();
    nlohmann::json body = {{"status", "ok"}, {"cluster", plan ? "reachable" : "unreachable"}};
    body["model"] = plan && !plan->model.empty() ? nlohmann::json(plan->model) : nlohmann::json(nullptr);
    res.set_content(dump(body), "application/json");
  });
  server->Get("/v1/models", [this](const httplib::Request&, httplib::Response& res) {
    auto plan = control.current_head();
    if (!plan) return send_error(res, api_error(503, "server_error", plan.error().message, "cluster_unavailable"));
    nlohmann::json data = nlohmann::json::array();
    if (!plan->model.empty()) {
      data.push_back({{"id", plan->model}, {"object", "model"}, {"created", 0}, {"owned_by", "lingualinked"}});
    }
    res.set_content(dump({{"object", "list"}, {"data", data}}), "application/json");
  });
  server->Get("/api/topology", [this](const httplib::Request&, httplib::Response& res) {
    auto t = topology();
    if (!t) return send_error(res, api_error(503, "server_error", t.error(), "cluster_unavailable"));
    res.set_header("Cache-Control", "no-store");
    res.set_content(dump(*t), "application/json");
  });
  server->Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    auto t = topology();
    if (!t) LL_WARN("metrics: " << t.error());
    res.set_content(render_metrics(t ? *t : nlohmann::json(), counters.snapshot()),
                    "text/plain; version=0.0.4; charset=utf-8");
  });
  server->Post("/v1/completions", [this](const httplib::Request& req, httplib::Response& res) {
    complete(req, res, Endpoint::kCompletions);
  });
  server->Post("/v1/chat/completions",
               [this](const httplib::Request& req, httplib::Response& res) { complete(req, res, Endpoint::kChat); });
}

void HttpServer::Impl::complete(const httplib::Request& req, httplib::Response& res, Endpoint endpoint) {
  ParsedRequest parsed = parse_completion_request(req.body, endpoint, proto::kMaxGenerateTokens);
  if (auto* e = std::get_if<ApiError>(&parsed)) return send_error(res, *e);
  CompletionRequest request = std::get<CompletionRequest>(std::move(parsed));
  const auto begun = Clock::now();
  auto plan = control.current_head();
  if (!plan) return send_error(res, api_error(503, "server_error", plan.error().message, "cluster_unavailable"));
  if (plan->endpoint.empty() || request.model != plan->model) {
    const std::string serving =
        plan->endpoint.empty() ? "no model is loaded (llctl load PKG)" : "this cluster serves '" + plan->model + "'";
    ApiError e = api_error(404, "invalid_request_error",
                           "the model '" + request.model + "' does not exist here; " + serving, "model_not_found");
    e.param = "model";
    return send_error(res, e);
  }
  std::string prompt = endpoint == Endpoint::kChat ? chat_prompt(request.messages) : request.prompt;
  if (prompt.size() > static_cast<size_t>(proto::kMaxPromptBytes)) {
    ApiError e = bad_request("the prompt is " + std::to_string(prompt.size()) + " bytes; at most " +
                                 std::to_string(proto::kMaxPromptBytes) + " are accepted",
                             endpoint == Endpoint::kChat ? "messages" : "prompt");
    e.code = "context_length_exceeded";
    return send_error(res, e);
  }
  // Without a seed, every request samples differently, as OpenAI's do; with one, the same text comes back.
  const uint64_t seed =
      request.has_seed ? request.seed : (static_cast<uint64_t>(std::random_device{}()) << 32) | std::random_device{}();
  proto::GenerateMsg generate = generate_message(request, std::move(prompt), seed);

  auto s = std::make_shared<Stream>();
  s->locator = std::make_unique<client::ClusterHeadLocator>(control);
  s->connector =
      std::make_unique<client::ZmqHeadConnector>(client::HeadStreamOptions{std::chrono::milliseconds(3000), &stopping});
  client::ResumeOptions resume;
  resume.open_timeout = kOpenTimeout;
  resume.stall_timeout = options.head_timeout;
  resume.resume_timeout = kResumeTimeout;
  resume.stop = &stopping;
  client::ResumeEvents events;
  events.on_lost = [](const client::HeadRef&, const client::ClientError& why, size_t tokens) {
    LL_WARN("http: " << why.message << "; resuming (" << tokens << " tokens so far)");
  };
  events.on_resumed = [](const client::HeadRef& head, Duration after, size_t) {
    LL_INFO("http: resumed on " << head.endpoint << " " << std::chrono::duration<double>(after).count()
                                << " s after losing the head");
  };
  s->head = std::make_unique<client::ResumingStream>(*s->locator, *s->connector, std::move(generate), resume, events);
  auto started = s->head->open(*plan);
  if (!started) return send_error(res, head_error(started.error(), endpoint));
  s->scanner = StopScanner(request.stop);
  s->id = hex_id(endpoint == Endpoint::kChat ? "chatcmpl-" : "cmpl-", started->session);
  s->model = plan->model;
  s->created = static_cast<int64_t>(std::time(nullptr));
  s->begun = begun;
  s->request = std::move(request);
  if (!s->request.stream) return complete_whole(*s, res);
  res.set_header("Cache-Control", "no-cache");
  res.set_header("X-Accel-Buffering", "no");
  counters.stream_started();
  res.set_chunked_content_provider(
      "text/event-stream", [this, s](size_t, httplib::DataSink& sink) { return stream_chunks(*s, sink); },
      [this](bool) { counters.stream_ended(); });
}

void HttpServer::Impl::complete_whole(Stream& s, httplib::Response& res) {
  bool first = true;
  while (true) {
    client::HeadEvent event = s.head->next();  // cancels the session itself when the server is stopping
    if (auto* tokens = std::get_if<proto::TokensMsg>(&event)) {
      if (first && !tokens->tokens.empty()) {
        counters.observe_first_token(std::chrono::duration<double>(Clock::now() - s.begun).count());
        first = false;
      }
      (void)s.scanner.push(tokens->text);
      if (s.scanner.stopped()) s.head->cancel();
      continue;
    }
    if (auto* error = std::get_if<client::ClientError>(&event)) {
      return send_error(res, head_error(*error, s.request.endpoint));
    }
    const auto& done = std::get<proto::DoneMsg>(event);
    (void)s.scanner.finish();
    const std::string finish = finish_reason(done.stop_reason, s.scanner.stopped());
    if (finish.empty()) {
      return send_error(
          res, api_error(503, "server_error", "the generation ended early: " + done.stop_reason, done.stop_reason));
    }
    const Usage usage = usage_of(done);
    counters.add_completion_tokens(done.tokens.size());
    const nlohmann::json body = s.request.endpoint == Endpoint::kChat
                                    ? chat_completion_json(s.id, s.created, s.model, s.scanner.sent(), finish, usage)
                                    : completion_json(s.id, s.created, s.model, s.scanner.sent(), finish, usage);
    res.set_content(dump(body), "application/json");
    return;
  }
}

bool HttpServer::Impl::stream_chunks(Stream& s, httplib::DataSink& sink) {
  const bool chat = s.request.endpoint == Endpoint::kChat;
  auto write = [&sink](const std::string& text) { return sink.write(text.data(), text.size()); };
  auto chunk = [&](const std::string& text, const std::string& finish, bool first) {
    return write(sse_event(dump(chat ? chat_chunk(s.id, s.created, s.model, text, finish, first)
                                     : completion_chunk(s.id, s.created, s.model, text, finish))));
  };
  // The client went away: the head frees the session (HeadStream's destructor cancels it).
  if (chat && !chunk("", "", true)) return false;
  bool first_token = true;
  while (true) {
    client::HeadEvent event = s.head->next();  // cancels the session itself when the server is stopping
    if (auto* tokens = std::get_if<proto::TokensMsg>(&event)) {
      if (first_token && !tokens->tokens.empty()) {
        counters.observe_first_token(std::chrono::duration<double>(Clock::now() - s.begun).count());
        first_token = false;
      }
      const std::string piece = s.scanner.push(tokens->text);
      if (!piece.empty() && !chunk(piece, "", false)) return false;
      if (s.scanner.stopped()) s.head->cancel();
      continue;
    }
    if (auto* error = std::get_if<client::ClientError>(&event)) {
      write(sse_event(dump(error_json(head_error(*error, s.request.endpoint)))));
      sink.done();
      return true;
    }
    const auto& done = std::get<proto::DoneMsg>(event);
    const std::string rest = s.scanner.finish();
    if (!rest.empty() && !chunk(rest, "", false)) return false;
    const std::string finish = finish_reason(done.stop_reason, s.scanner.stopped());
    counters.add_completion_tokens(done.tokens.size());
    if (finish.empty()) {
      write(sse_event(dump(error_json(
          api_error(503, "server_error", "the generation ended early: " + done.stop_reason, done.stop_reason)))));
    } else {
      chunk("", finish, false);
      if (s.request.include_usage) {
        const Usage usage = usage_of(done);
        write(sse_event(dump(usage_chunk(s.request.endpoint, s.id, s.created, s.model, usage))));
      }
      write(sse_done());
    }
    sink.done();
    return true;
  }
}

HttpServer::HttpServer() : impl_(std::make_unique<Impl>()) {}

HttpServer::~HttpServer() { stop(); }

int HttpServer::port() const { return impl_->port; }

Result<std::unique_ptr<HttpServer>> HttpServer::start(const HttpOptions& options) {
  LL_TRY_STATUS(check_http_security(options.address, options.token));
  if (options.threads < 1 || options.threads > 256) return make_error("http_threads must be 1..256");
  if (options.max_body_bytes < 1024) return make_error("http_max_body_bytes must be at least 1024");
  std::unique_ptr<HttpServer> server(new HttpServer());
  Impl& impl = *server->impl_;
  impl.options = options;
  impl.control = client::ControlClient({options.control_endpoint}, "http", std::chrono::milliseconds(1500));
  if (options.request_timeout < std::chrono::milliseconds(100))
    return make_error("http_request_timeout_ms is too short");
  if (options.max_client_connections < 0 || options.max_client_connections > options.threads) {
    return make_error("http_max_client_connections must be 0..http_threads");
  }
  for (const auto& h : options.allowed_hosts) {
    if (auto st = check_allowed_host(h); !st.ok()) return make_error("http_allowed_hosts: " + st.error());
  }
  for (const auto& o : options.allowed_origins) {
    if (auto st = check_allowed_origin(o); !st.ok()) return make_error("http_allowed_origins: " + st.error());
  }
  ConnectionLimits limits;
  limits.request_timeout = options.request_timeout;
  // An idle keep-alive connection holds a pool thread, and shutdown waits for it: keep that wait short.
  limits.keep_alive_timeout = std::chrono::milliseconds(1000);
  // One address may hold half the pool: the other half stays free for everyone else.
  limits.max_client_connections =
      options.max_client_connections > 0 ? options.max_client_connections : std::max(1, options.threads / 2);
  impl.server = std::make_unique<GuardedServer>(limits);
  const size_t threads = static_cast<size_t>(options.threads);
  impl.server->new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  impl.server->set_payload_max_length(options.max_body_bytes);
  impl.routes();
  const std::string& host = options.address.host;
  if (options.address.port == 0) {
    impl.port = impl.server->bind_to_any_port(host);
    if (impl.port <= 0) return make_error("cannot listen for HTTP on " + host + " (a free port)");
  } else {
    if (!impl.server->bind_to_port(host, options.address.port)) {
      return make_error("cannot listen for HTTP on " + host + ":" + std::to_string(options.address.port) +
                        " (in use, or not an address of this device?)");
    }
    impl.port = options.address.port;
  }
  impl.edge = make_edge_policy(host, impl.port, options.allowed_hosts, options.allowed_origins);
  impl.thread = std::thread([&impl] { impl.server->listen_after_bind(); });
  LL_INFO("HTTP API on http://" << (host.find(':') != std::string::npos ? "[" + host + "]" : host) << ":" << impl.port
                                << (options.token.empty() ? " (no token: loopback only)" : " (bearer token required)"));
  return server;
}

void HttpServer::stop() {
  if (!impl_ || !impl_->thread.joinable()) return;
  impl_->stopping = true;
  impl_->server->stop();
  impl_->thread.join();
}

}  // namespace ll::http
