// The coordinator's dashboard (--http_listen) as people and browsers reach it: a real
// optbench-coordinator process, its security rules over real HTTP(S), and every page loaded in
// headless Chromium with the numbers it shows compared to `optbench query --format json`.
#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "tests/integration/service_fixture.h"

namespace optbench {
namespace {

using testing::Result;
using testing::RunCli;
using testing::RunShell;

constexpr char kPolicy[] =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

// Every response, errors included, carries the dashboard's protective headers.
void ExpectProtectiveHeaders(const httplib::Response& response, const std::string& what) {
  EXPECT_EQ(response.get_header_value("Content-Security-Policy"), kPolicy) << what;
  EXPECT_EQ(response.get_header_value("X-Content-Type-Options"), "nosniff") << what;
  EXPECT_EQ(response.get_header_value("Referrer-Policy"), "no-referrer") << what;
}

class DashboardTest : public testing::ServiceFixture {
 protected:
  // Starts a coordinator with the dashboard on a free loopback port and `extra` flags.
  void StartWithDashboard(const std::vector<std::string>& extra = {}) {
    http_port_ = FreePort();
    std::vector<std::string> flags = {absl::StrCat("--http_listen=127.0.0.1:", http_port_)};
    flags.insert(flags.end(), extra.begin(), extra.end());
    StartCoordinator(flags);
  }

  httplib::Result Get(const std::string& path, const httplib::Headers& headers = {}) {
    httplib::Client client("127.0.0.1", http_port_);
    client.set_connection_timeout(5);
    client.set_read_timeout(30);
    httplib::Result r = client.Get(path.c_str(), headers);
    EXPECT_TRUE(r) << path << ": " << httplib::to_string(r.error());
    if (r) ExpectProtectiveHeaders(r.value(), path);
    return r;
  }

  // The Location header of GET `path` as the bytes on the wire (httplib's client would decode
  // it): one request over a plain socket, `path` sent as is.
  std::string RawLocation(const std::string& path) {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<uint16_t>(http_port_));
    inet_pton(AF_INET, "127.0.0.1", &address.sin_addr);
    std::string answer;
    if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0) {
      const std::string request =
          absl::StrCat("GET ", path, " HTTP/1.1\r\nHost: 127.0.0.1:", http_port_,
                       "\r\nConnection: close\r\n\r\n");
      if (write(fd, request.data(), request.size()) == static_cast<ssize_t>(request.size())) {
        char buffer[4096];
        for (ssize_t n; (n = read(fd, buffer, sizeof(buffer))) > 0;) answer.append(buffer, n);
      }
    }
    close(fd);
    const size_t at = answer.find("\r\nLocation: ");
    if (at == std::string::npos) return "(no Location in: " + answer.substr(0, 200) + ")";
    const size_t start = at + 12;
    return answer.substr(start, answer.find("\r\n", start) - start);
  }

  // The status of GET `path` (0 when no answer came).
  int StatusOf(const std::string& path, const httplib::Headers& headers = {}) {
    httplib::Result r = Get(path, headers);
    return r ? r->status : 0;
  }

  int http_port_ = 0;
};

