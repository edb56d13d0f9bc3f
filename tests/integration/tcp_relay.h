// TcpRelay: a TCP forwarder on loopback that stands in for the network between a worker and the
// coordinator in integration tests, so a test can pull the cable without root (no network
// namespaces, no iptables). It also carries a test's own calls into a network namespace.
#ifndef OPTBENCH_TESTS_INTEGRATION_TCP_RELAY_H_
#define OPTBENCH_TESTS_INTEGRATION_TCP_RELAY_H_

#include <netinet/in.h>

#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace optbench::testing {

// 127.0.0.1:`port` as a socket address.
sockaddr_in LoopbackAddress(int port);

// Listens on 127.0.0.1 (a free port) and forwards every connection it accepts to
// 127.0.0.1:target_port, bytes unchanged, in both directions, on one internal thread.
//
//   auto relay = TcpRelay::Start(coordinator_port);
//   StartWorkerVia((*relay)->address(), "w");  // the worker dials the relay
//   (*relay)->Cut();   // the worker and the coordinator hear nothing from each other
//   (*relay)->Heal();  // what they sent meanwhile arrives, as TCP retransmits after a replug
//
// Thread-safe: Cut, Heal and Reset may be called from any thread; each takes effect before it
// returns. The destructor stops the thread and closes every socket.
class TcpRelay {
 public:
  // Unavailable when no socket can be set up.
  static absl::StatusOr<std::unique_ptr<TcpRelay>> Start(int target_port);

  // Listens on the Unix socket `socket_path` (replacing any file there) and forwards to `target`,
  // dialed from inside the network namespace `netns` (a name `ip netns add` made): how a test in
  // the root namespace reaches a server in a namespace without an address outside it. address()
  // is then "unix:<socket_path>" and port() 0. Unavailable when a socket cannot be set up or the
  // namespace cannot be entered.
  static absl::StatusOr<std::unique_ptr<TcpRelay>> StartIntoNamespace(
      const std::string& socket_path, const std::string& netns, const sockaddr_in& target);

  TcpRelay(const TcpRelay&) = delete;
  TcpRelay& operator=(const TcpRelay&) = delete;
  ~TcpRelay();

  int port() const { return port_; }
  // "127.0.0.1:<port>" (or "unix:<path>"), to give a client in place of the target's address.
  const std::string& address() const { return address_; }

  // A black hole, like a pulled cable: from now on nothing is read from or written to any
  // forwarded connection and no new connection is forwarded (the kernel still completes the
  // handshake into the listen backlog). No FIN and no RST reach either side: the sockets stay
  // open, and bytes in flight wait in kernel buffers until Heal(). Idempotent.
  void Cut();
  // Resumes forwarding, including the connections that queued up while cut. Idempotent.
  void Heal();
  // Aborts every forwarded connection with a RST to both peers, as a middlebox that lost its
  // state does; later connections are forwarded again (unless cut).
  void Reset();

  // Connections forwarded since Start (not counting those refused by the target).
  int connections() const;

 private:
  struct Pair;
  TcpRelay(int listen_fd, int port, std::string address, const sockaddr_in& target, int wake_read,
           int wake_write);
  // Takes `listen_fd` (closed on error) and starts the relay thread, in the network namespace
  // open as `netns_fd` (-1: the caller's).
  static absl::StatusOr<std::unique_ptr<TcpRelay>> Create(int listen_fd, int port,
                                                          std::string address,
                                                          const sockaddr_in& target, int netns_fd);
  // Applies a command (cut, heal, reset, stop) and waits until the relay thread has seen it.
  void Command(bool cut, bool reset, bool stop);
  void Loop();

  const int listen_fd_;
  const int port_;
  const std::string address_;
  const sockaddr_in target_;
  const int wake_read_;  // A pipe that interrupts the relay thread's poll().
  const int wake_write_;

  mutable absl::Mutex mu_;
  bool cut_ ABSL_GUARDED_BY(mu_) = false;
  bool reset_ ABSL_GUARDED_BY(mu_) = false;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  // Commands issued and commands the relay thread has taken into account.
  int64_t issued_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t applied_ ABSL_GUARDED_BY(mu_) = 0;
  int connections_ ABSL_GUARDED_BY(mu_) = 0;
  std::thread thread_;
};

}  // namespace optbench::testing

#endif  // OPTBENCH_TESTS_INTEGRATION_TCP_RELAY_H_
