// NetworkNamespace: Linux network namespaces made with iproute2's `ip netns`, joined by veth
// pairs, so an integration test can put processes on separate "hosts" of one machine, each with
// its own addresses, and pull a host's cable. Needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN).
#ifndef OPTBENCH_TESTS_INTEGRATION_NETWORK_NAMESPACE_H_
#define OPTBENCH_TESTS_INTEGRATION_NETWORK_NAMESPACE_H_

#include <stdio.h>
#include <unistd.h>

#include <cstdint>
#include <fstream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace optbench::testing {

// The path of iproute2's `ip`, or "" if it is not installed.
inline std::string IpCommand() {
  for (const char* path : {"/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"}) {
    if (access(path, X_OK) == 0) return path;
  }
  return "";
}

// Runs `ip args...` and waits for it. Internal, with the command and its output, if it fails.
// The arguments must not hold single quotes (they are passed through sh in single quotes).
inline absl::Status RunIp(const std::vector<std::string>& args) {
  const std::string command = absl::StrCat(IpCommand(), " '", absl::StrJoin(args, "' '"), "'");
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return absl::InternalError(absl::StrCat("cannot run ", command));
  std::string output;
  char buffer[256];
  while (fgets(buffer, sizeof(buffer), pipe) != nullptr) output += buffer;
  if (pclose(pipe) != 0) return absl::InternalError(absl::StrCat(command, " failed: ", output));
  return absl::OkStatus();
}

// "" if this process has what network namespaces need, else what it lacks (for a test's skip
// message). Creating one can still fail (e.g. in a container that cannot mount /run/netns).
inline std::string WhyNoNetworkNamespaces() {
  if (IpCommand().empty()) return "iproute2's ip is not installed";
  // CapEff: the effective capabilities as a hexadecimal mask (capabilities(7)).
  std::ifstream status("/proc/self/status");
  std::string key;
  uint64_t effective = 0;
  while (status >> key) {
    if (key == "CapEff:") {
      status >> std::hex >> effective;
      break;
    }
  }
  constexpr int kCapNetAdmin = 12;
  constexpr int kCapSysAdmin = 21;
  for (int cap : {kCapNetAdmin, kCapSysAdmin}) {
    if ((effective >> cap & 1) == 0) {
      return "creating network namespaces needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN), which "
             "this process lacks";
    }
  }
  return "";
}

// One network namespace, named as `ip netns` names it, with its loopback up. Owns it: the
// destructor deletes it, and the kernel frees it, with every interface in it, once no process
// is left inside. Not thread-safe.
class NetworkNamespace {
 public:
  // Creates namespace `name`, replacing a leftover of the same name (from a killed run with the
  // same process id). Internal with ip's message if it cannot be created.
  static absl::StatusOr<std::unique_ptr<NetworkNamespace>> Create(const std::string& name) {
    RunIp({"netns", "delete", name}).IgnoreError();
    if (absl::Status s = RunIp({"netns", "add", name}); !s.ok()) return s;
    std::unique_ptr<NetworkNamespace> ns(new NetworkNamespace(name));
    if (absl::Status s = ns->Ip({"link", "set", "lo", "up"}); !s.ok()) return s;
    return ns;
  }

  NetworkNamespace(const NetworkNamespace&) = delete;
  NetworkNamespace& operator=(const NetworkNamespace&) = delete;
  ~NetworkNamespace() { RunIp({"netns", "delete", name_}).IgnoreError(); }

  const std::string& name() const { return name_; }

  // `ip -n NAME args...`: configures the namespace's interfaces and routes.
  absl::Status Ip(const std::vector<std::string>& args) const {
    std::vector<std::string> full = {"-n", name_};
    full.insert(full.end(), args.begin(), args.end());
    return RunIp(full);
  }

  // A command prefix that runs a program inside the namespace. `ip netns exec` execs the program
  // (no fork), so a Subprocess started with it has the program's own pid and kills the program.
  std::vector<std::string> Launcher() const { return {IpCommand(), "netns", "exec", name_}; }

 private:
  explicit NetworkNamespace(std::string name) : name_(std::move(name)) {}
  const std::string name_;
};

// One end of a veth pair: its namespace, interface name and address ("10.0.0.1/24").
struct VethEnd {
  const NetworkNamespace* ns;
  std::string interface;
  std::string address;
};

// Joins two namespaces with a veth pair, each end addressed and up. Both ends are created
// directly in their namespaces, so nothing ever appears in the caller's, and the pair goes away
// with either namespace.
inline absl::Status AddVethPair(const VethEnd& a, const VethEnd& b) {
  if (absl::Status s = RunIp({"link", "add", a.interface, "netns", a.ns->name(), "type", "veth",
                              "peer", "name", b.interface, "netns", b.ns->name()});
      !s.ok()) {
    return s;
  }
  for (const VethEnd* end : {&a, &b}) {
    if (absl::Status s = end->ns->Ip({"address", "add", end->address, "dev", end->interface});
        !s.ok()) {
      return s;
    }
    if (absl::Status s = end->ns->Ip({"link", "set", end->interface, "up"}); !s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace optbench::testing

#endif  // OPTBENCH_TESTS_INTEGRATION_NETWORK_NAMESPACE_H_