TEST_F(DashboardTest, OnlyReadsAndAnswersBadRequestsWithPagesNamingTheValue) {
  StartWithDashboard();
  // A sweep whose name, tag-free note and labels hold markup; no worker runs it.
  v1::SubmitSweepResponse sweep = Submit(R"(name: "<script>alert(1)</script>"
note: "a <b>bold</b> & 'quoted' note"
dataset: {name: heavy_tail_uniform, m: 4}
model: {name: linear}
trainer: {steps: 20, eval_every: 10}
optimizer: {name: adam, lr: 0.01}
)");
  ASSERT_FALSE(sweep.sweep().id().empty());
  const std::string id = sweep.sweep().id();

  httplib::Client client("127.0.0.1", http_port_);
  client.set_connection_timeout(5);
  for (const char* method : {"POST", "PUT", "DELETE", "PATCH", "OPTIONS"}) {
    httplib::Request request;
    request.method = method;
    request.path = "/sweeps/" + id;
    request.body = "x=1";
    request.set_header("Content-Type", "application/x-www-form-urlencoded");
    httplib::Response response;
    httplib::Error error = httplib::Error::Success;
    ASSERT_TRUE(client.send(request, response, error)) << method << httplib::to_string(error);
    EXPECT_EQ(response.status, 405) << method;
    EXPECT_EQ(response.get_header_value("Allow"), "GET, HEAD") << method;
    EXPECT_NE(response.body.find(method), std::string::npos) << response.body;
    ExpectProtectiveHeaders(response, method);
  }
  // The sweep is still there, unchanged.
  httplib::Result page = Get("/sweeps/" + id);
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status, 200);
  // Escaped where shown; the raw markup never reaches the page.
  EXPECT_EQ(page->body.find("<script>alert"), std::string::npos);
  EXPECT_NE(page->body.find("&lt;script&gt;alert(1)&lt;/script&gt;"), std::string::npos);
  EXPECT_NE(page->body.find("a &lt;b&gt;bold&lt;/b&gt; &amp; &apos;quoted&apos; note"),
            std::string::npos);
  httplib::Result list = Get("/");
  ASSERT_TRUE(list);
  EXPECT_EQ(list->status, 200);
  EXPECT_EQ(list->body.find("<script>alert"), std::string::npos);
  EXPECT_EQ(list->get_header_value("Content-Type"), "text/html; charset=utf-8");
  auto head = client.Head("/");
  ASSERT_TRUE(head);
  EXPECT_EQ(head->status, 200);
  EXPECT_TRUE(head->body.empty());

  struct Case {
    std::string path;
    int status;
    std::string named;  // What the error page must say (HTML-escaped).
  };
  const std::vector<Case> cases = {
      {"/sweeps/s-nope", 404, "s-nope"},
      {"/sweeps/s-nope/curves", 404, "s-nope"},
      {"/jobs/s-nope-0", 404, "s-nope-0"},
      {"/jobs/" + id + "-0?groups=abc", 400, "groups: &apos;abc&apos;"},
      {"/jobs/" + id + "-0?groups=0", 400, "groups: &apos;0&apos;"},
      {"/sweeps/" + id + "/curves?split=validation", 400, "split: &apos;validation&apos;"},
      {"/sweeps/" + id + "/curves?log=yes", 400, "log: &apos;yes&apos;"},
      {"/sweeps/" + id + "/curves?metric=nonsense", 400, "nonsense"},
      {"/?colour=red", 400, "unknown parameter &apos;colour&apos;"},
      {"/sweeps/" + id + "/compare?target=abc", 400, "target: &apos;abc&apos;"},
      {"/sweeps/" + id + "/compare?target=1&goal=up", 400, "goal: &apos;up&apos;"},
      {"/sweeps/" + id + "/compare?target=1&groups=4&group=9", 400, "group: &apos;9&apos;"},
      {"/sweeps/s-nope/compare?target=1", 404, "s-nope"},
      {"/compare?target=1", 400, "sweep: give the sweeps to compare"},
      {"/compare?target=1" +
           [] {
             std::string many;
             for (int i = 0; i < 21; ++i) absl::StrAppend(&many, "&sweep=s-", i);
             return many;
           }(),
       400, "sweep: 21 sweeps given; at most 20"},
      {"/sweeps/" + id + "/curves?groups=101", 400, "groups: &apos;101&apos;"},
      {"/compare?sweep=" + id + "&sweep=s-nope&target=1", 404, "s-nope"},
      {"/sweeps/" + id + "/compare?sweep=" + id, 400, "the sweep is in the path"},
      {"/?tag=%3Cb%3E", 400, "&lt;b&gt;"},
      {"/scatter", 400, "job: 0 given"},
      {"/scatter?job=a&job=b&job=c", 400, "job: 3 given"},
      {"/scatter?job=s-nope-1", 404, "s-nope-1"},
      {"/api/query?sweep=" + id + "&job=x", 400, "one of sweep=ID and job=ID"},
      {"/api/query?job=" + id + "-0&group_by=item", 400, "group_by: &apos;item&apos;"},
      {"/api/sweeps/s-nope/jobs", 404, "s-nope"},
      {"/static/evil.exe", 404, "evil.exe"},
      {"/no/such/page", 404, "/no/such/page"},
  };
  for (const Case& c : cases) {
    httplib::Result r = Get(c.path);
    ASSERT_TRUE(r) << c.path;
    EXPECT_EQ(r->status, c.status) << c.path << "\n" << r->body;
    const bool json = absl::StartsWith(c.path, "/api/");
    // JSON errors quote the message as JSON; pages escape it as HTML.
    std::string named = c.named;
    if (json) named = absl::StrReplaceAll(named, {{"&apos;", "'"}});
    EXPECT_NE(r->body.find(named), std::string::npos) << c.path << "\n" << r->body;
  }
  // A job that has not run has a page; its picture is a note, not an error.
  httplib::Result queued = Get("/jobs/" + id + "-0");
  ASSERT_TRUE(queued);
  EXPECT_EQ(queued->status, 200);
  EXPECT_NE(queued->body.find("nothing to plot"), std::string::npos) << queued->body;
  // Nothing finished: the comparison is a note saying so.
  httplib::Result compare = Get("/sweeps/" + id + "/compare?target=1");
  ASSERT_TRUE(compare);
  EXPECT_EQ(compare->status, 200);
  EXPECT_NE(compare->body.find("class=\"note\""), std::string::npos) << compare->body;
  // The JSON the sweep page polls.
  httplib::Result jobs = Get("/api/sweeps/" + id + "/jobs");
  ASSERT_TRUE(jobs);
  EXPECT_EQ(jobs->status, 200);
  EXPECT_EQ(jobs->get_header_value("Content-Type"), "application/json; charset=utf-8");
  EXPECT_NE(jobs->body.find("\"done\":false"), std::string::npos) << jobs->body;
  EXPECT_NE(jobs->body.find("\"state\":\"queued\""), std::string::npos) << jobs->body;
}

