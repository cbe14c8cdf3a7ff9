// CURVE keys, the allow-list, and the access guard over real ZeroMQ sockets in one process.
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <zmq.hpp>

#include "net/access_guard.h"
#include "net/curve.h"

using namespace std::chrono_literals;

namespace {

std::string temp_dir() {
  char pattern[] = "/tmp/ll-curve-XXXXXX";
  return ::mkdtemp(pattern);
}

// Sends "ping" from a client with `client_keys` to a guarded CURVE ROUTER; returns whether "pong" came back.
bool ping(const ll::net::KeyPair& cluster, const ll::net::KeyPair& client_keys, const ll::net::AllowList& allowed,
          uint64_t* refused) {
  ll::net::Security server_side;
  server_side.enabled = true;
  server_side.cluster = cluster;
  server_side.device = client_keys;
  server_side.allowed = std::make_shared<const ll::net::AllowList>(allowed);
  ll::net::install_security(server_side);
  zmq::context_t context(1);
  zmq::socket_t router(context, zmq::socket_type::router);
  router.set(zmq::sockopt::linger, 0);
  ll::net::secure_server(router);
  auto guard = ll::net::AccessGuard::start(context, {&router}, "test");
  REQUIRE(guard.ok());
  router.bind("tcp://127.0.0.1:*");
  const std::string endpoint = router.get(zmq::sockopt::last_endpoint);

  zmq::socket_t dealer(context, zmq::socket_type::dealer);
  dealer.set(zmq::sockopt::linger, 0);
  ll::net::secure_client(dealer);
  dealer.connect(endpoint);
  dealer.send(zmq::str_buffer("ping"), zmq::send_flags::none);
  bool answered = false;
  zmq::pollitem_t item{router.handle(), 0, ZMQ_POLLIN, 0};
  if (zmq::poll(&item, 1, 1500ms) > 0) {
    zmq::message_t id, body;
    (void)router.recv(id);
    (void)router.recv(body);
    router.send(id, zmq::send_flags::sndmore);
    router.send(zmq::str_buffer("pong"), zmq::send_flags::none);
    zmq::pollitem_t back{dealer.handle(), 0, ZMQ_POLLIN, 0};
    if (zmq::poll(&back, 1, 1500ms) > 0) {
      zmq::message_t reply;
      (void)dealer.recv(reply);
      answered = reply.to_string() == "pong";
    }
  }
  *refused = (*guard)->refused();
  dealer.close();
  guard->reset();
  router.close();
  ll::net::install_security(ll::net::Security{});
  return answered;
}

}  // namespace

TEST_CASE("KeyFileRoundTripsAndIsNeverOverwritten") {
  const std::string dir = temp_dir();
  auto keys = ll::net::generate_key_pair();
  REQUIRE(keys.ok());
  REQUIRE(ll::net::write_key_file(dir + "/k.key", *keys, "test").ok());
  auto read = ll::net::read_key_file(dir + "/k.key");
  REQUIRE(read.ok());
  CHECK(read->public_key == keys->public_key);
  CHECK(read->secret_key == keys->secret_key);
  CHECK_FALSE(ll::net::write_key_file(dir + "/k.key", *keys, "again").ok());
}

TEST_CASE("SecretKeyOfAnotherPairIsRejected") {
  const std::string dir = temp_dir();
  auto a = ll::net::generate_key_pair();
  auto b = ll::net::generate_key_pair();
  std::ofstream(dir + "/mixed.key") << "public = " << a->public_key << "\nsecret = " << b->secret_key << "\n";
  auto read = ll::net::read_key_file(dir + "/mixed.key");
  REQUIRE_FALSE(read.ok());
  CHECK(read.error().find("does not belong") != std::string::npos);
}

