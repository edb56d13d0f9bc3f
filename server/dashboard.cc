#include "server/dashboard.h"

#include <httplib.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "common/check.h"
#include "common/json.h"
#include "common/logging.h"
#include "report/format.h"
#include "report/plot.h"
#include "report/profile.h"
#include "server/dashboard_assets.h"
#include "server/query.h"
#include "server/wire.h"
#include "spec/params.h"
#include "sweep/sweep_file.h"

namespace optbench::server {
namespace {

constexpr char kCookie[] = "optbench_token";
constexpr int kMaxParamBytes = 256;

// --- Small pieces -------------------------------------------------------------------------------

const embedded::EmbeddedFile* FindAsset(absl::string_view name) {
  for (const embedded::EmbeddedFile& file : embedded::kEmbeddedFiles) {
    if (name == file.name) return &file;
  }
  return nullptr;
}

std::string AssetText(absl::string_view name) {
  const embedded::EmbeddedFile* file = FindAsset(name);
  OPTBENCH_CHECK(file != nullptr);
  return std::string(reinterpret_cast<const char*>(file->data), file->size);
}

// Percent-encodes everything but unreserved characters (RFC 3986 2.3).
std::string UrlEncode(absl::string_view text) {
  std::string out;
  for (unsigned char c : text) {
    if (absl::ascii_isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      absl::StrAppendFormat(&out, "%%%02X", c);
    }
  }
  return out;
}

// The cookie carries the token in hex: cpp-httplib 0.11 percent-decodes every header value it
// reads (a Cookie header's too), so a percent-encoded value could not be split at its ';' again.
std::string CookieValue(absl::string_view token) { return absl::BytesToHexString(token); }

// The token of a cookie value, or "" when it is not hex.
std::string TokenOfCookie(absl::string_view value) {
  if (value.empty() || value.size() % 2 != 0) return "";
  for (char c : value) {
    if (!absl::ascii_isxdigit(c)) return "";
  }
  return absl::HexStringToBytes(value);
}

// "?a=1&b=2" from `params` (empty for none), each key and value percent-encoded.
std::string QueryString(const std::vector<std::pair<std::string, std::string>>& params) {
  std::vector<std::string> parts;
  for (const auto& [k, v] : params) parts.push_back(absl::StrCat(UrlEncode(k), "=", UrlEncode(v)));
  return parts.empty() ? "" : absl::StrCat("?", absl::StrJoin(parts, "&"));
}

// The exact stored double as the CLI's JSON prints it ("nan" for NaN, which JSON shows as null).
std::string Exact(double v) { return spec::FormatDouble(v); }
// The same value for reading.
std::string Short(double v) { return std::isfinite(v) ? absl::StrFormat("%.6g", v) : "–"; }

std::string FormatTimestamp(const google::protobuf::Timestamp& t) {
  if (t.seconds() <= 0) return "–";
  return absl::FormatTime("%Y-%m-%d %H:%M:%S UTC", absl::FromUnixSeconds(t.seconds()),
                          absl::UTCTimeZone());
}

std::string LabelsText(const v1::Job& job) {
  std::map<std::string, std::string> labels(job.labels().begin(), job.labels().end());
  std::vector<std::string> parts;
  for (const auto& [k, v] : labels) parts.push_back(absl::StrCat(k, "=", v));
  return absl::StrJoin(parts, " ");
}

std::string JobLink(const std::string& id) {
  return absl::StrCat("<a href=\"/jobs/", HtmlEscape(UrlEncode(id)), "\">", HtmlEscape(id), "</a>");
}

std::string SweepLink(const std::string& id, const std::string& text) {
  return absl::StrCat("<a href=\"/sweeps/", HtmlEscape(UrlEncode(id)), "\">", HtmlEscape(text),
                      "</a>");
}

// --- Requests -----------------------------------------------------------------------------------

// An answer: an HTML page (or JSON) with its status code.
struct Page {
  int status = 200;
  std::string title;
  std::string body;  // Inside <main>; for JSON, the whole response.
  bool json = false;
};

absl::Status CheckParams(const httplib::Request& request, const std::vector<std::string>& allowed) {
  for (const auto& [key, value] : request.params) {
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "unknown parameter '", key,
          "'; allowed: ", allowed.empty() ? std::string("none") : absl::StrJoin(allowed, ", ")));
    }
    if (value.size() > kMaxParamBytes) {
      return absl::InvalidArgumentError(
          absl::StrCat("parameter '", key, "': longer than ", kMaxParamBytes, " bytes"));
    }
    if (request.params.count(key) > 1 && key != "job" && key != "sweep") {
      return absl::InvalidArgumentError(absl::StrCat("parameter '", key, "': given twice"));
    }
  }
  return absl::OkStatus();
}

// What a picture shows: metric, split, frequency groups, axis.
struct View {
  std::string metric;  // Empty = each job's primary metric.
  v1::Split split = v1::SPLIT_TRAIN;
  int groups = 10;
  bool log_y = true;
};

// Sweeps one comparison takes (each costs two queries over all its jobs).
constexpr size_t kMaxCompareSweeps = 20;

absl::StatusOr<View> ParseView(const httplib::Request& request) {
  View view;
  view.metric = request.get_param_value("metric");
  if (request.has_param("split")) {
    const std::string split = request.get_param_value("split");
    if (split != "train" && split != "test") {
      return absl::InvalidArgumentError(
          absl::StrCat("split: '", split, "' is not one of train, test"));
    }
    view.split = split == "test" ? v1::SPLIT_TEST : v1::SPLIT_TRAIN;
  }
  if (request.has_param("groups")) {
    const std::string groups = request.get_param_value("groups");
    // A panel per group: at most 100 (the CLI's 1000 would be a page of a thousand pictures).
    if (!absl::SimpleAtoi(groups, &view.groups) || view.groups < 1 || view.groups > 100) {
      return absl::InvalidArgumentError(
          absl::StrCat("groups: '", groups, "' is not a whole number in 1..100"));
    }
  }
  if (request.has_param("log")) {
    const std::string log = request.get_param_value("log");
    if (log != "0" && log != "1") {
      return absl::InvalidArgumentError(absl::StrCat("log: '", log, "' is not 0 or 1"));
    }
    view.log_y = log == "1";
  }
  return view;
}

// The view of a page that takes no other parameter.
absl::StatusOr<View> ParseViewOnly(const httplib::Request& request) {
  if (absl::Status s = CheckParams(request, {"metric", "split", "groups", "log"}); !s.ok()) {
    return s;
  }
  return ParseView(request);
}

std::vector<std::pair<std::string, std::string>> ViewParams(const View& view) {
  std::vector<std::pair<std::string, std::string>> params;
  if (!view.metric.empty()) params.emplace_back("metric", view.metric);
  params.emplace_back("split", view.split == v1::SPLIT_TEST ? "test" : "train");
  params.emplace_back("groups", absl::StrCat(view.groups));
  return params;
}