TEST_F(DashboardTest, WithTokensEveryRequestNeedsTheReadRole) {
  std::ofstream(dir_ + "/tokens") << "worker-token-for-tests worker w\n"
                                  << "reader-token-for-tests read r\n"
                                  << "submit-token-for-tests submit s\n"
                                  << "odd%token;with=signs read odd\n";
  StartWithDashboard({"--auth_tokens=" + dir_ + "/tokens"});
  for (const std::string path :
       {"/", "/sweeps/s-1", "/api/sweeps/s-1/jobs", "/static/dashboard.js", "/no/such/page"}) {
    httplib::Result none = Get(path);
    ASSERT_TRUE(none);
    EXPECT_EQ(none->status, 401) << path;
    EXPECT_EQ(none->get_header_value("WWW-Authenticate"), "Bearer") << path;
    EXPECT_NE(none->body.find("?token=TOKEN"), std::string::npos) << none->body;
  }
  // A token nobody holds is unauthenticated (as on the gRPC API); a known one without the read
  // role is forbidden, and the page names its holder, never the token.
  EXPECT_EQ(StatusOf("/", {{"Authorization", "Bearer not-a-token-of-anyone"}}), 401);
  for (const std::string token : {"worker-token-for-tests", "submit-token-for-tests"}) {
    httplib::Result denied = Get("/", {{"Authorization", "Bearer " + token}});
    ASSERT_TRUE(denied);
    EXPECT_EQ(denied->status, 403) << token;
    EXPECT_NE(denied->body.find("lacks the &apos;read&apos; role"), std::string::npos)
        << denied->body;
    EXPECT_EQ(denied->body.find(token), std::string::npos) << denied->body;
  }
  EXPECT_EQ(StatusOf("/", {{"Authorization", "Bearer reader-token-for-tests"}}), 200);

  // ?token= sets the cookie once and sends the browser to the same URL without it.
  httplib::Result visit = Get("/?tag=paper-1&token=reader-token-for-tests");
  ASSERT_TRUE(visit);
  EXPECT_EQ(visit->status, 303);
  EXPECT_EQ(visit->get_header_value("Location"), "/?tag=paper-1");
  const std::string reader_hex = absl::BytesToHexString("reader-token-for-tests");
  EXPECT_EQ(visit->get_header_value("Set-Cookie"),
            "optbench_token=" + reader_hex + "; Path=/; HttpOnly; SameSite=Lax");
  EXPECT_EQ(StatusOf("/?tag=paper-1", {{"Cookie", "other=1; optbench_token=" + reader_hex}}), 200);
  EXPECT_EQ(StatusOf("/", {{"Cookie",
                            "optbench_token=" + absl::BytesToHexString("worker-token-for-tests")}}),
            403);
  // The token itself is not a cookie value.
  EXPECT_EQ(StatusOf("/", {{"Cookie", "optbench_token=reader-token-for-tests"}}), 401);
  // A token with characters a cookie cannot hold (; = %) travels in hex.
  httplib::Result odd = Get("/?token=odd%25token%3Bwith%3Dsigns");
  ASSERT_TRUE(odd);
  EXPECT_EQ(odd->status, 303);
  const std::string odd_hex = absl::BytesToHexString("odd%token;with=signs");
  EXPECT_EQ(odd->get_header_value("Set-Cookie"),
            "optbench_token=" + odd_hex + "; Path=/; HttpOnly; SameSite=Lax");
  EXPECT_EQ(StatusOf("/", {{"Cookie", "a=b; optbench_token=" + odd_hex + "; c=d"}}), 200);
  EXPECT_EQ(StatusOf("/", {{"Cookie", "optbench_token=odd%token;with=signs"}}), 401);
  // The redirect stays on this host, whatever the path holds (httplib decodes %2F to '/'), and
  // each segment is sent encoded.
  for (const auto& [path, want] : std::vector<std::pair<std::string, std::string>>{
           {"//evil.example/", "/evil.example"},
           {"/%2F%2Fevil.example/", "/evil.example"},
           {"/%5C%5Cevil.example", "/%5C%5Cevil.example"},
           {"/sweeps/a%3Fb%23c", "/sweeps/a%3Fb%23c"},
           {"/sweeps/s-1?tag=x", "/sweeps/s-1?tag=x"}}) {
    const std::string sep = absl::StrContains(path, "?") ? "&" : "?";
    EXPECT_EQ(RawLocation(path + sep + "token=reader-token-for-tests"), want) << path;
  }
  // A token without the role sets nothing.
  httplib::Result worker_visit = Get("/?token=worker-token-for-tests");
  ASSERT_TRUE(worker_visit);
  EXPECT_EQ(worker_visit->status, 403);
  EXPECT_FALSE(worker_visit->has_header("Set-Cookie"));
  httplib::Result unknown_visit = Get("/?token=guessed-token-0000");
  ASSERT_TRUE(unknown_visit);
  EXPECT_EQ(unknown_visit->status, 401);
  EXPECT_FALSE(unknown_visit->has_header("Set-Cookie"));
}

