// The coordinator's read-only web dashboard (`optbench-coordinator --http_listen HOST:PORT`):
// sweeps, a sweep's jobs (updated live), a job's settings, error and curves, per-frequency-group
// curves over seeds, per-class scatters, and a place for the comparison pictures. Pages are HTML
// with SVG drawn by report/plot.h and a small embedded script (server/dashboard/); the data comes
// in-process from the store and server/query.h, as the gRPC API reads it.
//
// Routes (GET and HEAD only; any other method is 405):
//   /                          sweeps, newest first (?page=TOKEN, ?tag=TAG)
//   /sweeps/ID                 a sweep's jobs; the script polls /api/sweeps/ID/jobs
//   /sweeps/ID/curves          a panel per setting, a line per frequency group: the seed mean
//                              with its 95 % band (?groups=1..1000, split=train|test, metric=M,
//                              log=0|1)
//   /sweeps/ID/compare         time to target and the performance profile of its optimizers, as
//                              `optbench profile` (?target=T, goal, time, group, groups, split,
//                              metric)
//   /jobs/ID                   a job: settings, error, curves (?groups, split, metric, log)
//   /scatter?job=A[&job=B]     final value per class against its training examples, log-log
//                              (?split, metric)
//   /api/sweeps/ID/jobs        JSON: the jobs' state and progress
//   /api/query?sweep=ID|job=ID JSON rows as `optbench query --format json` prints them
//                              (?group_by=frequency|class, groups, split, metric, aggregate=seed)
//   /static/NAME               the embedded script and style sheet
//
// Security: with an Authenticator every request needs a token with the read role, as
// "Authorization: Bearer TOKEN" or the HttpOnly, SameSite=Strict cookie that visiting any page
// with ?token=TOKEN sets (then redirected to the same URL without it; Secure under TLS). Without
// one, Start refuses a non-loopback address unless `insecure`. Every response carries a
// Content-Security-Policy that allows only the dashboard's own script, style and images,
// X-Content-Type-Options: nosniff and Referrer-Policy: no-referrer. Everything a user wrote
// (names, tags, notes, labels, errors) is escaped.
#ifndef OPTBENCH_SERVER_DASHBOARD_H_
#define OPTBENCH_SERVER_DASHBOARD_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "server/auth.h"
#include "server/http_server.h"
#include "spec/catalog.h"
#include "storage/store.h"

namespace optbench::server {

class DashboardPages;

struct DashboardOptions {
  std::string listen;  // HOST:PORT; port 0 = any.
  // As the gRPC API's: both set = HTTPS only; with a client CA, browsers need a certificate.
  std::string tls_cert_path;
  std::string tls_key_path;
  std::string tls_client_ca_path;
  // Serve a non-loopback address without tokens (anyone reaching it reads every result).
  bool insecure = false;
  int threads = 4;
};

// The Content-Security-Policy of every response.
inline constexpr char kDashboardContentSecurityPolicy[] =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

// Serves the dashboard on its own threads until destroyed. Thread-safe (it only reads).
class Dashboard {
 public:
  // `store`, `catalog` and `auth` are not owned and must outlive the dashboard; `auth` null =
  // no tokens. Errors: FailedPrecondition for a non-loopback address without `auth` or
  // `insecure`; HttpServer::Start's.
  static absl::StatusOr<std::unique_ptr<Dashboard>> Start(const DashboardOptions& options,
                                                          storage::StoreReader* store,
                                                          const spec::Catalog* catalog,
                                                          const Authenticator* auth);
  ~Dashboard();  // Stops serving, then drops the pages.
  int port() const { return http_->port(); }
  bool tls() const { return http_->tls(); }

 private:
  Dashboard() = default;
  std::unique_ptr<DashboardPages> pages_;  // Read by the server's threads: declared first,
  std::unique_ptr<HttpServer> http_;       // so the server stops before it goes.
};

// FailedPrecondition for a non-loopback `listen` with neither tokens nor `insecure` (what Start
// refuses; the coordinator asks before it opens its database).
absl::Status CheckDashboardExposure(const std::string& listen, bool has_auth, bool insecure);

// HTML-escapes `text` (& < > " ') for element content and quoted attribute values
// (report::EscapeXml: &apos; is HTML5's too).
std::string HtmlEscape(absl::string_view text);

}  // namespace optbench::server

#endif  // OPTBENCH_SERVER_DASHBOARD_H_
