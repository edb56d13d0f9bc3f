// HttpServer: a small cpp-httplib server on its own threads, shared by the coordinator's HTTP
// endpoints (Prometheus metrics, the read-only dashboard). It parses HOST:PORT, binds (port 0 =
// any), optionally speaks TLS, and stops and joins on destruction.
#ifndef OPTBENCH_SERVER_HTTP_SERVER_H_
#define OPTBENCH_SERVER_HTTP_SERVER_H_

#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"

namespace httplib {
class Server;
}  // namespace httplib

namespace optbench::server {

struct HttpServerOptions {
  // The flag that named `listen`, for error messages ("metrics_listen").
  std::string flag = "listen";
  std::string listen;  // HOST:PORT; port 0 = any; an IPv6 host in brackets.
  // PEM certificate chain and key: both set = HTTPS only (a plain request fails its handshake).
  std::string tls_cert_path;
  std::string tls_key_path;
  // With TLS: also require a client certificate signed by this PEM CA.
  std::string tls_client_ca_path;
  int threads = 2;  // Requests served at once.
};

// Owns the httplib server and its listening thread. Routes are registered by the `routes`
// callback of Start, before the server runs; handlers run on the server's threads.
class HttpServer {
 public:
  using Routes = std::function<void(httplib::Server&)>;
  // InvalidArgument for a malformed `listen`, for only one of cert and key, or unreadable TLS
  // files; Unavailable when the address cannot be bound or the server does not start.
  static absl::StatusOr<std::unique_ptr<HttpServer>> Start(const HttpServerOptions& options,
                                                           const Routes& routes);
  ~HttpServer();  // Stops serving and joins its threads.
  int port() const { return port_; }
  bool tls() const { return tls_; }

 private:
  HttpServer() = default;
  std::unique_ptr<httplib::Server> http_;
  std::thread thread_;
  int port_ = 0;
  bool tls_ = false;
};

// "host:port" -> the host part, without IPv6 brackets ("" for ":80").
std::string HostOfListen(const std::string& listen);

}  // namespace optbench::server

#endif  // OPTBENCH_SERVER_HTTP_SERVER_H_