// Without tokens on loopback, a request addressed to another name is refused: a page of
// evil.example whose name resolves to 127.0.0.1 (DNS rebinding) must not read the results.
TEST_F(DashboardTest, WithoutTokensOnlyLoopbackNamesAreAnswered) {
  StartWithDashboard();
  for (const std::string host :
       {"evil.example", "evil.example:1234", "127.0.0.1.evil.example", "[::2]:80", ""}) {
    httplib::Result r = Get("/", {{"Host", host}});
    ASSERT_TRUE(r) << host;
    EXPECT_EQ(r->status, 421) << host;
  }
  for (const std::string& host :
       {absl::StrCat("127.0.0.1:", http_port_), absl::StrCat("localhost:", http_port_),
        absl::StrCat("[::1]:", http_port_), std::string("localhost")}) {
    EXPECT_EQ(StatusOf("/", {{"Host", host}}), 200) << host;
  }
}

TEST_F(DashboardTest, RefusesANonLoopbackAddressWithoutTokens) {
  for (const std::string listen : {"0.0.0.0:0", "[::]:0"}) {
    testing::Subprocess coordinator;
    ASSERT_TRUE(coordinator.Start({OPTBENCH_COORDINATOR_BIN, "--listen=127.0.0.1:0",
                                   "--db=" + dir_ + "/refused.db", "--http_listen=" + listen},
                                  dir_ + "/refused.log"));
    int status = 0;
    ASSERT_TRUE(coordinator.WaitFor(absl::Seconds(30), &status)) << coordinator.Log();
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) != 0) << coordinator.Log();
    EXPECT_NE(coordinator.Log().find("refusing to serve the dashboard on non-loopback address '" +
                                     listen + "' without authentication"),
              std::string::npos)
        << coordinator.Log();
  }
}

