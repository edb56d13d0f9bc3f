#include "tests/integration/tcp_relay.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <future>
#include <list>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace optbench::testing {
namespace {

constexpr size_t kChunkBytes = 64 << 10;

absl::Status ErrnoError(const char* what) {
  return absl::UnavailableError(absl::StrCat("tcp relay: ", what, ": ", std::strerror(errno)));
}

// gRPC writes small frames (pings, acks) it wants delivered now; Nagle would hold them back.
void SetNoDelay(int fd) {
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

// close() with a zero linger time sends a RST instead of a FIN.
void CloseWithReset(int fd) {
  const linger abort_now{1, 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &abort_now, sizeof(abort_now));
  close(fd);
}

}  // namespace

sockaddr_in LoopbackAddress(int port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  return addr;
}

// One forwarded connection: fd[0] was accepted from the client, fd[1] dials the target.
// pending[i] holds bytes read from fd[i] and not yet written to fd[1 - i]; a side is read only
// when its pending buffer is empty, so a slow reader slows the writer (no unbounded buffering).
struct TcpRelay::Pair {
  int fd[2] = {-1, -1};
  std::string pending[2];
  bool dead = false;
};

absl::StatusOr<std::unique_ptr<TcpRelay>> TcpRelay::Start(int target_port) {
  const int listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (listen_fd < 0) return ErrnoError("socket");
  const int one = 1;
  setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr = LoopbackAddress(0);
  socklen_t len = sizeof(addr);
  if (bind(listen_fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      listen(listen_fd, 64) != 0 ||
      getsockname(listen_fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    absl::Status error = ErrnoError("listening on 127.0.0.1");
    close(listen_fd);
    return error;
  }
  const int port = ntohs(addr.sin_port);
  return Create(listen_fd, port, absl::StrCat("127.0.0.1:", port), LoopbackAddress(target_port),
                /*netns_fd=*/-1);
}

absl::StatusOr<std::unique_ptr<TcpRelay>> TcpRelay::StartIntoNamespace(
    const std::string& socket_path, const std::string& netns, const sockaddr_in& target) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (socket_path.size() >= sizeof(addr.sun_path)) {
    return absl::InvalidArgumentError(absl::StrCat("tcp relay: socket path ", socket_path,
                                                   " is longer than ", sizeof(addr.sun_path) - 1,
                                                   " bytes"));
  }
  std::memcpy(addr.sun_path, socket_path.data(), socket_path.size());
  // Where `ip netns add` mounts the namespace it names.
  const std::string netns_path = "/var/run/netns/" + netns;
  const int netns_fd = open(netns_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (netns_fd < 0) {
    const int error = errno;
    return absl::UnavailableError(
        absl::StrCat("tcp relay: opening ", netns_path, ": ", std::strerror(error)));
  }
  const int listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  unlink(socket_path.c_str());
  if (listen_fd < 0 || bind(listen_fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      listen(listen_fd, 64) != 0) {
    absl::Status error = ErrnoError("listening on a unix socket");
    if (listen_fd >= 0) close(listen_fd);
    close(netns_fd);
    return error;
  }
  absl::StatusOr<std::unique_ptr<TcpRelay>> relay =
      Create(listen_fd, /*port=*/0, "unix:" + socket_path, target, netns_fd);
  close(netns_fd);
  return relay;
}

absl::StatusOr<std::unique_ptr<TcpRelay>> TcpRelay::Create(int listen_fd, int port,
                                                           std::string address,
                                                           const sockaddr_in& target,
                                                           int netns_fd) {
  int wake[2];
  if (pipe2(wake, O_NONBLOCK | O_CLOEXEC) != 0) {
    absl::Status error = ErrnoError("pipe");
    close(listen_fd);
    return error;
  }
  std::unique_ptr<TcpRelay> relay(
      new TcpRelay(listen_fd, port, std::move(address), target, wake[0], wake[1]));
  // Only the relay thread moves into the namespace, so the sockets it dials live there while the
  // listening socket, made above, stays in the caller's.
  std::promise<absl::Status> entered;
  std::future<absl::Status> entered_status = entered.get_future();
  relay->thread_ = std::thread([r = relay.get(), netns_fd, entered = std::move(entered)]() mutable {
    entered.set_value(netns_fd < 0 || setns(netns_fd, CLONE_NEWNET) == 0
                          ? absl::OkStatus()
                          : ErrnoError("entering the network namespace"));
    r->Loop();
  });
  absl::Status status = entered_status.get();
  if (!status.ok()) return status;  // The destructor stops the thread before anything dials.
  return relay;
}

TcpRelay::TcpRelay(int listen_fd, int port, std::string address, const sockaddr_in& target,
                   int wake_read, int wake_write)
    : listen_fd_(listen_fd),
      port_(port),
      address_(std::move(address)),
      target_(target),
      wake_read_(wake_read),
      wake_write_(wake_write) {}

TcpRelay::~TcpRelay() {
  Command(/*cut=*/true, /*reset=*/false, /*stop=*/true);
  thread_.join();
  close(listen_fd_);
  close(wake_read_);
  close(wake_write_);
}

void TcpRelay::Cut() { Command(/*cut=*/true, /*reset=*/false, /*stop=*/false); }

void TcpRelay::Heal() { Command(/*cut=*/false, /*reset=*/false, /*stop=*/false); }

void TcpRelay::Reset() {
  bool cut;
  {
    absl::MutexLock lock(&mu_);
    cut = cut_;
  }
  Command(cut, /*reset=*/true, /*stop=*/false);
}

int TcpRelay::connections() const {
  absl::MutexLock lock(&mu_);
  return connections_;
}

void TcpRelay::Command(bool cut, bool reset, bool stop) {
  absl::MutexLock lock(&mu_);
  cut_ = cut;
  reset_ = reset_ || reset;
  stop_ = stop_ || stop;
  const int64_t ticket = ++issued_;
  // A full pipe already holds a wake-up, so a failed write loses nothing.
  const char byte = 0;
  (void)!write(wake_write_, &byte, 1);
  auto seen = [this, ticket]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return applied_ >= ticket; };
  mu_.Await(absl::Condition(&seen));
}

void TcpRelay::Loop() {
  std::list<Pair> pairs;
  char chunk[kChunkBytes];
  while (true) {
    bool cut, reset, stop;
    {
      absl::MutexLock lock(&mu_);
      cut = cut_;
      reset = reset_;
      stop = stop_;
      reset_ = false;
      applied_ = issued_;
    }
    if (reset || stop) {
      for (Pair& p : pairs) {
        CloseWithReset(p.fd[0]);
        CloseWithReset(p.fd[1]);
      }
      pairs.clear();
    }
    if (stop) return;

    // While cut, only the wake-up pipe is watched: no byte moves and no connection is accepted.
    std::vector<pollfd> fds = {{wake_read_, POLLIN, 0}};
    if (!cut) {
      fds.push_back({listen_fd_, POLLIN, 0});
      for (Pair& p : pairs) {
        for (int i : {0, 1}) {
          short events = 0;
          if (p.pending[i].empty()) events |= POLLIN;
          if (!p.pending[1 - i].empty()) events |= POLLOUT;
          fds.push_back({p.fd[i], events, 0});
        }
      }
    }
    if (poll(fds.data(), fds.size(), -1) < 0) continue;  // EINTR; revents are not set.
    if (fds[0].revents != 0) {
      while (read(wake_read_, chunk, sizeof(chunk)) > 0) {
      }
    }
    {
      // A command that arrived during poll() is applied before another byte moves, so once Cut()
      // returns nothing gets through.
      absl::MutexLock lock(&mu_);
      if (applied_ != issued_) continue;
    }
    if (cut) continue;

    size_t index = 2;
    for (Pair& p : pairs) {
      for (int i : {0, 1}) {
        const short revents = fds[index++].revents;
        if (p.dead) continue;
        if ((revents & (POLLIN | POLLHUP | POLLERR)) != 0 && p.pending[i].empty()) {
          const ssize_t n = recv(p.fd[i], chunk, sizeof(chunk), 0);
          if (n > 0) {
            p.pending[i].assign(chunk, static_cast<size_t>(n));
          } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
            p.dead = true;  // The peer closed or reset: close the other side too.
          }
        }
        if ((revents & POLLOUT) != 0 && !p.pending[1 - i].empty()) {
          std::string& out = p.pending[1 - i];
          const ssize_t n = send(p.fd[i], out.data(), out.size(), MSG_NOSIGNAL);
          if (n > 0) {
            out.erase(0, static_cast<size_t>(n));
          } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
            p.dead = true;
          }
        }
      }
    }
    for (auto it = pairs.begin(); it != pairs.end();) {
      if (it->dead) {
        close(it->fd[0]);
        close(it->fd[1]);
        it = pairs.erase(it);
      } else {
        ++it;
      }
    }

    if ((fds[1].revents & POLLIN) == 0) continue;
    while (true) {
      const int client = accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (client < 0) break;
      // A blocking connect to a local address answers at once: accepted or refused.
      const int target = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (target < 0 ||
          connect(target, reinterpret_cast<const sockaddr*>(&target_), sizeof(target_)) != 0) {
        // The client sees the refusal it would have seen dialing the target directly.
        if (target >= 0) close(target);
        CloseWithReset(client);
        continue;
      }
      fcntl(target, F_SETFL, fcntl(target, F_GETFL) | O_NONBLOCK);
      SetNoDelay(client);
      SetNoDelay(target);
      Pair& p = pairs.emplace_back();
      p.fd[0] = client;
      p.fd[1] = target;
      absl::MutexLock lock(&mu_);
      ++connections_;
    }
  }
}

}  // namespace optbench::testing