v1::QueryMetricsRequest FrequencyRequest(const View& view) {
  v1::QueryMetricsRequest request;
  request.set_metric(view.metric);
  request.set_split(view.split);
  request.set_group_by(v1::GROUP_BY_FREQUENCY);
  request.set_groups(view.groups);
  return request;
}

// Links to the same picture with other settings (no forms: the policy allows none).
std::string ViewLinks(const std::string& path, const View& view) {
  std::vector<std::string> links;
  auto link = [&](const std::string& text, View other, bool current) {
    std::vector<std::pair<std::string, std::string>> params = ViewParams(other);
    params.emplace_back("log", other.log_y ? "1" : "0");
    links.push_back(current ? absl::StrCat("<b>", HtmlEscape(text), "</b>")
                            : absl::StrCat("<a href=\"", HtmlEscape(path + QueryString(params)),
                                           "\">", HtmlEscape(text), "</a>"));
  };
  for (const char* split : {"train", "test"}) {
    View v = view;
    v.split = std::string(split) == "test" ? v1::SPLIT_TEST : v1::SPLIT_TRAIN;
    link(split, v, v.split == view.split);
  }
  for (int groups : {4, 10, 16}) {
    View v = view;
    v.groups = groups;
    link(absl::StrCat(groups, " groups"), v, groups == view.groups);
  }
  View v = view;
  v.log_y = !view.log_y;
  link(view.log_y ? "linear y" : "log y", v, false);
  return absl::StrCat("<p class=\"views\">", absl::StrJoin(links, " · "), "</p>\n");
}

// The number of classes of a frequency-grouped answer (its groups partition the classes).
int64_t ClassCount(const google::protobuf::RepeatedPtrField<v1::ClassGroup>& groups) {
  int64_t classes = 0;
  for (const v1::ClassGroup& g : groups) classes += g.num_classes();
  return classes;
}

// log c, the loss of a uniform prediction over c classes, on the pictures of the jobs' primary
// metric (the objective's loss: the metric a page shows when none is named) of c >= 2 classes.
void AddLogCReference(const View& view, int64_t classes, report::PlotOptions* options) {
  if (!view.metric.empty() || classes < 2) return;
  options->reference_y = std::log(static_cast<double>(classes));
  options->reference_label = absl::StrCat("log ", classes);
}

// The per-frequency-group curves of a sweep: a panel per frequency group, a line per setting
// (the seed mean over its 95 % band). The one place that picks the layout.
absl::StatusOr<std::string> GroupCurvesSvg(const v1::QueryMetricsResponse& response,
                                           report::PlotOptions options) {
  options.layout = report::PlotLayout::kGroup;
  return report::AggregatesToSvg(response, options);
}

// A figure whose script readout (dashboard.js) reads `rows_url` (JSON rows as /api/query gives
// them) and shows the values at the step under the pointer. `kind`: "aggregate" (rows per
// setting) or "series" (rows per job); `layout`: "group" (a panel per frequency group, found from
// the lines' data-group) or "job" (a panel per series, in the rows' order).
std::string Figure(const std::string& svg, const std::string& rows_url, const std::string& kind,
                   const std::string& layout) {
  return absl::StrCat("<figure class=\"plot\" data-hover-src=\"", HtmlEscape(rows_url),
                      "\" data-hover-kind=\"", kind, "\" data-hover-layout=\"", layout, "\">\n",
                      svg, "<figcaption class=\"readout\">Point at a panel to read its values.",
                      "</figcaption>\n</figure>\n");
}

// A picture that could not be drawn yet (FailedPrecondition: nothing to plot) is a note in the
// page; other errors end the page.
absl::StatusOr<std::string> FigureOrNote(const absl::StatusOr<std::string>& svg,
                                         const std::string& rows_url, const std::string& kind,
                                         const std::string& layout) {
  if (svg.ok()) return Figure(*svg, rows_url, kind, layout);
  if (svg.status().code() == absl::StatusCode::kFailedPrecondition) {
    return absl::StrCat("<p class=\"note\">", HtmlEscape(svg.status().message()), "</p>\n");
  }
  return svg.status();
}

std::string StateCell(v1::JobState state) {
  const std::string name = report::StateName(state);
  return absl::StrCat("<span class=\"state ", name, "\">", name, "</span>");
}

std::string ProgressCell(int64_t step, int64_t total) {
  return absl::StrCat("<progress value=\"", step, "\" max=\"", std::max<int64_t>(total, 1),
                      "\"></progress> <span data-field=\"steps\">", step, "/", total, "</span>");
}

// --- Pages --------------------------------------------------------------------------------------

}  // namespace

class DashboardPages {
 public:
  DashboardPages(storage::StoreReader* store, const spec::Catalog* catalog)
      : store_(store), catalog_(catalog) {}