TEST_F(DashboardTest, ServesHttpsWithTheApisCertificateAndRefusesPlainHttp) {
  MakeCertificates();
  std::ofstream(dir_ + "/tokens") << "reader-token-for-tests read r\n";
  StartWithDashboard({"--tls_cert=" + dir_ + "/server.pem", "--tls_key=" + dir_ + "/server.key",
                      "--auth_tokens=" + dir_ + "/tokens"});
  httplib::SSLClient https("127.0.0.1", http_port_);
  https.set_ca_cert_path((dir_ + "/ca.pem").c_str());
  https.enable_server_certificate_verification(true);
  https.set_connection_timeout(5);
  auto page = https.Get("/", {{"Authorization", "Bearer reader-token-for-tests"}});
  ASSERT_TRUE(page) << httplib::to_string(page.error());
  EXPECT_EQ(page->status, 200);
  ExpectProtectiveHeaders(page.value(), "https /");
  auto visit = https.Get("/?token=reader-token-for-tests");
  ASSERT_TRUE(visit) << httplib::to_string(visit.error());
  EXPECT_EQ(visit->status, 303);
  EXPECT_EQ(visit->get_header_value("Set-Cookie"),
            "optbench_token=" + absl::BytesToHexString("reader-token-for-tests") +
                "; Path=/; HttpOnly; SameSite=Lax; Secure");
  // A client that does not trust the CA is refused at the handshake.
  httplib::SSLClient untrusting("127.0.0.1", http_port_);
  untrusting.set_ca_cert_path("/dev/null");
  untrusting.enable_server_certificate_verification(true);
  EXPECT_FALSE(untrusting.Get("/"));
  // Plain HTTP on the TLS port gets no HTTP answer.
  httplib::Client plain("127.0.0.1", http_port_);
  plain.set_connection_timeout(5);
  plain.set_read_timeout(5);
  auto refused = plain.Get("/", {{"Authorization", "Bearer reader-token-for-tests"}});
  EXPECT_FALSE(refused && refused->status == 200);
}

// --- In a browser ---------------------------------------------------------------------------

// Headless Chromium, or empty when it is not installed.
std::string FindChromium() {
  for (const char* name : {"chromium", "chromium-browser", "google-chrome"}) {
    Result r = RunShell(absl::StrCat("command -v ", name));
    if (r.exit_code == 0 && !r.output.empty())
      return std::string(absl::StripTrailingAsciiWhitespace(r.output));
  }
  return "";
}

// The values of attribute `name` on every element of `html` whose tag and other attributes match
// `element` (a regex over the opening tag), in document order.
std::vector<std::string> Attributes(const std::string& html, const std::string& element,
                                    const std::string& name) {
  std::vector<std::string> out;
  const std::regex tag("<" + element + "[^>]*>");
  const std::regex attribute(name + "=\"([^\"]*)\"");
  for (auto it = std::sregex_iterator(html.begin(), html.end(), tag); it != std::sregex_iterator();
       ++it) {
    const std::string t = it->str();
    std::smatch m;
    if (std::regex_search(t, m, attribute)) out.push_back(m[1]);
  }
  return out;
}

// A field of each row of `optbench query --format json` (one row per line), as printed.
std::vector<std::string> JsonField(const std::string& json, const std::string& field) {
  std::vector<std::string> out;
  const std::regex value("\"" + field + "\":(\"[^\"]*\"|[^,}]+)");
  for (absl::string_view line : absl::StrSplit(json, '\n')) {
    std::smatch m;
    const std::string l(line);
    if (std::regex_search(l, m, value)) out.push_back(m[1]);
  }
  return out;
}

std::string NullAsNan(std::string v) { return v == "null" ? "nan" : v; }

class DashboardBrowserTest : public DashboardTest {
 protected:
  void SetUp() override {
    DashboardTest::SetUp();
    chromium_ = FindChromium();
    if (chromium_.empty()) {
      const char* ci = std::getenv("CI");
      if (ci != nullptr && std::string(ci) == "true") {
        FAIL() << "chromium is not installed (scripts/setup installs it); CI=true needs the "
                  "browser test to run";
      }
      GTEST_SKIP() << "chromium is not installed: the browser test is skipped (scripts/setup "
                      "installs it)";
    }
    // Where screenshots go: the test's directory, or $OPTBENCH_DASHBOARD_SCREENSHOTS
    // (scripts/dashboard-screenshots) to keep them.
    const char* keep = std::getenv("OPTBENCH_DASHBOARD_SCREENSHOTS");
    shots_ = keep != nullptr && *keep != '\0' ? std::string(keep) : dir_;
  }

