// Bearer-token authentication with roles for the coordinator's RPCs.
//
// Tokens file (one token per line; '#' starts a comment):
//   <token> <role>[,<role>...] [<name>]
// roles: worker (acquire and report jobs), submit (create and cancel sweeps), read (query,
// list, watch, status), admin (all three). Tokens are at least 16 characters. Clients send
// "authorization: Bearer <token>" metadata. Tokens are compared in constant time and never
// logged or echoed in errors; a principal is named by <name> (default "token-<line>").
#ifndef OPTBENCH_SERVER_AUTH_H_
#define OPTBENCH_SERVER_AUTH_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "grpcpp/server_context.h"

namespace optbench::server {

enum class Role : uint32_t { kWorker = 1, kSubmit = 2, kRead = 4 };
const char* RoleName(Role role);

// Immutable after construction; thread-safe.
class Authenticator {
 public:
  // Parses a tokens file's text. InvalidArgument naming `source` and the line for a malformed
  // line, an unknown role, a short or duplicate token, or no tokens at all.
  static absl::StatusOr<Authenticator> Parse(absl::string_view text, absl::string_view source);
  static absl::StatusOr<Authenticator> FromFile(const std::string& path);

  // OK if `authorization` ("Bearer <token>") names a token holding `role`. Unauthenticated when
  // the header is missing, malformed or the token is unknown; PermissionDenied when the token
  // lacks the role (the message names the principal and the role, never the token).
  absl::Status Check(absl::string_view authorization, Role role) const;
  // The same, reading the metadata of a server call.
  absl::Status Check(const grpc::ServerContext& context, Role role) const;

  size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    std::string token;
    uint32_t roles = 0;
    std::string name;
  };
  std::vector<Entry> entries_;
};

// True for an address in 127.0.0.0/8, ::1, [::1] and "localhost" (the host part of a listen
// address or of a Host header); a name that merely begins with "127." is not.
bool IsLoopbackHost(absl::string_view host);

}  // namespace optbench::server

#endif  // OPTBENCH_SERVER_AUTH_H_