  absl::StatusOr<Page> Sweeps(const httplib::Request& request) {
    if (absl::Status s = CheckParams(request, {"page", "tag"}); !s.ok()) return s;
    storage::SweepFilter filter;
    filter.limit = 100;
    filter.page_token = request.get_param_value("page");
    const std::string tag = request.get_param_value("tag");
    if (!tag.empty()) {
      if (absl::Status s = sweep::CheckSweepTag(tag); !s.ok()) {
        return absl::InvalidArgumentError(absl::StrCat("tag: ", s.message()));
      }
      filter.tags.push_back(tag);
    }
    auto page = store_->ListSweeps(filter);
    if (!page.ok()) return page.status();
    Page out;
    out.title = "Sweeps";
    absl::StrAppend(&out.body, "<h1>Sweeps</h1>\n<p>", page->total, " sweep(s)",
                    tag.empty() ? "" : absl::StrCat(" tagged <code>", HtmlEscape(tag), "</code>"),
                    ", newest first.</p>\n");
    static constexpr v1::JobState kStates[] = {v1::JOB_STATE_QUEUED,    v1::JOB_STATE_RUNNING,
                                               v1::JOB_STATE_SUCCEEDED, v1::JOB_STATE_FAILED,
                                               v1::JOB_STATE_DIVERGED,  v1::JOB_STATE_CANCELLED};
    absl::StrAppend(&out.body,
                    "<table id=\"sweeps\">\n<thead><tr><th>sweep</th><th>name</th><th>created</th>"
                    "<th>jobs</th>");
    for (v1::JobState state : kStates) {
      absl::StrAppend(&out.body, "<th>", report::StateName(state), "</th>");
    }
    absl::StrAppend(&out.body,
                    "<th>progress</th><th>tags</th><th>note</th></tr></thead>\n<tbody>\n");
    for (const storage::SweepRecord& record : page->sweeps) {
      auto counts = store_->CountJobs(record.id);
      if (!counts.ok()) return counts.status();
      const v1::Sweep sweep = SweepToProto(record, *counts);
      int64_t finished = 0;
      absl::StrAppend(&out.body, "<tr data-sweep=\"", HtmlEscape(sweep.id()), "\"><td>",
                      SweepLink(sweep.id(), sweep.id()), "</td><td>", HtmlEscape(sweep.name()),
                      "</td><td>", FormatTimestamp(sweep.created_at()),
                      "</td><td class=\"num\" data-field=\"jobs\">", sweep.num_jobs(), "</td>");
      for (v1::JobState state : kStates) {
        const std::string name = report::StateName(state);
        auto it = sweep.state_counts().find(name);
        const int64_t n = it == sweep.state_counts().end() ? 0 : it->second;
        if (state != v1::JOB_STATE_QUEUED && state != v1::JOB_STATE_RUNNING) finished += n;
        absl::StrAppend(&out.body, "<td class=\"num\" data-field=\"", name, "\">", n, "</td>");
      }
      std::vector<std::string> tags;
      for (const std::string& t : sweep.tags()) {
        tags.push_back(absl::StrCat("<a class=\"tag\" href=\"/",
                                    HtmlEscape(QueryString({{"tag", t}})), "\">", HtmlEscape(t),
                                    "</a>"));
      }
      std::string note = sweep.note().substr(0, 80);
      if (note.size() < sweep.note().size()) note += "…";
      absl::StrAppend(&out.body, "<td><progress value=\"", finished, "\" max=\"",
                      std::max<int64_t>(sweep.num_jobs(), 1), "\"></progress> ", finished, "/",
                      sweep.num_jobs(), "</td><td>", absl::StrJoin(tags, " "), "</td><td>",
                      HtmlEscape(note), "</td></tr>\n");
    }
    absl::StrAppend(&out.body, "</tbody>\n</table>\n");
    if (page->sweeps.size() > 1) {
      // The sweeps on this page (the newest kMaxCompareSweeps) as the workloads of one comparison.
      std::vector<std::pair<std::string, std::string>> params;
      for (const storage::SweepRecord& record : page->sweeps) {
        if (params.size() == kMaxCompareSweeps) break;
        params.emplace_back("sweep", record.id);
      }
      absl::StrAppend(&out.body, "<p><a id=\"compare-these\" href=\"/compare",
                      HtmlEscape(QueryString(params)), "\">compare ",
                      params.size() < page->sweeps.size()
                          ? absl::StrCat("the newest ", params.size(), " of these sweeps")
                          : std::string("these sweeps"),
                      "</a> (each a workload: time to target, performance profile)</p>\n");
    }
    if (!page->next_page_token.empty()) {
      std::vector<std::pair<std::string, std::string>> params = {{"page", page->next_page_token}};
      if (!tag.empty()) params.emplace_back("tag", tag);
      absl::StrAppend(&out.body, "<p><a href=\"/", HtmlEscape(QueryString(params)),
                      "\">older sweeps</a></p>\n");
    }
    return out;
  }

  absl::StatusOr<Page> Sweep(const httplib::Request& request, const std::string& id) {
    if (absl::Status s = CheckParams(request, {}); !s.ok()) return s;
    auto record = store_->GetSweep(id);
    if (!record.ok()) return record.status();
    auto counts = store_->CountJobs(id);
    if (!counts.ok()) return counts.status();
    const v1::Sweep sweep = SweepToProto(*record, *counts);
    auto jobs = AllJobsOfSweep(*store_, id);
    if (!jobs.ok()) return jobs.status();
    Page out;
    out.title = absl::StrCat("Sweep ", sweep.name());
    absl::StrAppend(&out.body, "<h1>Sweep ", HtmlEscape(sweep.name()), "</h1>\n<p><code>",
                    HtmlEscape(sweep.id()), "</code>, created ",
                    FormatTimestamp(sweep.created_at()), ", ", sweep.num_jobs(), " job(s)");
    if (!sweep.tags().empty()) {
      std::vector<std::string> tags;
      for (const std::string& t : sweep.tags()) tags.push_back(HtmlEscape(t));
      absl::StrAppend(&out.body, "; tags <span class=\"tag\">",
                      absl::StrJoin(tags, "</span> <span class=\"tag\">"), "</span>");
    }
    absl::StrAppend(&out.body, ".</p>\n");
    if (!sweep.note().empty()) {
      absl::StrAppend(&out.body, "<blockquote class=\"note\">", HtmlEscape(sweep.note()),
                      "</blockquote>\n");
    }
    const std::string path = absl::StrCat("/sweeps/", UrlEncode(id));
    absl::StrAppend(&out.body, "<p><a href=\"", HtmlEscape(path),
                    "/curves\">curves per frequency group</a> · <a href=\"", HtmlEscape(path),
                    "/compare\">comparisons</a></p>\n");
    absl::StrAppend(&out.body, "<table id=\"jobs\" data-live-src=\"",
                    HtmlEscape(absl::StrCat("/api/sweeps/", UrlEncode(id), "/jobs")),
                    "\">\n<thead><tr><th>job</th><th>state</th><th>attempt</th><th>worker</th>"
                    "<th>progress</th><th>labels</th><th>error</th></tr></thead>\n<tbody>\n");
    for (const storage::JobRecord& record : *jobs) {
      const v1::Job job = JobToProto(record);
      absl::StrAppend(&out.body, "<tr data-job=\"", HtmlEscape(job.id()), "\"><td>",
                      JobLink(job.id()), "</td><td data-field=\"state\">", StateCell(job.state()),
                      "</td><td class=\"num\" data-field=\"attempt\">", job.attempt(),
                      "</td><td data-field=\"worker\">", HtmlEscape(job.worker_id()),
                      "</td><td data-field=\"progress\">",
                      ProgressCell(job.progress_step(), job.total_steps()), "</td><td>",
                      HtmlEscape(LabelsText(job)), "</td><td class=\"error\" data-field=\"error\">",
                      HtmlEscape(job.error().substr(0, 200)), "</td></tr>\n");
    }
    absl::StrAppend(&out.body, "</tbody>\n</table>\n");
    return out;
  }

  absl::StatusOr<Page> SweepJobsJson(const httplib::Request& request, const std::string& id) {
    if (absl::Status s = CheckParams(request, {}); !s.ok()) return s;
    if (auto s = store_->GetSweep(id); !s.ok()) return s.status();
    auto jobs = AllJobsOfSweep(*store_, id);
    if (!jobs.ok()) return jobs.status();
    bool done = true;
    std::vector<std::string> rows;
    for (const storage::JobRecord& record : *jobs) {
      done = done && storage::IsTerminal(record.state);
      const v1::Job job = JobToProto(record);
      rows.push_back(absl::StrCat(
          "{\"id\":", JsonQuote(job.id()), ",\"state\":", JsonQuote(report::StateName(job.state())),
          ",\"attempt\":", job.attempt(), ",\"worker\":", JsonQuote(job.worker_id()),
          ",\"progress_step\":", job.progress_step(), ",\"total_steps\":", job.total_steps(),
          ",\"error\":", JsonQuote(job.error().substr(0, 200)), "}"));
    }
    Page out;
    out.json = true;
    out.body = absl::StrCat("{\"done\":", done ? "true" : "false", ",\"jobs\":[",
                            absl::StrJoin(rows, ","), "]}\n");
    return out;
  }

