// The relay the network-cut tests stand on: it forwards both ways, holds bytes back while cut
// (no FIN, no RST) and delivers them on Heal, and Reset aborts both sides.
#include "tests/integration/tcp_relay.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <memory>
#include <string>

#include "gtest/gtest.h"

namespace optbench::testing {
namespace {

// Blocking reads give up after 10 s, so a broken relay fails the test instead of hanging it.
void SetReadTimeout(int fd) {
  const timeval ten_seconds{10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &ten_seconds, sizeof(ten_seconds));
}

// A target listening on loopback, a relay in front of it, and one connection through the relay:
// client_ (dialed the relay) and server_ (accepted by the target).
class TcpRelayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    listener_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr = LoopbackAddress(0);
    socklen_t len = sizeof(addr);
    ASSERT_EQ(bind(listener_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    ASSERT_EQ(listen(listener_, 8), 0);
    ASSERT_EQ(getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &len), 0);
    auto relay = TcpRelay::Start(ntohs(addr.sin_port));
    ASSERT_TRUE(relay.ok()) << relay.status();
    relay_ = *std::move(relay);
    Connect();
  }

  void TearDown() override {
    relay_.reset();
    for (int fd : {client_, server_, listener_}) {
      if (fd >= 0) close(fd);
    }
  }

  void Connect() {
    if (client_ >= 0) close(client_);
    if (server_ >= 0) close(server_);
    client_ = socket(AF_INET, SOCK_STREAM, 0);
    const sockaddr_in addr = LoopbackAddress(relay_->port());
    ASSERT_EQ(connect(client_, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)), 0);
    server_ = accept(listener_, nullptr, nullptr);
    ASSERT_GE(server_, 0);
    SetReadTimeout(client_);
    SetReadTimeout(server_);
  }

  static void Send(int fd, const std::string& text) {
    ASSERT_EQ(send(fd, text.data(), text.size(), MSG_NOSIGNAL), static_cast<ssize_t>(text.size()));
  }

  // Reads exactly `n` bytes (or what arrives before EOF, an error or the read timeout).
  static std::string Receive(int fd, size_t n) {
    std::string out;
    char buf[256];
    while (out.size() < n) {
      const ssize_t got = recv(fd, buf, std::min(sizeof(buf), n - out.size()), 0);
      if (got <= 0) break;
      out.append(buf, static_cast<size_t>(got));
    }
    return out;
  }

  // Whether anything (bytes, FIN, RST) shows up on `fd` within `ms`.
  static bool AnythingWithin(int fd, int ms) {
    pollfd p{fd, POLLIN, 0};
    return poll(&p, 1, ms) > 0;
  }

  int listener_ = -1;
  int client_ = -1;
  int server_ = -1;
  std::unique_ptr<TcpRelay> relay_;
};

TEST_F(TcpRelayTest, ForwardsBothWays) {
  Send(client_, "ping");
  EXPECT_EQ(Receive(server_, 4), "ping");
  Send(server_, "pong!");
  EXPECT_EQ(Receive(client_, 5), "pong!");
  EXPECT_EQ(relay_->connections(), 1);
  EXPECT_EQ(relay_->address(), "127.0.0.1:" + std::to_string(relay_->port()));
}

TEST_F(TcpRelayTest, CutHoldsBytesBackWithoutClosingAndHealDeliversThem) {
  relay_->Cut();
  Send(client_, "sent while cut");
  Send(server_, "reply while cut");
  // Silence on both sides: no bytes, and no FIN or RST either (either would wake poll).
  EXPECT_FALSE(AnythingWithin(server_, 300));
  EXPECT_FALSE(AnythingWithin(client_, 300));
  relay_->Heal();
  EXPECT_EQ(Receive(server_, 14), "sent while cut");
  EXPECT_EQ(Receive(client_, 15), "reply while cut");
  EXPECT_EQ(relay_->connections(), 1);
}

TEST_F(TcpRelayTest, ResetAbortsBothSidesAndLaterConnectionsAreForwarded) {
  Send(client_, "x");
  ASSERT_EQ(Receive(server_, 1), "x");
  relay_->Reset();
  char byte;
  errno = 0;
  EXPECT_EQ(recv(client_, &byte, 1, 0), -1);
  EXPECT_EQ(errno, ECONNRESET);
  errno = 0;
  EXPECT_EQ(recv(server_, &byte, 1, 0), -1);
  EXPECT_EQ(errno, ECONNRESET);
  Connect();
  Send(client_, "again");
  EXPECT_EQ(Receive(server_, 5), "again");
  EXPECT_EQ(relay_->connections(), 2);
}

}  // namespace
}  // namespace optbench::testing
