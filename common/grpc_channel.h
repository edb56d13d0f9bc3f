// Channel credentials for clients and workers: plaintext, TLS with a CA, or mutual TLS.
#ifndef OPTBENCH_COMMON_GRPC_CHANNEL_H_
#define OPTBENCH_COMMON_GRPC_CHANNEL_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "grpcpp/security/credentials.h"

namespace optbench {

struct TlsClientOptions {
  std::string ca_path;    // PEM roots that sign the server certificate; empty = plaintext.
  std::string cert_path;  // PEM client certificate chain (mutual TLS); with key_path.
  std::string key_path;   // PEM private key of cert_path.
};

// Plaintext when ca_path is empty (cert/key then InvalidArgument). NotFound naming the file for
// an unreadable one; InvalidArgument if only one of cert_path / key_path is set.
absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> MakeChannelCredentials(
    const TlsClientOptions& options);

// A client's bearer token: the contents of `path` (whitespace trimmed) if `path` is non-empty,
// else the environment variable OPTBENCH_TOKEN, else "" (no token). NotFound / InvalidArgument
// for an unreadable or empty file. The token itself never appears in a message.
absl::StatusOr<std::string> LoadClientToken(const std::string& path);

// Reads a whole file. NotFound naming `path` if it cannot be read.
absl::StatusOr<std::string> ReadTextFile(const std::string& path);

}  // namespace optbench

#endif  // OPTBENCH_COMMON_GRPC_CHANNEL_H_
