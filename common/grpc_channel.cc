#include "common/grpc_channel.h"

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace optbench {

absl::StatusOr<std::string> ReadTextFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read '", path, "'"));
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

absl::StatusOr<std::string> LoadClientToken(const std::string& path) {
  if (!path.empty()) {
    auto text = ReadTextFile(path);
    if (!text.ok()) return text.status();
    std::string token(absl::StripAsciiWhitespace(*text));
    if (token.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("token file '", path, "' is empty"));
    }
    return token;
  }
  const char* env = std::getenv("OPTBENCH_TOKEN");
  return std::string(env == nullptr ? "" : env);
}

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> MakeChannelCredentials(
    const TlsClientOptions& options) {
  if (options.cert_path.empty() != options.key_path.empty()) {
    return absl::InvalidArgumentError("tls: a client certificate needs both cert and key files");
  }
  if (options.ca_path.empty()) {
    if (!options.cert_path.empty()) {
      return absl::InvalidArgumentError("tls: a client certificate needs --tls_ca as well");
    }
    return grpc::InsecureChannelCredentials();
  }
  grpc::SslCredentialsOptions ssl;
  auto ca = ReadTextFile(options.ca_path);
  if (!ca.ok()) return ca.status();
  ssl.pem_root_certs = *ca;
  if (!options.cert_path.empty()) {
    auto cert = ReadTextFile(options.cert_path);
    if (!cert.ok()) return cert.status();
    auto key = ReadTextFile(options.key_path);
    if (!key.ok()) return key.status();
    ssl.pem_cert_chain = *cert;
    ssl.pem_private_key = *key;
  }
  return grpc::SslCredentials(ssl);
}

}  // namespace optbench