  absl::StatusOr<Page> Curves(const httplib::Request& request, const std::string& id) {
    auto view = ParseViewOnly(request);
    if (!view.ok()) return view.status();
    auto record = store_->GetSweep(id);
    if (!record.ok()) return record.status();
    v1::QueryMetricsRequest query = FrequencyRequest(*view);
    query.set_sweep_id(id);
    query.set_aggregate("seed");
    auto response = QueryMetrics(*store_, *catalog_, query);
    if (!response.ok()) return response.status();
    Page out;
    out.title = absl::StrCat("Curves of ", record->name);
    const std::string path = absl::StrCat("/sweeps/", UrlEncode(id), "/curves");
    absl::StrAppend(&out.body, "<h1>Curves of ", SweepLink(id, record->name), "</h1>\n",
                    ViewLinks(path, *view));
    report::PlotOptions options;
    options.log_y = view->log_y;
    std::string metric = view->metric;
    if (response->aggregates_size() > 0) {
      metric = response->aggregates(0).metric();
      AddLogCReference(*view, ClassCount(response->aggregates(0).groups()), &options);
    }
    options.title =
        absl::StrCat(record->name, ": ", view->split == v1::SPLIT_TEST ? "test " : "train ", metric,
                     ", mean over seeds with 95 % interval");
    std::vector<std::pair<std::string, std::string>> params = ViewParams(*view);
    params.insert(params.begin(), {"sweep", id});
    params.emplace_back("aggregate", "seed");
    auto figure =
        FigureOrNote(GroupCurvesSvg(*response, options),
                     absl::StrCat("/api/query", QueryString(params)), "aggregate", "group");
    if (!figure.ok()) return figure.status();
    absl::StrAppend(&out.body, *figure);
    // The values at each setting's last step, exactly (the browser test reads them).
    absl::StrAppend(&out.body,
                    "<h2>At the last step</h2>\n<table id=\"final\">\n<thead><tr><th>setting</th>"
                    "<th>step</th><th>group</th><th>classes</th><th>mean</th><th>95 % interval</th>"
                    "<th>seeds</th></tr></thead>\n<tbody>\n");
    for (const v1::AggregateSeries& a : response->aggregates()) {
      if (a.points().empty()) continue;
      v1::Job as_job;
      *as_job.mutable_labels() = a.labels();
      const std::string setting = HtmlEscape(LabelsText(as_job));
      const v1::AggregatePoint& last = a.points(a.points_size() - 1);
      for (int g = 0; g < last.values_size(); ++g) {
        const v1::AggregateValue& v = last.values(g);
        absl::StrAppend(&out.body, "<tr data-setting=\"", setting, "\" data-step=\"", last.step(),
                        "\" data-group=\"", g + 1, "\"><td>", setting, "</td><td class=\"num\">",
                        last.step(), "</td><td class=\"num\">", g + 1, "</td><td class=\"num\">",
                        g < a.groups_size() ? a.groups(g).num_classes() : 0,
                        "</td><td class=\"num\" data-value=\"", Exact(v.mean()), "\">",
                        Short(v.mean()), "</td><td class=\"num\">", Short(v.ci_low()), " … ",
                        Short(v.ci_high()), "</td><td class=\"num\" data-n=\"", v.n(), "\">", v.n(),
                        "</td></tr>\n");
      }
    }
    absl::StrAppend(&out.body, "</tbody>\n</table>\n");
    return out;
  }

