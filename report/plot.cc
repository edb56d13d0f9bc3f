#include "report/plot.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "report/format.h"

namespace optbench::report {
namespace {

// Layout in pixels. A cell holds one panel: its title above the plot box, tick labels left of
// and below it.
constexpr int kCellWidth = 300;
constexpr int kCellHeight = 250;
constexpr int kLegendWidth = 170;
constexpr int kAxisCaption = 24;  // left of the grid (y caption) and below it (x caption)
constexpr int kBoxLeft = 52;      // room for y tick labels
constexpr int kBoxRight = 14;
constexpr int kBoxTop = 26;     // room for the panel title
constexpr int kBoxBottom = 24;  // room for x tick labels
constexpr int kMinBox = 40;
constexpr int kMinSize = 200;
constexpr int kMaxSize = 20000;

std::string Xml(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

// Pixel coordinates: two decimals is below what a renderer resolves, and fixed so the output is
// byte-stable.
std::string Px(double v) { return absl::StrFormat("%.2f", v); }

std::string Label(double v) {
  if (std::abs(v) < 1e-12) v = 0;  // no "-0"
  return absl::StrFormat("%g", v);
}

// Matplotlib's viridis at nine evenly spaced points; dark for the most frequent group, and cut
// at 0.9 because its last yellows vanish on white.
std::string GroupColour(int group, int num_groups) {
  static constexpr std::array<std::array<int, 3>, 9> kViridis = {{{68, 1, 84},
                                                                  {72, 40, 120},
                                                                  {62, 73, 137},
                                                                  {49, 104, 142},
                                                                  {38, 130, 142},
                                                                  {31, 158, 137},
                                                                  {53, 183, 121},
                                                                  {110, 206, 88},
                                                                  {253, 231, 37}}};
  const double t = num_groups > 1 ? 0.9 * group / (num_groups - 1) : 0.0;
  const double x = t * (kViridis.size() - 1);
  const int i = std::min(static_cast<int>(x), static_cast<int>(kViridis.size()) - 2);
  const double f = x - i;
  int rgb[3];
  for (int c = 0; c < 3; ++c) {
    rgb[c] =
        static_cast<int>(std::lround(kViridis[i][c] + f * (kViridis[i + 1][c] - kViridis[i][c])));
  }
  return absl::StrFormat("#%02x%02x%02x", rgb[0], rgb[1], rgb[2]);
}

// Maps data to pixels along one axis: [lo, hi] (after log10 on a log axis) onto [p0, p1].
struct Axis {
  double lo = 0;
  double hi = 1;
  bool log = false;
  double p0 = 0;
  double p1 = 1;

  double T(double v) const { return log ? std::log10(v) : v; }
  double Map(double v) const { return p0 + (T(v) - T(lo)) / (T(hi) - T(lo)) * (p1 - p0); }
};

// 1, 2 or 5 times a power of ten, giving about `target` intervals over `span`.
double NiceStep(double span, int target) {
  const double raw = span / target;
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  const double norm = raw / mag;
  return (norm < 1.5 ? 1 : norm < 3 ? 2 : norm < 7 ? 5 : 10) * mag;
}

// Multiples of `step` inside [lo, hi], each computed as k * step so labels come out round.
std::vector<double> LinearTicks(double lo, double hi, double step) {
  std::vector<double> ticks;
  const double first = std::ceil(lo / step - 1e-9);
  const double last = std::floor(hi / step + 1e-9);
  for (double k = first; k <= last; k += 1) ticks.push_back(k * step);
  return ticks;
}

std::vector<double> Ticks(const Axis& axis, bool integer) {
  if (!axis.log) {
    double step = NiceStep(axis.hi - axis.lo, 5);
    if (integer) step = std::max(step, 1.0);
    return LinearTicks(axis.lo, axis.hi, step);
  }
  // Decades when the range spans two or more; otherwise 1, 2, 5 per decade; otherwise (a narrow
  // range) linear steps, still placed on the log scale.
  std::vector<double> ticks;
  for (double k = std::ceil(std::log10(axis.lo) - 1e-9);
       k <= std::floor(std::log10(axis.hi) + 1e-9); k += 1) {
    ticks.push_back(std::pow(10.0, k));
  }
  if (ticks.size() >= 2) return ticks;
  ticks.clear();
  for (double k = std::floor(std::log10(axis.lo)); k <= std::ceil(std::log10(axis.hi)); k += 1) {
    for (double m : {1.0, 2.0, 5.0}) {
      const double v = m * std::pow(10.0, k);
      if (v >= axis.lo * (1 - 1e-9) && v <= axis.hi * (1 + 1e-9)) ticks.push_back(v);
    }
  }
  if (ticks.size() >= 2) return ticks;
  return LinearTicks(axis.lo, axis.hi, NiceStep(axis.hi - axis.lo, 4));
}

bool Drawable(double v, bool log) { return std::isfinite(v) && (!log || v > 0); }

// A confidence band per panel, point and group: (low, high); empty when there are none.
using Bands = std::vector<std::vector<std::vector<std::pair<double, double>>>>;

// Group `g`'s band in one panel: a translucent <polygon> (the upper bounds left to right, then
// the lower ones back) per maximal run of points with a drawable interval; a run of one point is
// a vertical <line>. `band` is indexed as s.points().
void DrawBand(const v1::Series& s, const std::vector<std::vector<std::pair<double, double>>>& band,
              int g, const Axis& x, const Axis& y, const std::string& attributes,
              const std::string& colour, std::string* svg) {
  struct Corner {
    std::string x, high, low;  // Pixel coordinates.
  };
  std::vector<Corner> run;
  auto flush = [&] {
    if (run.size() == 1) {
      absl::StrAppend(svg, "<line data-band=\"1\" ", attributes, " x1=\"", run[0].x, "\" y1=\"",
                      run[0].high, "\" x2=\"", run[0].x, "\" y2=\"", run[0].low, "\" stroke=\"",
                      colour, "\" stroke-opacity=\"0.4\" stroke-width=\"3\"/>\n");
    } else if (run.size() > 1) {
      std::vector<std::string> corners;
      for (const Corner& c : run) corners.push_back(absl::StrCat(c.x, ",", c.high));
      for (auto it = run.rbegin(); it != run.rend(); ++it) {
        corners.push_back(absl::StrCat(it->x, ",", it->low));
      }
      absl::StrAppend(svg, "<polygon data-band=\"1\" ", attributes, " fill=\"", colour,
                      "\" fill-opacity=\"0.18\" stroke=\"none\" points=\"",
                      absl::StrJoin(corners, " "), "\"/>\n");
    }
    run.clear();
  };
  for (int i = 0; i < s.points_size(); ++i) {
    const size_t point = static_cast<size_t>(i);
    const size_t group = static_cast<size_t>(g);
    double low = NAN, high = NAN;
    if (point < band.size() && group < band[point].size()) {
      std::tie(low, high) = band[point][group];
    }
    if (!Drawable(low, y.log) || !Drawable(high, y.log)) {
      flush();
      continue;
    }
    run.push_back(
        {Px(x.Map(static_cast<double>(s.points(i).step()))), Px(y.Map(high)), Px(y.Map(low))});
  }
  flush();
}

// A figure's width and height: 0 (automatic) or kMinSize..kMaxSize; InvalidArgument naming it.
absl::Status CheckFigureSize(int width, int height) {
  for (const auto& [name, value] : {std::pair{"width", width}, std::pair{"height", height}}) {
    if (value != 0 && (value < kMinSize || value > kMaxSize)) {
      return absl::InvalidArgumentError(absl::StrCat(name, ": ", value,
                                                     " is out of range; allowed ", kMinSize, "..",
                                                     kMaxSize, " (or 0: automatic)"));
    }
  }
  return absl::OkStatus();
}

// The <svg> element and its white background.
std::string SvgStart(int width, int height) {
  return absl::StrCat(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"", width, "\" height=\"", height,
      "\" viewBox=\"0 0 ", width, " ", height,
      "\" font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\" font-size=\"11\">\n",
      "<rect width=\"", width, "\" height=\"", height, "\" fill=\"white\"/>\n");
}

absl::StatusOr<std::string> Render(const v1::QueryMetricsResponse& response, const Bands& bands,
                                   const PlotOptions& options) {
  if (absl::Status s = CheckFigureSize(options.width, options.height); !s.ok()) return s;
  if (options.columns < 0 || options.columns > 100) {
    return absl::InvalidArgumentError(
        absl::StrCat("columns: ", options.columns, " is out of range; allowed 0..100"));
  }
  if (options.reference_y.has_value() &&
      (!std::isfinite(*options.reference_y) || (options.log_y && *options.reference_y <= 0))) {
    return absl::InvalidArgumentError(absl::StrCat("reference line: ", Label(*options.reference_y),
                                                   " cannot be drawn on a ",
                                                   options.log_y ? "log" : "linear", " axis"));
  }

  // Shared ranges over every panel.
  const bool log = options.log_y;
  int num_groups = 0;
  double x_lo = INFINITY, x_hi = -INFINITY, y_lo = INFINITY, y_hi = -INFINITY;
  for (const v1::Series& s : response.series()) {
    num_groups = std::max(num_groups, s.groups_size());
    for (const v1::SeriesPoint& p : s.points()) {
      x_lo = std::min(x_lo, static_cast<double>(p.step()));
      x_hi = std::max(x_hi, static_cast<double>(p.step()));
      for (double v : p.values()) {
        if (!Drawable(v, log)) continue;
        y_lo = std::min(y_lo, v);
        y_hi = std::max(y_hi, v);
      }
    }
  }
  for (const auto& panel : bands) {
    for (const auto& point : panel) {
      for (const auto& [low, high] : point) {
        if (!Drawable(low, log) || !Drawable(high, log)) continue;
        y_lo = std::min(y_lo, low);
        y_hi = std::max(y_hi, high);
      }
    }
  }
  const std::string what =
      response.series_size() > 0
          ? absl::StrCat(response.series(0).split() == v1::SPLIT_TEST ? "test " : "train ",
                         response.series(0).metric())
          : std::string("values");
  if (y_lo > y_hi) {
    return absl::FailedPreconditionError(
        absl::StrCat("nothing to plot: no ", log ? "positive " : "finite ", what, " in ",
                     response.series_size(), " series (no evaluation in the selected steps yet?",
                     log ? " or try a linear axis" : "", ")"));
  }
  if (options.reference_y.has_value()) {
    y_lo = std::min(y_lo, *options.reference_y);
    y_hi = std::max(y_hi, *options.reference_y);
  }
  if (y_lo == y_hi) {
    // One value: centre it in a range it can be read against.
    if (log) {
      y_lo /= std::sqrt(10.0);
      y_hi *= std::sqrt(10.0);
    } else {
      const double pad = y_lo == 0 ? 0.5 : std::abs(y_lo) * 0.1;
      y_lo -= pad;
      y_hi += pad;
    }
  }
  if (x_lo == x_hi) {
    x_lo -= 1;
    x_hi += 1;
  }
  num_groups = std::max(num_groups, 1);

  // Layout.
  const int panels = std::max(1, response.series_size());
  const int columns = options.columns > 0 ? std::min(options.columns, panels) : std::min(panels, 3);
  const int rows = (panels + columns - 1) / columns;
  const int title_height = options.title.empty() ? 12 : 40;
  const int width =
      options.width > 0 ? options.width : kAxisCaption + columns * kCellWidth + kLegendWidth;
  // Automatic height also fits the legend (a line per group) beside a single row.
  const int legend_height = kBoxTop + 60 + 16 * num_groups;
  const int height =
      options.height > 0
          ? options.height
          : title_height + std::max(rows * kCellHeight, legend_height) + kAxisCaption;
  const double cell_w = static_cast<double>(width - kAxisCaption - kLegendWidth) / columns;
  const double cell_h = static_cast<double>(height - title_height - kAxisCaption) / rows;
  if (cell_w - kBoxLeft - kBoxRight < kMinBox) {
    return absl::InvalidArgumentError(absl::StrCat(
        "width: ", width, " is too small for ", columns, " columns of panels; needs at least ",
        kAxisCaption + kLegendWidth + columns * (kBoxLeft + kBoxRight + kMinBox)));
  }
  if (cell_h - kBoxTop - kBoxBottom < kMinBox) {
    return absl::InvalidArgumentError(absl::StrCat(
        "height: ", height, " is too small for ", rows, " rows of panels; needs at least ",
        title_height + kAxisCaption + rows * (kBoxTop + kBoxBottom + kMinBox)));
  }

  std::string svg = SvgStart(width, height);
  if (!options.title.empty()) {
    absl::StrAppend(
        &svg, "<text x=\"", Px(kAxisCaption + (width - kAxisCaption - kLegendWidth) / 2.0),
        "\" y=\"26\" text-anchor=\"middle\" font-size=\"15\">", Xml(options.title), "</text>\n");
  }
  // Axis captions, once for the whole grid since the axes are shared.
  const double grid_mid_y = title_height + rows * cell_h / 2;
  absl::StrAppend(&svg, "<text transform=\"translate(14,", Px(grid_mid_y),
                  ") rotate(-90)\" text-anchor=\"middle\" font-size=\"12\">", Xml(what),
                  log ? " (log scale)" : "", "</text>\n");
  absl::StrAppend(&svg, "<text x=\"", Px(kAxisCaption + columns * cell_w / 2), "\" y=\"",
                  Px(height - 8), "\" text-anchor=\"middle\" font-size=\"12\">step</text>\n");

  for (int panel = 0; panel < panels; ++panel) {
    const double cx = kAxisCaption + (panel % columns) * cell_w;
    const double cy = title_height + (panel / columns) * cell_h;
    const double left = cx + kBoxLeft, right = cx + cell_w - kBoxRight;
    const double top = cy + kBoxTop, bottom = cy + cell_h - kBoxBottom;
    const Axis x{x_lo, x_hi, false, left, right};
    const Axis y{y_lo, y_hi, log, bottom, top};

    absl::StrAppend(&svg, "<g>\n");
    for (double t : Ticks(y, false)) {
      const std::string py = Px(y.Map(t));
      absl::StrAppend(&svg, "<line x1=\"", Px(left), "\" y1=\"", py, "\" x2=\"", Px(right),
                      "\" y2=\"", py, "\" stroke=\"#e4e4e4\"/>\n<text x=\"", Px(left - 4),
                      "\" y=\"", py, "\" dy=\"0.32em\" text-anchor=\"end\" fill=\"#444\">",
                      Label(t), "</text>\n");
    }
    for (double t : Ticks(x, true)) {
      const std::string px = Px(x.Map(t));
      absl::StrAppend(&svg, "<line x1=\"", px, "\" y1=\"", Px(top), "\" x2=\"", px, "\" y2=\"",
                      Px(bottom), "\" stroke=\"#e4e4e4\"/>\n<text x=\"", px, "\" y=\"",
                      Px(bottom + 14), "\" text-anchor=\"middle\" fill=\"#444\">", Label(t),
                      "</text>\n");
    }
    absl::StrAppend(&svg, "<rect data-box=\"", panel, "\" x=\"", Px(left), "\" y=\"", Px(top),
                    "\" width=\"", Px(right - left), "\" height=\"", Px(bottom - top),
                    "\" fill=\"none\" stroke=\"#555\"/>\n");
    if (panel >= response.series_size()) {
      absl::StrAppend(&svg, "</g>\n");
      continue;
    }
    const v1::Series& s = response.series(panel);
    absl::StrAppend(&svg, "<text x=\"", Px((left + right) / 2), "\" y=\"", Px(top - 8),
                    "\" text-anchor=\"middle\" font-size=\"12\">", Xml(JobTitle(s.job())),
                    "</text>\n");
    if (options.reference_y.has_value()) {
      const std::string py = Px(y.Map(*options.reference_y));
      absl::StrAppend(&svg, "<line data-reference=\"", panel, "\" x1=\"", Px(left), "\" y1=\"", py,
                      "\" x2=\"", Px(right), "\" y2=\"", py,
                      "\" stroke=\"#777\" stroke-dasharray=\"6,4\"/>\n");
    }
    if (s.points_size() == 0) {
      absl::StrAppend(&svg, "<text x=\"", Px((left + right) / 2), "\" y=\"", Px((top + bottom) / 2),
                      "\" text-anchor=\"middle\" fill=\"#888\">no data</text>\n");
    }
    for (int g = 0; g < s.groups_size(); ++g) {
      const std::string attributes =
          absl::StrCat("data-panel=\"", panel, "\" data-group=\"", g, "\"");
      const std::string colour = GroupColour(g, num_groups);
      if (static_cast<size_t>(panel) < bands.size()) {
        DrawBand(s, bands[static_cast<size_t>(panel)], g, x, y, attributes, colour, &svg);
      }
      std::vector<std::string> run;
      auto flush = [&] {
        if (run.size() == 1) {
          const size_t comma = run[0].find(',');
          absl::StrAppend(&svg, "<circle ", attributes, " cx=\"", run[0].substr(0, comma),
                          "\" cy=\"", run[0].substr(comma + 1), "\" r=\"1.8\" fill=\"", colour,
                          "\"/>\n");
        } else if (run.size() > 1) {
          absl::StrAppend(&svg, "<polyline ", attributes, " fill=\"none\" stroke=\"", colour,
                          "\" stroke-width=\"1.6\" stroke-linejoin=\"round\" points=\"",
                          absl::StrJoin(run, " "), "\"/>\n");
        }
        run.clear();
      };
      for (const v1::SeriesPoint& p : s.points()) {
        const double v = g < p.values_size() ? p.values(g) : NAN;
        if (!Drawable(v, log)) {
          flush();
          continue;
        }
        run.push_back(absl::StrCat(Px(x.Map(static_cast<double>(p.step()))), ",", Px(y.Map(v))));
      }
      flush();
    }
    absl::StrAppend(&svg, "</g>\n");
  }

  // Legend: a swatch per group, with its class count when every panel's grouping agrees.
  bool same_groups = true;
  const v1::Series* first = nullptr;
  for (const v1::Series& s : response.series()) {
    if (s.groups_size() == 0) continue;
    if (first == nullptr) first = &s;
    if (s.groups_size() != first->groups_size()) same_groups = false;
    for (int g = 0; same_groups && g < s.groups_size(); ++g) {
      same_groups = s.groups(g).num_classes() == first->groups(g).num_classes();
    }
  }
  const double lx = width - kLegendWidth + 12;
  double ly = title_height + kBoxTop;
  absl::StrAppend(&svg, "<g font-size=\"11\">\n<text x=\"", Px(lx), "\" y=\"", Px(ly),
                  "\" font-size=\"12\">", num_groups > 1 ? "frequency group" : "group",
                  "</text>\n");
  ly += 16;
  if (num_groups > 1) {
    absl::StrAppend(&svg, "<text x=\"", Px(lx), "\" y=\"", Px(ly),
                    "\" fill=\"#666\">1 = most frequent</text>\n");
    ly += 18;
  }
  for (int g = 0; g < num_groups; ++g) {
    std::string label = absl::StrCat(g + 1);
    if (same_groups && first != nullptr && g < first->groups_size()) {
      const int64_t n = first->groups(g).num_classes();
      absl::StrAppend(&label, "  (", n, n == 1 ? " class)" : " classes)");
    }
    absl::StrAppend(&svg, "<line x1=\"", Px(lx), "\" y1=\"", Px(ly - 4), "\" x2=\"", Px(lx + 22),
                    "\" y2=\"", Px(ly - 4), "\" stroke=\"", GroupColour(g, num_groups),
                    "\" stroke-width=\"3\"/>\n<text x=\"", Px(lx + 28), "\" y=\"", Px(ly), "\">",
                    Xml(label), "</text>\n");
    ly += 16;
  }
  if (options.reference_y.has_value()) {
    ly += 4;
    absl::StrAppend(&svg, "<line x1=\"", Px(lx), "\" y1=\"", Px(ly - 4), "\" x2=\"", Px(lx + 22),
                    "\" y2=\"", Px(ly - 4),
                    "\" stroke=\"#777\" stroke-dasharray=\"6,4\"/>\n<text x=\"", Px(lx + 28),
                    "\" y=\"", Px(ly), "\">", Xml(options.reference_label), " = ",
                    Label(*options.reference_y), "</text>\n");
  }
  absl::StrAppend(&svg, "</g>\n</svg>\n");
  return svg;
}

}  // namespace

absl::StatusOr<std::string> QueryToSvg(const v1::QueryMetricsResponse& response,
                                       const PlotOptions& options) {
  return Render(response, {}, options);
}

absl::StatusOr<std::string> AggregatesToSvg(const v1::QueryMetricsResponse& response,
                                            const PlotOptions& options) {
  v1::QueryMetricsResponse means;
  Bands bands;
  for (const v1::AggregateSeries& a : response.aggregates()) {
    v1::Series* s = means.add_series();
    s->mutable_job()->set_id("all seeds");
    *s->mutable_job()->mutable_labels() = a.labels();
    s->set_metric(a.metric());
    s->set_split(a.split());
    *s->mutable_groups() = a.groups();
    auto& panel = bands.emplace_back();
    for (const v1::AggregatePoint& p : a.points()) {
      v1::SeriesPoint* point = s->add_points();
      point->set_step(p.step());
      auto& at = panel.emplace_back();
      for (const v1::AggregateValue& v : p.values()) {
        point->add_values(v.mean());
        at.emplace_back(v.ci_low(), v.ci_high());
      }
    }
  }
  return Render(means, bands, options);
}

absl::StatusOr<std::string> ProfileToSvg(const ProfileResult& result,
                                         const ProfilePlotOptions& options) {
  if (!std::isfinite(options.tau_max) || options.tau_max <= 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("tau-max: ", Label(options.tau_max), " must be a finite number > 1"));
  }
  if (absl::Status s = CheckFigureSize(options.width, options.height); !s.ok()) return s;
  if (result.curves.empty()) {
    return absl::FailedPreconditionError("nothing to plot: no optimizer in the profile");
  }
  // Tableau's ten categorical colours (matplotlib's default cycle): optimizers are not ordered.
  static constexpr std::array<const char*, 10> kColours = {
      "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
      "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};
  const int width = options.width > 0 ? options.width : 560;
  const int height = options.height > 0 ? options.height : 360;
  const int title_height = options.title.empty() ? 12 : 40;
  const double left = kAxisCaption + kBoxLeft, right = width - kLegendWidth - kBoxRight;
  const double top = title_height + 8, bottom = height - kAxisCaption - kBoxBottom;
  if (right - left < kMinBox || bottom - top < kMinBox) {
    return absl::InvalidArgumentError(
        absl::StrCat("size: ", width, " x ", height, " is too small for the profile"));
  }
  const Axis x{1, options.tau_max, true, left, right};
  const Axis y{0, 1, false, bottom, top};

  std::string svg = SvgStart(width, height);
  if (!options.title.empty()) {
    absl::StrAppend(&svg, "<text x=\"", Px((left + right) / 2),
                    "\" y=\"26\" text-anchor=\"middle\" font-size=\"15\">", Xml(options.title),
                    "</text>\n");
  }
  absl::StrAppend(&svg, "<text transform=\"translate(14,", Px((top + bottom) / 2),
                  ") rotate(-90)\" text-anchor=\"middle\" font-size=\"12\">fraction of "
                  "workloads</text>\n<text x=\"",
                  Px((left + right) / 2), "\" y=\"", Px(height - 8),
                  "\" text-anchor=\"middle\" font-size=\"12\">tau: time / best time (log "
                  "scale)</text>\n");
  for (double t : Ticks(y, false)) {
    const std::string py = Px(y.Map(t));
    absl::StrAppend(&svg, "<line x1=\"", Px(left), "\" y1=\"", py, "\" x2=\"", Px(right),
                    "\" y2=\"", py, "\" stroke=\"#e4e4e4\"/>\n<text x=\"", Px(left - 4), "\" y=\"",
                    py, "\" dy=\"0.32em\" text-anchor=\"end\" fill=\"#444\">", Label(t),
                    "</text>\n");
  }
  // Ratios read as factors: ticks at powers of two (of ten on a long axis), and at tau_max.
  std::vector<double> x_ticks;
  const double factor = options.tau_max <= 64 ? 2 : 10;
  for (double t = 1; t < options.tau_max * (1 - 1e-9); t *= factor) x_ticks.push_back(t);
  x_ticks.push_back(options.tau_max);
  for (double t : x_ticks) {
    const std::string px = Px(x.Map(t));
    absl::StrAppend(&svg, "<line x1=\"", px, "\" y1=\"", Px(top), "\" x2=\"", px, "\" y2=\"",
                    Px(bottom), "\" stroke=\"#e4e4e4\"/>\n<text x=\"", px, "\" y=\"",
                    Px(bottom + 14), "\" text-anchor=\"middle\" fill=\"#444\">", Label(t),
                    "</text>\n");
  }
  absl::StrAppend(&svg, "<rect data-box=\"0\" x=\"", Px(left), "\" y=\"", Px(top), "\" width=\"",
                  Px(right - left), "\" height=\"", Px(bottom - top),
                  "\" fill=\"none\" stroke=\"#555\"/>\n");
  const double lx = width - kLegendWidth + 12;
  double ly = top + 12;
  std::string legend = absl::StrCat("<g font-size=\"11\">\n<text x=\"", Px(lx), "\" y=\"", Px(ly),
                                    "\" font-size=\"12\">optimizer</text>\n");
  ly += 18;
  for (size_t i = 0; i < result.curves.size(); ++i) {
    const ProfileCurve& c = result.curves[i];
    const std::string colour = kColours[i % kColours.size()];
    // Horizontal at the current fraction, then up at each breakpoint inside the axis.
    double rho = Rho(c, 1);
    std::vector<std::string> points = {absl::StrCat(Px(x.Map(1)), ",", Px(y.Map(rho)))};
    for (const auto& [tau, fraction] : c.breakpoints) {
      if (tau <= 1 || tau > options.tau_max) continue;
      points.push_back(absl::StrCat(Px(x.Map(tau)), ",", Px(y.Map(rho))));
      rho = fraction;
      points.push_back(absl::StrCat(Px(x.Map(tau)), ",", Px(y.Map(rho))));
    }
    points.push_back(absl::StrCat(Px(x.Map(options.tau_max)), ",", Px(y.Map(rho))));
    absl::StrAppend(&svg, "<polyline data-optimizer=\"", i, "\" fill=\"none\" stroke=\"", colour,
                    "\" stroke-width=\"2\" stroke-linejoin=\"miter\" points=\"",
                    absl::StrJoin(points, " "), "\"/>\n");
    absl::StrAppend(&legend, "<line x1=\"", Px(lx), "\" y1=\"", Px(ly - 4), "\" x2=\"", Px(lx + 22),
                    "\" y2=\"", Px(ly - 4), "\" stroke=\"", colour,
                    "\" stroke-width=\"3\"/>\n<text x=\"", Px(lx + 28), "\" y=\"", Px(ly), "\">",
                    Xml(c.optimizer), "</text>\n");
    ly += 16;
  }
  absl::StrAppend(&svg, legend, "</g>\n</svg>\n");
  return svg;
}

}  // namespace optbench::report