  // The DOM of `path` after its script ran, and a screenshot of it as <shots>/dashboard-NAME.png.
  // `script`: whether the page's script must have run (it cannot on a page refused for want of a
  // token: the script itself needs one).
  std::string Load(const std::string& path, const std::string& name, int height = 900,
                   bool script = true) {
    const std::string url = absl::StrCat("http://127.0.0.1:", http_port_, path);
    const std::string common = absl::StrCat(
        chromium_, " --headless --no-sandbox --disable-gpu --hide-scrollbars --no-first-run ",
        "--user-data-dir=", dir_, "/chromium --virtual-time-budget=5000 ");
    Result dom = RunShell(absl::StrCat(common, "--dump-dom '", url, "' 2>/dev/null"));
    EXPECT_EQ(dom.exit_code, 0) << path << "\n" << dom.output;
    const std::string png = absl::StrCat(shots_, "/dashboard-", name, ".png");
    std::filesystem::remove(png);
    Result shot = RunShell(
        absl::StrCat(common, "--window-size=1280,", height, " --screenshot=", png, " '", url, "'"));
    EXPECT_EQ(shot.exit_code, 0) << shot.output;
    EXPECT_TRUE(std::filesystem::exists(png) && std::filesystem::file_size(png) > 1000) << png;
    // The embedded script ran under the page's policy.
    if (script) {
      EXPECT_NE(dom.output.find("data-script=\"ready\""), std::string::npos) << path;
    }
    return dom.output;
  }

  std::string chromium_;
  std::string shots_;
};

// m = 5: 31 classes; 7 evaluations; a random initialization per seed, so seeds differ.
constexpr char kStudy[] = R"(name: heavy tail <demo>
tags: [paper-1, dashboard]
note: two optimizers, three seeds each, on a heavy-tailed problem
dataset: {name: heavy_tail_uniform, m: 5}
model: {name: linear, init: uniform}
trainer: {steps: 60, eval_every: 10}
seed: [0, 1, 2]
optimizer:
  - {name: gd, lr: 0.2}
  - {name: adam, lr: 0.01}
)";