  absl::StatusOr<Page> Job(const httplib::Request& request, const std::string& id) {
    auto view = ParseViewOnly(request);
    if (!view.ok()) return view.status();
    auto record = store_->GetJob(id);
    if (!record.ok()) return record.status();
    const v1::Job job = JobToProto(*record);
    Page out;
    out.title = absl::StrCat("Job ", job.id());
    absl::StrAppend(&out.body, "<h1>Job ", HtmlEscape(job.id()), "</h1>\n<p>",
                    HtmlEscape(report::JobTitle(job)), " in sweep ",
                    SweepLink(job.sweep_id(), job.sweep_id()), "</p>\n");
    absl::StrAppend(
        &out.body,
        "<table id=\"job\" class=\"fields\">\n<tr><th>state</th><td data-field=\"state\">",
        StateCell(job.state()), "</td></tr>\n<tr><th>attempt</th><td data-field=\"attempt\">",
        job.attempt(), " of ", job.max_attempts(),
        "</td></tr>\n<tr><th>worker</th><td data-field=\"worker\">", HtmlEscape(job.worker_id()),
        "</td></tr>\n<tr><th>progress</th><td>",
        ProgressCell(job.progress_step(), job.total_steps()),
        "</td></tr>\n<tr><th>created</th><td>", FormatTimestamp(job.created_at()),
        "</td></tr>\n<tr><th>started</th><td>", FormatTimestamp(job.started_at()),
        "</td></tr>\n<tr><th>finished</th><td>", FormatTimestamp(job.finished_at()),
        "</td></tr>\n");
    if (job.has_kept_model()) {
      absl::StrAppend(&out.body, "<tr><th>kept model</th><td>",
                      report::FormatBytes(job.kept_model().size_bytes()), "</td></tr>\n");
    }
    absl::StrAppend(&out.body, "</table>\n");
    if (!job.error().empty()) {
      absl::StrAppend(&out.body, "<h2>Error</h2>\n<pre class=\"error\" id=\"error\">",
                      HtmlEscape(job.error()), "</pre>\n");
    }
    absl::StrAppend(&out.body, "<h2>Settings</h2>\n<table id=\"labels\" class=\"fields\">\n");
    std::map<std::string, std::string> labels(job.labels().begin(), job.labels().end());
    for (const auto& [k, v] : labels) {
      absl::StrAppend(&out.body, "<tr><th>", HtmlEscape(k), "</th><td>", HtmlEscape(v),
                      "</td></tr>\n");
    }
    absl::StrAppend(&out.body, "</table>\n<details><summary>full specification</summary><pre>",
                    HtmlEscape(job.spec().DebugString()), "</pre></details>\n");

    v1::QueryMetricsRequest query = FrequencyRequest(*view);
    query.set_job_id(id);
    auto response = QueryMetrics(*store_, *catalog_, query);
    absl::StrAppend(&out.body, "<h2>Curves</h2>\n");
    const std::string path = absl::StrCat("/jobs/", UrlEncode(id));
    absl::StrAppend(&out.body, ViewLinks(path, *view));
    if (!response.ok()) {
      // A job that declares no metric of that name still has a page.
      if (response.status().code() != absl::StatusCode::kInvalidArgument || !view->metric.empty() ||
          view->split != v1::SPLIT_TRAIN) {
        return response.status();
      }
      absl::StrAppend(&out.body, "<p class=\"note\">", HtmlEscape(response.status().message()),
                      "</p>\n");
      return out;
    }
    report::PlotOptions options;
    options.log_y = view->log_y;
    // One job: one panel, a line per frequency group.
    options.layout = report::PlotLayout::kJob;
    options.columns = 1;
    if (response->series_size() > 0) {
      const v1::Series& s = response->series(0);
      AddLogCReference(*view, ClassCount(s.groups()), &options);
      options.title = absl::StrCat(view->split == v1::SPLIT_TEST ? "test " : "train ", s.metric(),
                                   " per frequency group");
    }
    std::vector<std::pair<std::string, std::string>> params = ViewParams(*view);
    params.insert(params.begin(), {"job", id});
    auto figure = FigureOrNote(report::QueryToSvg(*response, options),
                               absl::StrCat("/api/query", QueryString(params)), "series", "job");
    if (!figure.ok()) return figure.status();
    absl::StrAppend(&out.body, *figure);
    if (response->series_size() > 0 && !response->series(0).points().empty()) {
      const v1::Series& s = response->series(0);
      const v1::SeriesPoint& last = s.points(s.points_size() - 1);
      absl::StrAppend(&out.body, "<h2>At step ", last.step(),
                      "</h2>\n<table id=\"final\">\n<thead><tr><th>group</th><th>classes</th>"
                      "<th>train examples</th><th>",
                      HtmlEscape(s.metric()), "</th></tr></thead>\n<tbody>\n");
      for (int g = 0; g < last.values_size(); ++g) {
        const v1::ClassGroup* group = g < s.groups_size() ? &s.groups(g) : nullptr;
        absl::StrAppend(&out.body, "<tr data-step=\"", last.step(), "\" data-group=\"", g + 1,
                        "\"><td class=\"num\">", g + 1, "</td><td class=\"num\">",
                        group ? group->num_classes() : 0, "</td><td class=\"num\">",
                        group ? group->train_examples() : 0, "</td><td class=\"num\" data-value=\"",
                        Exact(last.values(g)), "\">", Short(last.values(g)), "</td></tr>\n");
      }
      absl::StrAppend(&out.body, "</tbody>\n</table>\n");
    }
    // The per-class picture, alone or beside each other job of the sweep.
    std::vector<std::pair<std::string, std::string>> scatter = {{"job", id}};
    if (view->split == v1::SPLIT_TEST) scatter.emplace_back("split", "test");
    if (!view->metric.empty()) scatter.emplace_back("metric", view->metric);
    absl::StrAppend(&out.body, "<p><a href=\"", HtmlEscape("/scatter" + QueryString(scatter)),
                    "\">per-class scatter</a>");
    storage::JobFilter siblings;
    siblings.sweep_id = job.sweep_id();
    siblings.page_size = 20;
    auto others = store_->ListJobs(siblings);
    if (others.ok()) {
      std::vector<std::string> links;
      for (const storage::JobRecord& other : others->jobs) {
        if (other.id == id) continue;
        std::vector<std::pair<std::string, std::string>> both = scatter;
        both.insert(both.begin() + 1, {"job", other.id});
        links.push_back(absl::StrCat("<a href=\"", HtmlEscape("/scatter" + QueryString(both)),
                                     "\">", HtmlEscape(other.id), "</a>"));
      }
      if (!links.empty()) {
        absl::StrAppend(&out.body, "; beside ", absl::StrJoin(links, ", "));
      }
    }
    absl::StrAppend(&out.body, "</p>\n");
    return out;
  }

  absl::StatusOr<Page> Scatter(const httplib::Request& request) {
    if (absl::Status s = CheckParams(request, {"job", "metric", "split"}); !s.ok()) return s;
    auto view = ParseView(request);
    if (!view.ok()) return view.status();
    std::vector<std::string> ids;
    for (auto [it, end] = request.params.equal_range("job"); it != end; ++it) {
      ids.push_back(it->second);
    }
    if (ids.empty() || ids.size() > 2) {
      return absl::InvalidArgumentError(
          absl::StrCat("job: ", ids.size(), " given; give one or two (?job=A&job=B)"));
    }
    v1::QueryMetricsResponse all;
    for (const std::string& id : ids) {
      v1::QueryMetricsRequest query;
      query.set_job_id(id);
      query.set_metric(view->metric);
      query.set_split(view->split);
      // The last evaluated step from the overall values (a value per step), then the classes at
      // that step only: every step's classes would be steps x classes values for one picture.
      query.set_group_by(v1::GROUP_BY_NONE);
      auto overall = QueryMetrics(*store_, *catalog_, query);
      if (!overall.ok()) return overall.status();
      if (overall->series_size() > 0 && overall->series(0).points_size() > 0) {
        const auto& points = overall->series(0).points();
        query.set_min_step(points[points.size() - 1].step());
        query.set_max_step(points[points.size() - 1].step());
      }
      query.set_group_by(v1::GROUP_BY_CLASS);
      auto one = QueryMetrics(*store_, *catalog_, query);
      if (!one.ok()) return one.status();
      for (v1::Series& s : *one->mutable_series()) *all.add_series() = std::move(s);
    }
    Page out;
    std::vector<std::string> links;
    for (const std::string& id : ids) links.push_back(JobLink(id));
    out.title = absl::StrCat("Per-class scatter of ", absl::StrJoin(ids, " and "));
    absl::StrAppend(&out.body, "<h1>Per class: ", absl::StrJoin(links, " and "), "</h1>\n",
                    "<p>Each point is a class: its value at the job's last evaluation against its "
                    "number of training examples.</p>\n");
    report::PlotOptions options;
    auto svg = report::ClassScatterToSvg(all, options);
    if (svg.ok()) {
      absl::StrAppend(&out.body, "<figure class=\"plot scatter\">\n", *svg,
                      "<figcaption class=\"readout\">Point at a class to read it.</figcaption>\n"
                      "</figure>\n");
    } else if (svg.status().code() == absl::StatusCode::kFailedPrecondition) {
      absl::StrAppend(&out.body, "<p class=\"note\">", HtmlEscape(svg.status().message()),
                      "</p>\n");
    } else {
      return svg.status();
    }
    return out;
  }