TEST_CASE("TruncatedKeyIsRejected") {
  const std::string dir = temp_dir();
  auto a = ll::net::generate_key_pair();
  std::ofstream(dir + "/short.key") << "public = " << a->public_key.substr(0, 30) << "\n";
  CHECK_FALSE(ll::net::read_key_file(dir + "/short.key").ok());
}

TEST_CASE("AllowListParsesNamesAndCommentsAndRejectsBadKeys") {
  auto a = ll::net::generate_key_pair();
  auto list = ll::net::parse_allow_list("# devices\n\n" + a->public_key + "  board1 device\n");
  REQUIRE(list.ok());
  REQUIRE(list->size() == 1);
  CHECK(list->at(a->public_key).name == "board1");
  auto bad = ll::net::parse_allow_list(a->public_key + " ok client\nnot-a-key x client\n");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().find("line 2") != std::string::npos);
}

TEST_CASE("LoopbackEndpointsAreRecognised") {
  CHECK(ll::net::is_loopback_endpoint("tcp://127.0.0.1:7700"));
  CHECK(ll::net::is_loopback_endpoint("tcp://localhost:7700"));
  CHECK(ll::net::is_loopback_endpoint("tcp://[::1]:7700"));
  CHECK_FALSE(ll::net::is_loopback_endpoint("tcp://0.0.0.0:7700"));
  CHECK_FALSE(ll::net::is_loopback_endpoint("tcp://192.168.1.5:7700"));
  CHECK_FALSE(ll::net::is_loopback_endpoint("tcp://127example.com:7700"));
}

TEST_CASE("AllowedKeyIsAdmittedAndUnknownKeyIsRefused") {
  auto cluster = ll::net::generate_key_pair();
  auto member = ll::net::generate_key_pair();
  auto stranger = ll::net::generate_key_pair();
  const ll::net::AllowList allowed = {{member->public_key, {"member", ll::net::kAllRoles}}};
  uint64_t refused = 0;
  CHECK(ping(*cluster, *member, allowed, &refused));
  CHECK(refused == 0);
  CHECK_FALSE(ping(*cluster, *stranger, allowed, &refused));
  CHECK(refused >= 1);
}

TEST_CASE("AllowListLineWithoutARoleIsRejected") {
  auto a = ll::net::generate_key_pair();
  auto list = ll::net::parse_allow_list(a->public_key + " board1\n");
  REQUIRE_FALSE(list.ok());
  CHECK(list.error().find("line 1: no role") != std::string::npos);
  auto unknown = ll::net::parse_allow_list(a->public_key + " board1 root\n");
  REQUIRE_FALSE(unknown.ok());
  CHECK(unknown.error().find("unknown role 'root'") != std::string::npos);
}

TEST_CASE("AllowListReadsEveryRoleOfAKey") {
  auto a = ll::net::generate_key_pair();
  auto b = ll::net::generate_key_pair();
  auto list = ll::net::parse_allow_list(a->public_key + " phone device\n" + b->public_key + " ops client,admin\n");
  REQUIRE(list.ok());
  const ll::net::Roles phone = list->at(a->public_key).roles, ops = list->at(b->public_key).roles;
  CHECK(ll::net::permits(phone, ll::net::Role::kDevice));
  CHECK(ll::net::permits(phone, ll::net::Role::kClient));  // a daemon serves the HTTP API with its key
  CHECK_FALSE(ll::net::permits(phone, ll::net::Role::kAdmin));
  CHECK(ll::net::permits(ops, ll::net::Role::kAdmin));
  CHECK_FALSE(ll::net::permits(ops, ll::net::Role::kDevice));
  CHECK(ll::net::roles_text(ops) == "client,admin");
}

TEST_CASE("AllowListKeyListedTwiceIsRejected") {
  auto a = ll::net::generate_key_pair();
  auto list = ll::net::parse_allow_list(a->public_key + " x client\n" + a->public_key + " y admin\n");
  REQUIRE_FALSE(list.ok());
  CHECK(list.error().find("line 2: key listed twice") != std::string::npos);
}