TEST_F(DashboardBrowserTest, EveryPageShowsWhatQueryPrints) {
  std::ofstream(dir_ + "/study.yaml") << kStudy;
  Result run =
      RunCli(absl::StrCat("run ", dir_, "/study.yaml --db ", dir_, "/optbench.db --workers 2"));
  ASSERT_EQ(run.exit_code, 0) << run.output;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(run.output, m, std::regex("sweep (s-[0-9a-f]+)"))) << run.output;
  const std::string sweep = m[1];
  // A second workload for the comparisons: the same study on another heavy-tailed problem.
  std::ofstream(dir_ + "/other.yaml") << absl::StrReplaceAll(
      kStudy, {{"m: 5", "m: 6"}, {"name: heavy tail <demo>", "name: heavy tail m=6"}});
  run = RunCli(absl::StrCat("run ", dir_, "/other.yaml --db ", dir_, "/optbench.db --workers 2"));
  ASSERT_EQ(run.exit_code, 0) << run.output;
  ASSERT_TRUE(std::regex_search(run.output, m, std::regex("sweep (s-[0-9a-f]+)"))) << run.output;
  const std::string second = m[1];
  StartWithDashboard();
  const std::string coordinator = absl::StrCat(" --coordinator 127.0.0.1:", coordinator_port_);
  auto query = [&](const std::string& args) {
    Result r = RunCli(absl::StrCat("query ", args, " --format json", coordinator));
    EXPECT_EQ(r.exit_code, 0) << args << "\n" << r.output;
    return r.output;
  };

  // The sweeps: its row, job counts and states.
  std::string dom = Load("/", "sweeps", 500);
  EXPECT_NE(dom.find("data-sweep=\"" + sweep + "\""), std::string::npos) << dom;
  EXPECT_NE(dom.find("heavy tail &lt;demo&gt;"), std::string::npos);
  EXPECT_NE(dom.find("<td class=\"num\" data-field=\"jobs\">6</td>"), std::string::npos);
  EXPECT_NE(dom.find("<td class=\"num\" data-field=\"succeeded\">6</td>"), std::string::npos);

  // The sweep: six finished jobs, and the script's poll saw that they are done.
  dom = Load("/sweeps/" + sweep, "sweep", 520);
  EXPECT_EQ(Attributes(dom, "tr", "data-job").size(), 6u);
  EXPECT_NE(dom.find("data-live=\"done\""), std::string::npos) << dom;
  size_t succeeded = 0;
  for (size_t at = dom.find(">succeeded<"); at != std::string::npos;
       at = dom.find(">succeeded<", at + 1)) {
    ++succeeded;
  }
  EXPECT_EQ(succeeded, 6u);
  EXPECT_NE(dom.find("60/60"), std::string::npos);

  // A job: the values at its last step, per frequency group, exactly as query prints them; its
  // figure's readout loaded every row of the job's series.
  const std::string job = sweep + "-0";
  dom = Load("/jobs/" + job + "?groups=4", "job", 1250);
  const std::vector<std::string> shown = Attributes(dom, "td", "data-value");
  std::vector<std::string> want =
      JsonField(query(job + " --group-by frequency:4 --steps 60:60"), "value");
  ASSERT_EQ(want.size(), 4u);
  ASSERT_EQ(shown.size(), want.size()) << dom;
  for (size_t i = 0; i < want.size(); ++i) EXPECT_EQ(shown[i], NullAsNan(want[i])) << i;
  const size_t rows = JsonField(query(job + " --group-by frequency:4"), "value").size();
  EXPECT_EQ(rows, 4u * 7);  // Steps 0, 10, ..., 60.
  EXPECT_EQ(Attributes(dom, "figure", "data-hover-rows"),
            std::vector<std::string>{absl::StrCat(rows)});
  EXPECT_NE(dom.find("data-reference=\"0\""), std::string::npos);  // log c on the loss.

  // The curves: each setting's seed mean at the last step, per group.
  dom = Load("/sweeps/" + sweep + "/curves?groups=4", "curves", 900);
  const std::string aggregate =
      query(sweep + " --group-by frequency:4 --aggregate seed --steps 60:60");
  want = JsonField(aggregate, "mean");
  ASSERT_EQ(want.size(), 2u * 4);
  const std::vector<std::string> means = Attributes(dom, "td", "data-value");
  ASSERT_EQ(means.size(), want.size()) << dom;
  for (size_t i = 0; i < want.size(); ++i) EXPECT_EQ(means[i], NullAsNan(want[i])) << i;
  EXPECT_EQ(Attributes(dom, "td", "data-n"), std::vector<std::string>(8, "3"));
  EXPECT_EQ(Attributes(dom, "polyline", "data-panel").size(), 2u * 4);
  EXPECT_EQ(
      Attributes(dom, "figure", "data-hover-rows"),
      std::vector<std::string>{absl::StrCat(
          JsonField(query(sweep + " --group-by frequency:4 --aggregate seed"), "mean").size())});

  // The per-class scatter of two jobs side by side: every class with its training examples and
  // its final loss, as query --group-by class prints them.
  const std::string other = sweep + "-3";
  dom = Load("/scatter?job=" + job + "&job=" + other, "scatter", 560);
  const std::vector<std::string> panels = Attributes(dom, "circle", "data-panel");
  const std::vector<std::string> classes = Attributes(dom, "circle", "data-class");
  const std::vector<std::string> frequencies = Attributes(dom, "circle", "data-frequency");
  const std::vector<std::string> values = Attributes(dom, "circle", "data-value");
  ASSERT_EQ(classes.size(), panels.size());
  ASSERT_EQ(values.size(), panels.size());
  size_t compared = 0;
  for (int panel = 0; panel < 2; ++panel) {
    const std::string rows_json =
        query((panel == 0 ? job : other) + " --group-by class --steps 60:60");
    const std::vector<std::string> ids = JsonField(rows_json, "class");
    const std::vector<std::string> counts = JsonField(rows_json, "group_train_examples");
    const std::vector<std::string> losses = JsonField(rows_json, "value");
    ASSERT_EQ(ids.size(), 31u);
    std::map<std::string, std::pair<std::string, std::string>> expected;
    for (size_t i = 0; i < ids.size(); ++i) expected[ids[i]] = {counts[i], losses[i]};
    size_t in_panel = 0;
    for (size_t i = 0; i < panels.size(); ++i) {
      if (panels[i] != absl::StrCat(panel)) continue;
      ++in_panel;
      ASSERT_TRUE(expected.count(classes[i])) << classes[i];
      EXPECT_EQ(frequencies[i], expected[classes[i]].first) << "class " << classes[i];
      EXPECT_EQ(values[i], expected[classes[i]].second) << "class " << classes[i];
      ++compared;
    }
    EXPECT_EQ(in_panel, 31u) << "panel " << panel;
  }
  EXPECT_EQ(compared, 62u);

  // A sweep nobody works on: its page keeps polling for changes.
  v1::SubmitSweepResponse waiting = Submit(kStudy);
  ASSERT_FALSE(waiting.sweep().id().empty());
  dom = Load("/sweeps/" + waiting.sweep().id(), "waiting", 400);
  EXPECT_NE(dom.find("data-live=\"polling\""), std::string::npos) << dom;
  std::filesystem::remove(shots_ + "/dashboard-waiting.png");

  // Without a target the comparisons' page says how to give one.
  dom = Load("/sweeps/" + sweep + "/compare", "compare-empty", 400);
  EXPECT_NE(dom.find("?target=0.5"), std::string::npos) << dom;
  std::filesystem::remove(shots_ + "/dashboard-compare-empty.png");
  // With one: the table `optbench profile` prints, and a profile line per optimizer.
  dom = Load("/sweeps/" + sweep + "/compare?target=1&group=rarest&groups=4", "compare-one", 1000);
  Result profile =
      RunCli(absl::StrCat("profile ", sweep, " --target 1 --group rarest --groups 4", coordinator));
  ASSERT_EQ(profile.exit_code, 0) << profile.output;
  const size_t table = dom.find("<pre id=\"profile-table\">");
  ASSERT_NE(table, std::string::npos) << dom;
  const size_t start = table + std::string("<pre id=\"profile-table\">").size();
  const std::string profile_table =
      absl::StrReplaceAll(dom.substr(start, dom.find("</pre>", start) - start),
                          {{"&lt;", "<"}, {"&gt;", ">"}, {"&amp;", "&"}});
  EXPECT_EQ(profile_table, profile.output);
  EXPECT_EQ(Attributes(dom, "polyline", "data-optimizer").size(), 2u);
  std::filesystem::remove(shots_ + "/dashboard-compare-one.png");

  // Both sweeps as workloads (the sweeps list links every sweep it shows; the one submitted
  // above never ran): a bar per optimizer that reached the target with its median steps, as
  // `optbench profile A B --format json` says, and the profile.
  dom = Load("/", "sweeps", 500);
  const size_t compare_these = dom.find("<a id=\"compare-these\" href=\"/compare?");
  ASSERT_NE(compare_these, std::string::npos) << dom;
  const std::string compare_href =
      dom.substr(compare_these, dom.find('>', compare_these) - compare_these);
  for (const std::string& id : {second, sweep}) {
    EXPECT_NE(compare_href.find("sweep=" + id), std::string::npos) << compare_href;
  }
  const std::string link = absl::StrCat("/compare?sweep=", second, "&sweep=", sweep);
  dom = Load(link + "&target=2.5", "compare", 1000);
  Result both = RunCli(
      absl::StrCat("profile ", second, " ", sweep, " --target 2.5 --format json", coordinator));
  ASSERT_EQ(both.exit_code, 0) << both.output;
  std::vector<std::string> reached;
  for (const std::string& steps : JsonField(both.output, "median_steps")) {
    if (steps != "null") reached.push_back(steps);
  }
  ASSERT_FALSE(reached.empty()) << both.output;
  EXPECT_EQ(Attributes(dom, "rect", "data-value"), reached) << dom;
  EXPECT_EQ(JsonField(both.output, "median_steps").size() - reached.size(),
            Attributes(dom, "text", "data-value").size());  // "not reached"
  EXPECT_NE(dom.find("heavy tail m=6"), std::string::npos);
  EXPECT_EQ(Attributes(dom, "polyline", "data-optimizer").size(), 2u);
}