  // Time to target and the performance profile of the optimizers of the sweeps `ids` (each a
  // workload, or several when it varies its problem), as `optbench profile IDS --target T`
  // computes them (report/profile.h), for ?target=T (required to compute), goal=min|max,
  // time=steps|seconds, group=G|rarest of groups=N (default overall), split, metric. `ids` come
  // from the path (/sweeps/ID/compare) or from repeated ?sweep= (/compare).
  absl::StatusOr<Page> Compare(const httplib::Request& request, std::vector<std::string> ids) {
    if (absl::Status s = CheckParams(
            request, {"target", "goal", "time", "group", "groups", "split", "metric", "sweep"});
        !s.ok()) {
      return s;
    }
    const bool from_path = !ids.empty();
    if (from_path && request.has_param("sweep")) {
      return absl::InvalidArgumentError("sweep: the sweep is in the path; give no ?sweep= here");
    }
    for (size_t i = 0; i < request.get_param_value_count("sweep"); ++i) {
      const std::string id = request.get_param_value("sweep", i);
      if (std::find(ids.begin(), ids.end(), id) == ids.end()) ids.push_back(id);
    }
    if (ids.empty()) {
      return absl::InvalidArgumentError(
          "sweep: give the sweeps to compare, ?sweep=ID&sweep=ID (each a workload)");
    }
    if (ids.size() > kMaxCompareSweeps) {
      return absl::InvalidArgumentError(absl::StrCat("sweep: ", ids.size(),
                                                     " sweeps given; at most ", kMaxCompareSweeps,
                                                     " are compared at once"));
    }
    auto view = ParseView(request);
    if (!view.ok()) return view.status();
    report::ProfileQuestion question;
    std::vector<std::string> links;
    for (const std::string& id : ids) {
      auto record = store_->GetSweep(id);
      if (!record.ok()) return record.status();
      question.workload_names[id] = record->name;
      links.push_back(SweepLink(id, record->name));
    }
    Page out;
    out.title =
        absl::StrCat("Comparisons of ", ids.size() == 1 ? question.workload_names[ids[0]]
                                                        : absl::StrCat(ids.size(), " sweeps"));
    absl::StrAppend(&out.body, "<h1>Comparisons of ", absl::StrJoin(links, ", "), "</h1>\n");
    const std::string target = request.get_param_value("target");
    if (target.empty()) {
      absl::StrAppend(
          &out.body,
          "<section id=\"time-to-target\">\n<h2>Time to target</h2>\n<p class=\"note\">Give "
          "a target value in the address: <code>?target=0.5</code> (and optionally "
          "<code>&amp;group=rarest</code>, <code>&amp;goal=max</code>, "
          "<code>&amp;time=seconds</code>), as <code>optbench profile --target</code> takes "
          "it.</p>\n</section>\n<section id=\"performance-profile\">\n<h2>Performance "
          "profile</h2>\n<p class=\"note\">Drawn once a target is given.</p>\n</section>\n");
      return out;
    }
    question.groups = view->groups;
    std::optional<report::Goal> goal;
    if (absl::Status s = report::ParseProfileSettings(
            {target, request.get_param_value("goal"), request.get_param_value("time"),
             request.get_param_value("group")},
            "", &question, &goal);
        !s.ok()) {
      return s;
    }
    report::ProfileOptions& options = question.options;
    v1::QueryMetricsRequest query = FrequencyRequest(*view);
    query.set_group_by(question.group > 0 ? v1::GROUP_BY_FREQUENCY : v1::GROUP_BY_NONE);
    // The sweeps' series side by side, as `optbench profile` puts them.
    v1::QueryMetricsResponse metric;
    absl::StatusOr<v1::QueryMetricsResponse> seconds = v1::QueryMetricsResponse();
    for (const std::string& id : ids) {
      query.set_sweep_id(id);
      auto one = QueryMetrics(*store_, *catalog_, query);
      if (!one.ok()) return one.status();
      for (v1::Series& s : *one->mutable_series()) *metric.add_series() = std::move(s);
      if (!seconds.ok()) continue;
      auto wall = QueryMetrics(*store_, *catalog_, report::WallSecondsQuery(query));
      if (!wall.ok()) {
        seconds = wall.status();
        continue;
      }
      for (v1::Series& s : *wall->mutable_series()) *seconds->add_series() = std::move(s);
    }
    if (!seconds.ok()) {
      // Only train jobs report wall_seconds; times in steps do without them.
      if (options.time == report::TimeMeasure::kSeconds) return seconds.status();
      seconds = v1::QueryMetricsResponse();
    }
    options.goal = goal.value_or(report::DefaultGoal(metric));
    question.metric = metric.series_size() > 0 ? metric.series(0).metric() : view->metric;
    question.split = view->split == v1::SPLIT_TEST ? "test" : "train";
    auto input = report::ProfileRunsFromQuery(metric, *seconds, question.group);
    if (input.ok() && !input->left_out.empty()) {
      // As the CLI says it: unfinished seeds would make a setting's median over fewer seeds.
      absl::StrAppend(&out.body, "<p class=\"note\" id=\"left-out\">Left out ",
                      HtmlEscape(report::LeftOutText(input->left_out)),
                      " job(s): only succeeded and diverged jobs count.</p>\n");
    }

    absl::StatusOr<report::ProfileResult> result =
        input.ok() ? report::ComputeProfile(input->runs, options) : input.status();
    if (!result.ok()) {
      // Nothing finished yet, or a target no run could be timed at: a note, not an error page.
      if (result.status().code() != absl::StatusCode::kFailedPrecondition) return result.status();
      absl::StrAppend(&out.body, "<p class=\"note\">", HtmlEscape(result.status().message()),
                      "</p>\n");
      return out;
    }
    report::ProfilePlotOptions plot;
    plot.title = absl::StrCat("time to target: ", report::QuestionText(question));
    auto bars = report::TimeToTargetToSvg(*result, question, plot);
    if (!bars.ok()) return bars.status();
    absl::StrAppend(&out.body,
                    "<section id=\"time-to-target\">\n<h2>Time to target</h2>\n"
                    "<figure class=\"plot\">\n",
                    *bars, "</figure>\n<pre id=\"profile-table\">",
                    HtmlEscape(report::ProfileToTable(*result, question)), "</pre>\n</section>\n");
    plot.title = absl::StrCat("performance profile: ", report::QuestionText(question));
    auto svg = report::ProfileToSvg(*result, plot);
    if (!svg.ok()) return svg.status();
    absl::StrAppend(&out.body,
                    "<section id=\"performance-profile\">\n<h2>Performance profile</h2>\n"
                    "<figure class=\"plot\">\n",
                    *svg, "</figure>\n</section>\n");
    return out;
  }

