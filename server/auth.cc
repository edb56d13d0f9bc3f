#include "server/auth.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace optbench::server {
namespace {

constexpr size_t kMinTokenLength = 16;

// Compares without an early exit, so the time taken does not reveal how much of a guess was
// right. The length is not secret.
bool ConstantTimeEquals(absl::string_view a, absl::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    diff |= static_cast<unsigned char>(a[i]) ^ static_cast<unsigned char>(b[i]);
  }
  return diff == 0;
}

absl::StatusOr<uint32_t> ParseRoles(absl::string_view text) {
  uint32_t roles = 0;
  for (absl::string_view r : absl::StrSplit(text, ',')) {
    if (r == "worker") {
      roles |= static_cast<uint32_t>(Role::kWorker);
    } else if (r == "submit") {
      roles |= static_cast<uint32_t>(Role::kSubmit);
    } else if (r == "read") {
      roles |= static_cast<uint32_t>(Role::kRead);
    } else if (r == "admin") {
      roles |= 7;
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown role '", r, "'; allowed worker, submit, read, admin"));
    }
  }
  return roles;
}

}  // namespace

const char* RoleName(Role role) {
  switch (role) {
    case Role::kWorker:
      return "worker";
    case Role::kSubmit:
      return "submit";
    case Role::kRead:
      return "read";
  }
  return "?";
}

absl::StatusOr<Authenticator> Authenticator::Parse(absl::string_view text,
                                                   absl::string_view source) {
  Authenticator auth;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    if (size_t hash = line.find('#'); hash != absl::string_view::npos) line = line.substr(0, hash);
    line = absl::StripAsciiWhitespace(line);
    if (line.empty()) continue;
    std::vector<absl::string_view> fields = absl::StrSplit(line, ' ', absl::SkipWhitespace());
    const std::string where = absl::StrCat(source, ":", line_number, ": ");
    if (fields.size() < 2 || fields.size() > 3) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, "expected '<token> <role>[,<role>...] [<name>]'"));
    }
    if (fields[0].size() < kMinTokenLength) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, "token is shorter than ", kMinTokenLength, " characters"));
    }
    auto roles = ParseRoles(fields[1]);
    if (!roles.ok())
      return absl::InvalidArgumentError(absl::StrCat(where, roles.status().message()));
    for (const Entry& e : auth.entries_) {
      if (e.token == fields[0]) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, "duplicate token (also ", e.name, ")"));
      }
    }
    auth.entries_.push_back(
        {std::string(fields[0]), *roles,
         fields.size() == 3 ? std::string(fields[2]) : absl::StrCat("token-", line_number)});
  }
  if (auth.entries_.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": no tokens"));
  }
  return auth;
}

absl::StatusOr<Authenticator> Authenticator::FromFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read tokens file '", path, "'"));
  std::stringstream ss;
  ss << in.rdbuf();
  return Parse(ss.str(), path);
}

absl::Status Authenticator::Check(absl::string_view authorization, Role role) const {
  if (authorization.empty()) {
    return absl::UnauthenticatedError("missing 'authorization: Bearer <token>' metadata");
  }
  absl::string_view token = authorization;
  if (!absl::ConsumePrefix(&token, "Bearer ")) {
    return absl::UnauthenticatedError("authorization metadata must be 'Bearer <token>'");
  }
  const Entry* match = nullptr;
  // Every entry is compared, so the time does not depend on which one matches.
  for (const Entry& e : entries_) {
    if (ConstantTimeEquals(e.token, token)) match = &e;
  }
  if (match == nullptr) return absl::UnauthenticatedError("unknown token");
  if ((match->roles & static_cast<uint32_t>(role)) == 0) {
    return absl::PermissionDeniedError(
        absl::StrCat("principal '", match->name, "' lacks the '", RoleName(role), "' role"));
  }
  return absl::OkStatus();
}

absl::Status Authenticator::Check(const grpc::ServerContext& context, Role role) const {
  const auto& metadata = context.client_metadata();
  auto it = metadata.find("authorization");
  if (it == metadata.end()) return Check(absl::string_view(), role);
  return Check(absl::string_view(it->second.data(), it->second.size()), role);
}

bool IsLoopbackHost(absl::string_view host) {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (host == "localhost") return true;
  // An address, not a name that merely starts like one ("127.0.0.1.evil.example").
  const std::string text(host);
  in_addr v4{};
  if (inet_pton(AF_INET, text.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6{};
  return inet_pton(AF_INET6, text.c_str(), &v6) == 1 && IN6_IS_ADDR_LOOPBACK(&v6);
}

}  // namespace optbench::server
