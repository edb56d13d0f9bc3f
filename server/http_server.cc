#include "server/http_server.h"

#include <httplib.h>

#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace optbench::server {

std::string HostOfListen(const std::string& listen) {
  const size_t colon = listen.rfind(':');
  std::string host = colon == std::string::npos ? listen : listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  return host;
}

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(const HttpServerOptions& options,
                                                              const Routes& routes) {
  const std::string& listen = options.listen;
  const size_t colon = listen.rfind(':');
  int port = -1;
  if (colon == std::string::npos || !absl::SimpleAtoi(listen.substr(colon + 1), &port) ||
      port < 0 || port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat(options.flag, ": '", listen, "' is not HOST:PORT (port 0..65535)"));
  }
  const std::string host = HostOfListen(listen);
  std::unique_ptr<HttpServer> server(new HttpServer());
  const bool tls = !options.tls_cert_path.empty() || !options.tls_key_path.empty();
  if (tls) {
    if (options.tls_cert_path.empty() || options.tls_key_path.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(options.flag, ": TLS needs both a certificate and a key"));
    }
    auto https = std::make_unique<httplib::SSLServer>(
        options.tls_cert_path.c_str(), options.tls_key_path.c_str(),
        options.tls_client_ca_path.empty() ? nullptr : options.tls_client_ca_path.c_str());
    if (!https->is_valid()) {
      return absl::InvalidArgumentError(
          absl::StrCat(options.flag, ": cannot load the TLS certificate '", options.tls_cert_path,
                       "', key '", options.tls_key_path, "'",
                       options.tls_client_ca_path.empty()
                           ? std::string()
                           : absl::StrCat(" or client CA '", options.tls_client_ca_path, "'")));
    }
    server->http_ = std::move(https);
  } else {
    server->http_ = std::make_unique<httplib::Server>();
  }
  server->tls_ = tls;
  const int threads = options.threads;
  server->http_->new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  routes(*server->http_);
  if (port == 0) {
    server->port_ = server->http_->bind_to_any_port(host);
  } else if (server->http_->bind_to_port(host, port)) {
    server->port_ = port;
  }
  if (server->port_ <= 0) {
    return absl::UnavailableError(
        absl::StrCat(options.flag, ": cannot listen on '", listen, "' (address in use?)"));
  }
  httplib::Server* http = server->http_.get();
  server->thread_ = std::thread([http] { http->listen_after_bind(); });
  // httplib's stop() does nothing before the server runs: wait for it, so that the destructor
  // always stops (and joins) a running one.
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (!http->is_running() && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(1));
  if (!http->is_running()) {
    return absl::UnavailableError(
        absl::StrCat(options.flag, ": the HTTP server on '", listen, "' did not start"));
  }
  return server;
}

HttpServer::~HttpServer() {
  if (http_ != nullptr) http_->stop();
  if (thread_.joinable()) thread_.join();
}

}  // namespace optbench::server