  absl::StatusOr<Page> QueryJson(const httplib::Request& request) {
    if (absl::Status s = CheckParams(
            request, {"sweep", "job", "metric", "split", "groups", "group_by", "aggregate"});
        !s.ok()) {
      return s;
    }
    auto view = ParseView(request);
    if (!view.ok()) return view.status();
    v1::QueryMetricsRequest query = FrequencyRequest(*view);
    const std::string group_by = request.get_param_value("group_by");
    if (group_by == "class") {
      query.set_group_by(v1::GROUP_BY_CLASS);
    } else if (!group_by.empty() && group_by != "frequency") {
      return absl::InvalidArgumentError(
          absl::StrCat("group_by: '", group_by, "' is not one of frequency, class"));
    }
    const std::string aggregate = request.get_param_value("aggregate");
    if (!aggregate.empty() && aggregate != "seed") {
      return absl::InvalidArgumentError(
          absl::StrCat("aggregate: '", aggregate, "' is not accepted; accepted: seed"));
    }
    query.set_aggregate(aggregate);
    if (request.has_param("sweep") == request.has_param("job")) {
      return absl::InvalidArgumentError("give one of sweep=ID and job=ID");
    }
    if (request.has_param("sweep")) {
      query.set_sweep_id(request.get_param_value("sweep"));
    } else {
      query.set_job_id(request.get_param_value("job"));
    }
    auto response = QueryMetrics(*store_, *catalog_, query);
    if (!response.ok()) return response.status();
    Page out;
    out.json = true;
    out.body = aggregate.empty() ? report::QueryToJson(*response, query.group_by())
                                 : report::AggregatesToJson(*response, query.group_by());
    return out;
  }

 private:
  storage::StoreReader* const store_;
  const spec::Catalog* const catalog_;
};

namespace {

// --- Serving ------------------------------------------------------------------------------------

int HttpCode(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange:
      return 400;
    case absl::StatusCode::kUnauthenticated:
      return 401;
    case absl::StatusCode::kPermissionDenied:
      return 403;
    case absl::StatusCode::kNotFound:
      return 404;
    case absl::StatusCode::kFailedPrecondition:
      return 409;
    case absl::StatusCode::kUnavailable:
      return 503;
    default:
      return 500;
  }
}

std::string ReasonOf(int code) {
  switch (code) {
    case 400:
      return "Bad request";
    case 401:
      return "Token needed";
    case 403:
      return "Forbidden";
    case 404:
      return "Not found";
    case 405:
      return "Method not allowed";
    case 409:
      return "Not possible now";
    case 503:
      return "Unavailable";
    default:
      return code >= 500 ? "Server error" : "Error";
  }
}

void SendHtml(const Page& page, httplib::Response& response) {
  response.status = page.status;
  if (page.json) {
    response.set_content(page.body, "application/json; charset=utf-8");
    return;
  }
  static const std::string* const kTemplate = new std::string(AssetText("page.html"));
  response.set_content(absl::StrReplaceAll(*kTemplate, {{"{{title}}", HtmlEscape(page.title)},
                                                        {"{{body}}", page.body}}),
                       "text/html; charset=utf-8");
}

Page ErrorPage(int code, absl::string_view message, bool json) {
  Page page;
  page.status = code;
  page.json = json;
  if (json) {
    page.body = absl::StrCat("{\"error\":", JsonQuote(std::string(message)), "}\n");
    return page;
  }
  page.title = ReasonOf(code);
  page.body = absl::StrCat("<h1>", code, " ", ReasonOf(code), "</h1>\n<p class=\"error\">",
                           HtmlEscape(message), "</p>\n<p><a href=\"/\">all sweeps</a></p>\n");
  return page;
}

// The token a request carries: its Authorization header, else the dashboard's cookie, as
// "Bearer TOKEN" for Authenticator::Check ("" for none).
std::string Authorization(const httplib::Request& request) {
  if (request.has_header("Authorization")) return request.get_header_value("Authorization");
  for (size_t i = 0; i < request.get_header_value_count("Cookie"); ++i) {
    for (absl::string_view cookie : absl::StrSplit(request.get_header_value("Cookie", i), ';')) {
      cookie = absl::StripAsciiWhitespace(cookie);
      if (absl::ConsumePrefix(&cookie, kCookie) && absl::ConsumePrefix(&cookie, "=")) {
        const std::string token = TokenOfCookie(cookie);
        return token.empty() ? "" : absl::StrCat("Bearer ", token);
      }
    }
  }
  return "";
}

using Handler = std::function<absl::StatusOr<Page>(const httplib::Request&)>;

// Wraps a page: its errors become error pages naming what was wrong; nothing a handler throws
// (httplib, protobuf) crosses into the server.
httplib::Server::Handler Serve(Handler handler, bool json) {
  return [handler = std::move(handler), json](const httplib::Request& request,
                                              httplib::Response& response) {
    absl::StatusOr<Page> page = absl::InternalError("no answer");
    try {
      page = handler(request);
    } catch (const std::exception& e) {
      page = absl::InternalError(absl::StrCat("internal error: ", e.what()));
    }
    if (!page.ok()) {
      const int code = HttpCode(page.status());
      if (code >= 500) {
        Log(LogLevel::kError, "dashboard", "%s %s: %s", request.method, request.path,
            page.status().ToString());
      }
      SendHtml(ErrorPage(code, page.status().message(), json), response);
      return;
    }
    page->json = page->json || json;
    SendHtml(*page, response);
  };
}

// The address a redirect may send the browser to: `path` (percent-decoded by httplib) with each
// segment encoded again and empty segments dropped, so it always stays on this host ("/x/y", never
// "//evil.example/" or "/\\evil.example").
std::string SameSitePath(absl::string_view path) {
  std::vector<std::string> segments;
  for (absl::string_view segment : absl::StrSplit(path, '/', absl::SkipEmpty())) {
    segments.push_back(UrlEncode(segment));
  }
  return absl::StrCat("/", absl::StrJoin(segments, "/"));
}

// The host of a Host header ("127.0.0.1:8080" -> "127.0.0.1", "[::1]:8080" -> "[::1]").
absl::string_view HostOfHeader(absl::string_view host) {
  if (absl::StartsWith(host, "[")) return host.substr(0, host.find(']') + 1);
  return host.substr(0, host.find(':'));
}