TEST_F(DashboardBrowserTest, ATokenInTheAddressOnceLetsTheBrowserIn) {
  std::ofstream(dir_ + "/tokens") << "reader-token-for-tests read r\n"
                                  << "submit-token-for-tests submit s\n";
  StartWithDashboard({"--auth_tokens=" + dir_ + "/tokens"});
  token_ = "submit-token-for-tests";
  v1::SubmitSweepResponse sweep = Submit(kStudy);
  ASSERT_FALSE(sweep.sweep().id().empty());
  const std::string page = "/sweeps/" + sweep.sweep().id();
  // Without the cookie: the 401 page.
  std::string dom = Load(page, "login-refused", 400, /*script=*/false);
  EXPECT_NE(dom.find("401 Token needed"), std::string::npos) << dom;
  // The redirect sets the cookie (for the browser's session); the page and the script's polls
  // then carry it.
  dom = Load(page + "?token=reader-token-for-tests", "login", 400);
  EXPECT_NE(dom.find("<tr data-job="), std::string::npos) << dom;
  EXPECT_NE(dom.find("data-live=\"polling\""), std::string::npos) << dom;
  EXPECT_EQ(dom.find("reader-token-for-tests"), std::string::npos) << dom;
  for (const char* name : {"login-refused", "login"}) {
    std::filesystem::remove(absl::StrCat(shots_, "/dashboard-", name, ".png"));
  }
}

}  // namespace
}  // namespace optbench