// `check_host`: serving loopback without tokens, answer only requests addressed to a loopback
// name: another site's page whose name resolves to 127.0.0.1 (DNS rebinding) would otherwise read
// every result as a same-origin request.
void AddRoutes(httplib::Server& http, DashboardPages* pages, const Authenticator* auth, bool tls,
               bool check_host) {
  http.set_default_headers({{"Content-Security-Policy", kDashboardContentSecurityPolicy},
                            {"X-Content-Type-Options", "nosniff"},
                            {"Referrer-Policy", "no-referrer"},
                            {"X-Frame-Options", "DENY"},
                            {"Cache-Control", "no-store"}});
  // Before any route: the method, then the token.
  http.set_pre_routing_handler([auth, tls, check_host](const httplib::Request& request,
                                                       httplib::Response& response) {
    if (request.method != "GET" && request.method != "HEAD") {
      response.set_header("Allow", "GET, HEAD");
      SendHtml(ErrorPage(405,
                         absl::StrCat("method ", request.method,
                                      " is not allowed; the dashboard only reads (GET, HEAD)"),
                         false),
               response);
      return httplib::Server::HandlerResponse::Handled;
    }
    if (check_host && !IsLoopbackHost(HostOfHeader(request.get_header_value("Host")))) {
      SendHtml(ErrorPage(421,
                         absl::StrCat("host '", request.get_header_value("Host"),
                                      "' is not a loopback name: without tokens the dashboard "
                                      "answers only requests to localhost, 127.0.0.1 or [::1]"),
                         false),
               response);
      return httplib::Server::HandlerResponse::Handled;
    }
    if (auth == nullptr) return httplib::Server::HandlerResponse::Unhandled;
    if (request.has_param("token")) {
      const std::string token = request.get_param_value("token");
      if (absl::Status s = auth->Check(absl::StrCat("Bearer ", token), Role::kRead); !s.ok()) {
        SendHtml(ErrorPage(HttpCode(s), s.message(), false), response);
        return httplib::Server::HandlerResponse::Handled;
      }
      // The same URL without the token, so it leaves the address bar and the history.
      std::vector<std::pair<std::string, std::string>> rest;
      for (const auto& [k, v] : request.params) {
        if (k != "token") rest.emplace_back(k, v);
      }
      response.set_header("Set-Cookie",
                          absl::StrCat(kCookie, "=", CookieValue(token),
                                       "; Path=/; HttpOnly; SameSite=Lax", tls ? "; Secure" : ""));
      // Lax, not Strict: a link followed from another site (mail, a wiki) must arrive with the
      // cookie; the dashboard only reads, so Lax opens no cross-site write.
      response.status = 303;
      response.set_header("Location", SameSitePath(request.path) + QueryString(rest));
      return httplib::Server::HandlerResponse::Handled;
    }
    if (absl::Status s = auth->Check(Authorization(request), Role::kRead); !s.ok()) {
      if (s.code() == absl::StatusCode::kUnauthenticated) {
        response.set_header("WWW-Authenticate", "Bearer");
      }
      const std::string hint =
          s.code() == absl::StatusCode::kUnauthenticated
              ? " (send 'Authorization: Bearer TOKEN', or open any page once with ?token=TOKEN)"
              : "";
      SendHtml(ErrorPage(HttpCode(s), absl::StrCat(s.message(), hint),
                         absl::StartsWith(request.path, "/api/")),
               response);
      return httplib::Server::HandlerResponse::Handled;
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });
  // Unknown paths, and anything httplib itself refuses, as pages.
  http.set_error_handler(httplib::Server::HandlerWithResponse([](const httplib::Request& request,
                                                                 httplib::Response& response) {
    if (!response.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
    const std::string message =
        response.status == 404 ? absl::StrCat("no page at '", request.path, "'")
                               : absl::StrCat("the request was refused (", response.status, ")");
    SendHtml(ErrorPage(response.status, message, false), response);
    return httplib::Server::HandlerResponse::Handled;
  }));

  http.Get("/", Serve([pages](const auto& r) { return pages->Sweeps(r); }, false));
  http.Get(R"(/sweeps/([^/]+))",
           Serve([pages](const auto& r) { return pages->Sweep(r, r.matches[1]); }, false));
  http.Get(R"(/sweeps/([^/]+)/curves)",
           Serve([pages](const auto& r) { return pages->Curves(r, r.matches[1]); }, false));
  http.Get(R"(/sweeps/([^/]+)/compare)",
           Serve([pages](const auto& r) { return pages->Compare(r, {r.matches[1]}); }, false));
  http.Get("/compare", Serve([pages](const auto& r) { return pages->Compare(r, {}); }, false));
  http.Get(R"(/jobs/([^/]+))",
           Serve([pages](const auto& r) { return pages->Job(r, r.matches[1]); }, false));
  http.Get("/scatter", Serve([pages](const auto& r) { return pages->Scatter(r); }, false));
  http.Get(R"(/api/sweeps/([^/]+)/jobs)",
           Serve([pages](const auto& r) { return pages->SweepJobsJson(r, r.matches[1]); }, true));
  http.Get("/api/query", Serve([pages](const auto& r) { return pages->QueryJson(r); }, true));
  http.Get(R"(/static/([A-Za-z0-9_.-]+))",
           [](const httplib::Request& request, httplib::Response& response) {
             const std::string name = request.matches[1];
             const embedded::EmbeddedFile* file = FindAsset(name);
             const char* type = absl::EndsWith(name, ".js")    ? "text/javascript; charset=utf-8"
                                : absl::EndsWith(name, ".css") ? "text/css; charset=utf-8"
                                                               : nullptr;
             if (file == nullptr || type == nullptr) {
               SendHtml(ErrorPage(404, absl::StrCat("no asset '", name, "'"), false), response);
               return;
             }
             response.set_content(reinterpret_cast<const char*>(file->data), file->size, type);
           });
}

}  // namespace

std::string HtmlEscape(absl::string_view text) { return report::EscapeXml(text); }

absl::Status CheckDashboardExposure(const std::string& listen, bool has_auth, bool insecure) {
  if (IsLoopbackHost(HostOfListen(listen)) || has_auth || insecure) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat(
      "refusing to serve the dashboard on non-loopback address '", listen,
      "' without authentication: give --auth_tokens FILE (or --insecure to let anyone who can "
      "reach the port read every result)"));
}

absl::StatusOr<std::unique_ptr<Dashboard>> Dashboard::Start(const DashboardOptions& options,
                                                            storage::StoreReader* store,
                                                            const spec::Catalog* catalog,
                                                            const Authenticator* auth) {
  if (absl::Status s = CheckDashboardExposure(options.listen, auth != nullptr, options.insecure);
      !s.ok()) {
    return s;
  }
  HttpServerOptions http;
  http.flag = "http_listen";
  http.listen = options.listen;
  http.tls_cert_path = options.tls_cert_path;
  http.tls_key_path = options.tls_key_path;
  http.tls_client_ca_path = options.tls_client_ca_path;
  http.threads = options.threads;
  const bool tls = !options.tls_cert_path.empty();
  const bool check_host = auth == nullptr && IsLoopbackHost(HostOfListen(options.listen));
  std::unique_ptr<Dashboard> dashboard(new Dashboard());
  dashboard->pages_ = std::make_unique<DashboardPages>(store, catalog);
  DashboardPages* pages = dashboard->pages_.get();
  auto server = HttpServer::Start(http, [pages, auth, tls, check_host](httplib::Server& server) {
    AddRoutes(server, pages, auth, tls, check_host);
  });
  if (!server.ok()) return server.status();
  dashboard->http_ = *std::move(server);
  return dashboard;
}

Dashboard::~Dashboard() = default;

}  // namespace optbench::server
